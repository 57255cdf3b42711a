"""Requesting, dispatching, retrying and cancelling operations.

Every interface (admin, API, schedules) asks for work through ``operation_request``: the
Operation row is written in the caller's transaction and the Celery task is sent only after
commit. The broker is a wake-up call; the sweeper re-sends anything it may have lost.
"""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import selectors
from ..followups import retry_refusal
from ..models import Account, Connection, Operation
from ..providers import registry
from ..providers.inputs import InputErrors
from ..states import (
    OPERATION_SPECS,
    UNFINISHED_OPERATION_STATUSES,
    AccountStatus,
    OperationKind,
    OperationStatus,
)
from . import slots
from .errors import Conflict, InvalidRequest
from .messages import execute_messages_send

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requester:
    """Who asked: ``label`` is shown in lists ("admin:alice", "api:ops-bot", "schedule")."""

    label: str
    user: object | None = None

    @classmethod
    def for_user(cls, user, via: str) -> Requester:
        return cls(f"{via}:{user.get_username()}", user)


SCHEDULE = Requester("schedule")


def operation_request(
    *,
    kind: str,
    requested_by: Requester,
    account: Account | None = None,
    connection: Connection | None = None,
    input: dict | None = None,
    batch=None,
) -> Operation:
    """Check that ``kind`` may run now and record it as a queued Operation (dispatched on commit).

    ``input`` is checked against what the provider declares for ``kind`` (``InvalidRequest``
    with its field errors otherwise); its secret values (codes, answers, tokens) are kept
    encrypted, apart from the rest. Raises ``Conflict`` when the provider lacks the operation,
    the account's state forbids it, another operation is unfinished, the connection is disabled
    or its quota is full.
    """
    spec = OPERATION_SPECS.get(kind)
    if spec is None:
        raise InvalidRequest(f"Unknown operation '{kind}'.")
    if spec.on_account and account is None:
        raise InvalidRequest(f"'{kind}' needs an account.")
    connection = account.connection if account is not None else connection
    if connection is None:
        raise InvalidRequest(f"'{kind}' needs a connection.")
    provider, plain_input, secret_input = operation_check(kind=kind, connection=connection, input=input)

    with transaction.atomic():
        hold_reason, needs_confirmation = "", False
        if kind == OperationKind.DEPROVISION:
            from .guards import deprovision_guard

            # counted under the connection's row lock: concurrent requests cannot both slip under
            locked = Connection.objects.select_for_update().get(pk=connection.pk)
            confirmation = deprovision_guard(locked)
            if confirmation:
                hold_reason, needs_confirmation = confirmation, True
        if not hold_reason:
            hold_reason = operation_hold_reason(kind=kind, connection=connection)
        if account is not None:
            account = Account.objects.select_for_update().get(pk=account.pk)
            refused = _refused(spec, provider, account.status)  # the state read under the row lock
            if refused is not None:
                raise refused
            if account.operations.filter(status__in=UNFINISHED_OPERATION_STATUSES).exists():
                raise Conflict("Another operation on this account is not finished yet.", code="busy")
            if kind == OperationKind.PROVISION:
                _check_member(provider, account)
                _check_quota(account)
                if not account.external_id:
                    account.external_id = provider(connection).external_id_for(account)
                    account.save(update_fields=["external_id", "updated_at"])
        operation = operation_new(
            kind=kind, account=account, connection=connection, batch=batch, input=(plain_input, secret_input),
            requested_by=requested_by, hold_reason=hold_reason, needs_confirmation=needs_confirmation,
        )
        try:
            with transaction.atomic():
                operation.save(force_insert=True)
        except IntegrityError:
            raise Conflict("Another operation on this account is not finished yet.", code="busy")
        if not hold_reason:
            operation_dispatch(operation=operation)
    logger.info(
        "operation requested id=%s kind=%s by=%s%s", operation.pk, kind, requested_by.label,
        f" held: {hold_reason}" if hold_reason else "",
    )
    return operation


def operation_check(*, kind: str, connection: Connection, input: dict | None = None) -> tuple:
    """What ``kind`` at ``connection`` needs whatever the account: the provider supports it, the
    connection is enabled (a health check runs anyway), ``input`` is valid. Returns
    ``(provider class, input, secret input)``; ``Conflict`` or ``InvalidRequest`` otherwise."""
    spec = OPERATION_SPECS[kind]
    try:
        provider = registry.get(connection.provider)
    except registry.UnknownProvider as exc:
        raise Conflict(str(exc), code="provider_unavailable")
    refused = _refused(spec, provider)
    if refused is not None:
        raise refused
    if not connection.enabled and kind != OperationKind.HEALTH_CHECK and spec.calls_provider:
        raise Conflict(f"The connection '{connection}' is disabled.", code="connection_disabled")
    try:
        plain_input, secret_input = provider.clean_input(kind, input or {})
    except InputErrors as exc:
        raise InvalidRequest("The operation's input is not valid.", field_errors=exc.errors) from None
    return provider, plain_input, secret_input


def operation_refusal(*, kind: str, account: Account | None = None, connection: Connection | None = None) -> str:
    """Why ``kind`` cannot be asked on ``account`` (or at ``connection``) as it is, in the words
    ``operation_request`` refuses it with; "" when it can be asked. The one rule of which
    operations the admin offers: a request may still be refused for what only it checks, under
    locks (another operation unfinished, a full quota, a disabled connection)."""
    spec = OPERATION_SPECS[kind]
    if spec.on_account != (account is not None):  # a link to the other kind of object's page
        of, not_of = ("an account", "a connection") if spec.on_account else ("a connection", "an account")
        return f"{spec.label} is asked of {of}, not of {not_of}."
    connection = account.connection if account is not None else connection
    try:
        provider = registry.get(connection.provider)
    except registry.UnknownProvider as exc:
        return str(exc)
    refused = _refused(spec, provider, account.status if account is not None else None)
    return refused.message if refused is not None else ""


def operations_offered(*, account: Account | None = None, connection: Connection | None = None) -> list:
    """The ``OperationSpec`` of every operation ``account`` (or ``connection``) offers now: those
    ``operation_refusal`` does not refuse (the admin's buttons, pages and bulk actions)."""
    return [spec for spec in OPERATION_SPECS.values()
            if not operation_refusal(kind=spec.kind, account=account, connection=connection)]


def _refused(spec, provider, status: str | None = None) -> Conflict | None:
    """The rule ``operation_refusal`` words and ``operation_request`` enforces: the provider offers
    the operation, and an account in ``status`` (if one) may start it."""
    if not provider.supports(spec.kind):
        return Conflict(f"{provider.label} does not support '{spec.label}'.", code="not_supported")
    if status is not None and status not in spec.allowed_from:
        allowed = " or ".join(each.label.lower() for each in AccountStatus if each in spec.allowed_from)
        return Conflict(f"{spec.label} is not possible for an account that is {AccountStatus(status).label.lower()}: "
                        f"only for one that is {allowed}.", code="invalid_state")
    return None


def operation_hold_reason(*, kind: str, connection: Connection) -> str:
    """Why a new operation of ``kind`` at ``connection`` is held rather than queued ("": queued):
    what the connection's quarantine holds (``quarantine.holds``)."""
    from .quarantine import QUARANTINE_HOLD_REASON, holds

    if holds(kind) and Connection.objects.filter(
        pk=connection.pk, quarantined_since__isnull=False
    ).exists():
        return QUARANTINE_HOLD_REASON
    return ""


def operation_new(
    *, kind: str, account, connection: Connection, batch, input: tuple[dict, dict], requested_by: Requester,
    hold_reason: str = "", needs_confirmation: bool = False,
) -> Operation:
    """The Operation row a request writes (not saved yet), queued or held; ``input`` is
    ``(input, secret input)`` as ``operation_check`` returns them. A queued one is marked
    dispatched now: the caller dispatches it once its transaction commits."""
    now = timezone.now()
    plain_input, secret_input = input
    return Operation(
        kind=kind,
        account=account,
        connection=connection,
        batch=batch,
        input=plain_input,
        secret_input=secret_input,
        max_attempts=settings.PROVISIONING["MAX_ATTEMPTS"],
        requested_by=requested_by.label,
        requested_by_user=requested_by.user,
        status=OperationStatus.HELD if hold_reason else OperationStatus.QUEUED,
        hold_reason=hold_reason,
        held_since=now if hold_reason else None,
        needs_confirmation=needs_confirmation,
        dispatched_at=None if hold_reason else now,
    )


def _check_member(provider, account: Account) -> None:
    """A member the provider cannot register as they are is refused now, not failed later (not
    about a field of this request: a retry names no member; ``account_create`` puts it on its
    ``member``)."""
    missing = provider.member_missing(account.member)
    if missing:
        raise InvalidRequest(missing, code="member_incomplete")


def _check_quota(account: Account) -> None:
    limit = account.connection.max_accounts
    if limit is None:
        return
    if selectors.connection_quota_used(account.connection, excluding=account) >= limit:
        raise Conflict(
            f"The connection '{account.connection}' is at its quota of {limit} accounts.",
            code="quota_exceeded",
        )


def operation_dispatch(*, operation: Operation, countdown: float = 0) -> None:
    """Send the Celery task for ``operation`` once the current transaction commits."""
    operation_id = operation.pk
    Operation.objects.filter(pk=operation_id).update(dispatched_at=timezone.now())

    def send():
        from .. import tasks

        try:
            tasks.operation_execute.apply_async(args=[operation_id], countdown=countdown or None)
        except Exception:  # the broker is only a wake-up call: the sweeper will send it again
            logger.warning("could not dispatch operation id=%s; the sweeper will retry", operation_id, exc_info=True)

    transaction.on_commit(send)


# operation ids per message of ``operations_dispatch``: a few messages for a batch of thousands
DISPATCH_CHUNK = 500


def operations_dispatch_on_commit(operation_ids) -> None:
    """Dispatch many queued operations (already marked ``dispatched_at``) once the current
    transaction commits: one ``operations_dispatch`` message per ``DISPATCH_CHUNK`` ids, which a
    worker turns into ``operations_execute`` messages of a few operations each. Sending thousands
    of messages costs the request about a millisecond each; this costs it a few. A message lost on the way
    (or a worker dying while it dispatches) leaves queued operations the sweeper sends again."""
    ids = array("q", operation_ids)
    if not ids:
        return

    def send():
        from .. import tasks

        try:
            with tasks.operation_execute.app.producer_or_acquire() as producer:
                for start in range(0, len(ids), DISPATCH_CHUNK):
                    tasks.operations_dispatch.apply_async(args=[ids[start:start + DISPATCH_CHUNK].tolist()],
                                                          producer=producer)
        except Exception:  # the broker is only a wake-up call: the sweeper will send them again
            logger.warning("could not dispatch %s operations; the sweeper will retry", len(ids), exc_info=True)

    transaction.on_commit(send)


def operations_dispatch(*, operation_ids: list[int]) -> None:
    """Send ``operations_execute`` messages for ``operation_ids`` now, in the groups
    ``slots.operations_send_now_or_wait`` cuts, through one broker connection, as one batch where
    the broker takes one (Redis: a pipeline, not a round trip and a new client per message); a
    worker runs this for ``operations_dispatch_on_commit``. Those beyond their capped
    connection's free slots wait for one instead (``slots``)."""
    execute_messages_send([(group, None) for group in slots.operations_send_now_or_wait(operation_ids)])


def operation_retry(*, operation: Operation, requested_by: Requester) -> Operation:
    """Retry ``operation``: a failed one is requested again as a new operation with the same
    input (returned); one waiting to retry or held is made due now (``operation_retry_now``)."""
    operation.refresh_from_db(fields=["status", "error_code"])
    if operation.status in (OperationStatus.WAITING_RETRY, OperationStatus.HELD):
        return operation_retry_now(operation=operation, requested_by=requested_by)
    if operation.status != OperationStatus.FAILED:
        raise Conflict(
            "Only a failed operation, one waiting to retry or a held one can be retried.", code="invalid_state"
        )
    refusal = retry_refusal(operation)
    if refusal is not None:  # the same input would be refused again (a wrong SMS code, captcha answer...)
        raise Conflict(refusal, code="retry_cannot_help")
    return operation_request(
        kind=operation.kind,
        account=operation.account,
        connection=operation.connection,
        input={**operation.input, **operation.secret_input},
        requested_by=requested_by,
    )


def operation_retry_now(*, operation: Operation, requested_by: Requester) -> Operation:
    """Send an operation waiting to retry, or held by its connection's quarantine, now.

    A held one goes through the quarantine as its probe: its success lifts the quarantine. One
    awaiting a person's confirmation is confirmed, not retried (``operation_confirm``).
    """
    now = timezone.now()
    with transaction.atomic():
        operation = Operation.objects.select_for_update().get(pk=operation.pk)
        if operation.status == OperationStatus.HELD and operation.needs_confirmation:
            raise Conflict(
                "This operation waits for a person's confirmation: confirm it instead.", code="needs_confirmation"
            )
        if operation.status == OperationStatus.HELD:
            if operation.retry_deadline is not None and operation.held_since is not None:
                operation.retry_deadline += now - operation.held_since
            operation.probe = Connection.objects.filter(
                pk=operation.connection_id, quarantined_since__isnull=False
            ).exists()
            operation.status = OperationStatus.QUEUED
            operation.held_since = None
            operation.hold_reason = ""
        elif operation.status != OperationStatus.WAITING_RETRY:
            raise Conflict("Only an operation waiting to retry or a held one can be retried now.", code="invalid_state")
        operation.next_attempt_at = now
        operation.save()
        operation_dispatch(operation=operation)
    logger.info("operation retry now id=%s by=%s", operation.pk, requested_by.label)
    return operation


def operation_confirm(*, operation: Operation, requested_by: Requester) -> Operation:
    """A person confirms an operation the mass-deletion guard held: it is queued (or, while its
    connection is quarantined, stays held for the quarantine only)."""
    from .quarantine import QUARANTINE_HOLD_REASON

    with transaction.atomic():
        operation = Operation.objects.select_for_update().get(pk=operation.pk)
        if not (operation.status == OperationStatus.HELD and operation.needs_confirmation):
            raise Conflict("Only an operation awaiting confirmation can be confirmed.", code="invalid_state")
        operation.needs_confirmation = False
        operation.confirmed_by = requested_by.label
        if Connection.objects.filter(pk=operation.connection_id, quarantined_since__isnull=False).exists():
            operation.hold_reason = QUARANTINE_HOLD_REASON
            operation.save()
        else:
            operation.status = OperationStatus.QUEUED
            operation.held_since = None
            operation.hold_reason = ""
            operation.next_attempt_at = None
            operation.save()
            operation_dispatch(operation=operation)
    logger.info("operation confirmed id=%s by=%s", operation.pk, requested_by.label)
    return operation


CANCELLABLE_STATUSES = (OperationStatus.QUEUED, OperationStatus.WAITING_RETRY, OperationStatus.HELD)


def operation_cancel(*, operation: Operation, requested_by: Requester) -> Operation:
    """Cancel an operation that is queued, waiting for its next attempt, or held."""
    from .execution import account_set_status

    with transaction.atomic():
        operation = Operation.objects.select_for_update().get(pk=operation.pk)
        if operation.status not in CANCELLABLE_STATUSES:
            raise Conflict(
                "Only a queued operation, one waiting to retry or a held one can be cancelled.",
                code="invalid_state",
            )
        operation.status = OperationStatus.CANCELLED
        operation.finished_at = timezone.now()
        operation.error_code = "cancelled"
        operation.error_message = f"Cancelled by {requested_by.label}."
        operation.error_retryable = False
        operation.needs_confirmation = False
        operation.held_since = None
        operation.save()
        account = None
        if operation.account_id and operation.prior_account_status:
            account = Account.objects.select_for_update().get(pk=operation.account_id)
            account_set_status(account, operation.prior_account_status)
            account.save()
        from .webhooks import operation_finished

        operation_finished(operation, account, before_status=account.status if account else None,
                           before_attention=account.attention if account else None)
    return operation
