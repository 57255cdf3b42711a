"""Running an operation in a worker: claim it, run the provider, apply what happened.

Delivery is at-least-once. ``operation_claim`` is an atomic compare-and-set under a row lock,
so a duplicate message, a redelivery or the sweeper never run an operation twice at once; a
lease bounds how long a vanished worker keeps it. Providers never write to the database:
they return an ``Outcome`` (or raise a ``ProviderError``) and this module applies it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from .. import selectors
from ..models import Account, Connection, ExternalCall, HealthStatus, Operation, RequestReservation
from ..providers import registry
from ..providers.base import UNSET, OperationContext, Outcome
from ..providers.exceptions import (
    ConfigurationError,
    Deferred,
    NeedsAttention,
    ProviderError,
    UnknownOutcome,
)
from ..providers.http import RecordedCall
from ..states import OPERATION_SPECS, OperationKind, OperationStatus, check_transition
from . import guards, quarantine, webhooks
from .operations import operation_dispatch

logger = logging.getLogger(__name__)

# the database is unreachable (a restart, a failover, a cut connection): not the operation's fault
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)

# how long an operation refused a slot (its connection at its concurrency cap) waits at most:
# it is normally woken earlier, when a running operation of the connection finishes
CONCURRENCY_WAIT_SECONDS = 2.0


def account_set_status(account: Account, status: str) -> None:
    """The one place that changes ``Account.status``; refuses illegal transitions."""
    check_transition(account.status, status)
    account.status = status


class DatabaseCallLog:
    """Stores each exchange as an ExternalCall and enforces the connection's limits.

    Limits are global across workers and machines because their slots are rows of the shared
    database (``RequestReservation``), taken under the connection's row lock in a short
    transaction *before* a request is sent; no transaction is open while it is on the wire. A
    request's slot is moved to when its answer came, so that a provider counting it on arrival
    (any moment in between) never sees more than the limit in its own window.
    """

    def __init__(self, operation: Operation):
        self.operation = operation
        self.attempt = operation.attempts  # as claimed (an outcome may change it in memory)
        self.requests_sent = 0
        self.calls: list[tuple[RecordedCall, object]] = []  # (exchange, when answered), not written yet
        self._request_slot: int | None = None
        self._slots: dict[str, int] = {}

    # --- the connection's requests per minute, and its pause ---------------------------------
    def before_request(self) -> None:
        now = timezone.now()
        if self.requests_sent == 0:  # the claim has just read the connection
            paused_until, limit = self.operation.connection.paused_until, self.operation.connection.requests_per_minute
        else:
            paused_until, limit = Connection.objects.filter(pk=self.operation.connection_id).values_list(
                "paused_until", "requests_per_minute"
            ).get()
        self._check_pause(paused_until, now)
        if limit:
            window = settings.PROVISIONING["RATE_LIMIT_WINDOW_SECONDS"]
            with transaction.atomic():
                paused_until, limit = self._lock_connection().values_list("paused_until", "requests_per_minute").get()
                self._check_pause(paused_until, now)
                wait = _budget_wait(self.operation.connection_id, RequestReservation.REQUEST, [(limit, window)], now)
                if limit and wait:
                    raise Deferred(
                        f"The portal's limit of {limit} requests per minute for this connection is reached.",
                        retry_after=wait + random.uniform(0, min(wait, 1.0)),  # not all back at once
                        code="local_rate_limit",
                    )
                if limit:
                    self._request_slot = self._take(RequestReservation.REQUEST, now)
        self.requests_sent += 1

    def _check_pause(self, paused_until, now) -> None:
        if paused_until and paused_until > now:
            raise Deferred(
                f"The provider asked the portal to wait: the connection is paused until "
                f"{timezone.localtime(paused_until):%H:%M:%S}.",
                retry_after=(paused_until - now).total_seconds() + random.uniform(0, 0.5),
                code="connection_paused",
            )

    def pause(self, seconds: float) -> None:
        seconds = min(float(seconds), settings.PROVISIONING["MAX_PAUSE_SECONDS"])
        until = timezone.now() + timedelta(seconds=seconds)
        # one UPDATE (atomic on its own): only ever lengthens a pause
        Connection.objects.filter(pk=self.operation.connection_id).filter(
            Q(paused_until__isnull=True) | Q(paused_until__lt=until)
        ).update(paused_until=until)
        logger.info("connection %s paused for %.1fs", self.operation.connection_id, seconds)

    # --- a provider's own budgets (e.g. captchas per client IP) --------------------------------
    def budget_wait(self, purpose: str, limits) -> float:
        return _budget_wait(self.operation.connection_id, purpose, limits, timezone.now())

    def reserve(self, purpose: str, limits) -> float:
        now = timezone.now()
        with transaction.atomic():
            self._lock_connection().values_list("pk").get()
            wait = _budget_wait(self.operation.connection_id, purpose, limits, now)
            if wait:
                return wait
            self._slots[purpose] = self._take(purpose, now)
        return 0.0

    def release(self, purpose: str) -> None:
        slot = self._slots.pop(purpose, None)
        if slot is not None:
            RequestReservation.objects.filter(pk=slot).delete()

    def _lock_connection(self):
        return Connection.objects.select_for_update().filter(pk=self.operation.connection_id)

    def _take(self, purpose: str, now) -> int:
        return RequestReservation.objects.create(
            connection_id=self.operation.connection_id, purpose=purpose, reserved_at=now, operation=self.operation
        ).pk

    # --- records ----------------------------------------------------------------------------
    def save_secret_state(self, state: dict) -> None:
        connection = Connection.objects.get(pk=self.operation.connection_id)
        connection.secret_state = state
        connection.save(update_fields=["secret_state", "updated_at"])

    def record(self, call: RecordedCall) -> None:
        """Keep the exchange for ``save_records``: it is written with the attempt's outcome, in
        the same transaction. A request slot moves to when the answer came at once."""
        self.calls.append((call, timezone.now()))
        if self._request_slot is not None:
            slot, self._request_slot = self._request_slot, None
            with_database_retries(
                lambda: RequestReservation.objects.filter(pk=slot).update(reserved_at=timezone.now()),
                what=f"moving a request slot of operation {self.operation.pk}",
            )

    def save_records(self) -> None:
        """Write the exchanges kept so far as ExternalCall rows (in the caller's transaction)."""
        ExternalCall.objects.bulk_create(
            ExternalCall(
                operation_id=self.operation.pk,
                connection_id=self.operation.connection_id,
                attempt=self.attempt,
                method=call.method,
                url=call.url,
                request_headers=call.request_headers,
                request_body=call.request_body,
                status_code=call.status_code,
                response_body=call.response_body,
                duration_ms=call.duration_ms,
                provider_request_id=call.provider_request_id,
                error=call.error,
                created_at=answered_at,
            )
            for call, answered_at in self.calls
        )


def _budget_wait(connection_id: int, purpose: str, limits, now) -> float:
    """Seconds until one more ``purpose`` slot fits all ``(count, within seconds)`` limits (0: now)."""
    longest = max(seconds for _, seconds in limits)
    taken = list(
        RequestReservation.objects.filter(
            connection_id=connection_id, purpose=purpose, reserved_at__gt=now - timedelta(seconds=longest)
        )
        .order_by("reserved_at")
        .values_list("reserved_at", flat=True)
    )
    wait = 0.0
    for limit, seconds in limits:
        inside = [when for when in taken if (now - when).total_seconds() < seconds]
        if len(inside) >= limit:
            frees_at = inside[len(inside) - limit]  # the slot the next one needs
            wait = max(wait, seconds - (now - frees_at).total_seconds(), 0.01)
    return wait


def with_database_retries(write, *, what: str):
    """``write()``, tried again while the database is unreachable, for up to half a lease.

    An answer a provider gave may exist nowhere else (SnapTrade shows a user secret once): losing
    it to a database restart of a second would leave the account for a person to repair. The
    worker still holds the operation's lease meanwhile, so nobody else runs it. Inside a
    transaction nothing can be retried: the error goes up.
    """
    deadline = time.monotonic() + settings.PROVISIONING["LEASE_SECONDS"] / 2
    delay = 0.1
    while True:
        try:
            return write()
        except DATABASE_UNAVAILABLE:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable while %s; trying again in %.1f s", what, delay)
            with contextlib.suppress(Exception):
                connection.close()  # the next query connects again
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _finish(operation: Operation, call_log: DatabaseCallLog, apply) -> None:
    """Apply what an attempt ended with and record its exchanges, in one transaction, through a
    database outage."""
    tries = 0
    attempts = call_log.attempt

    def write() -> None:
        nonlocal tries
        tries += 1
        if tries > 1:  # the failed try may have committed after all: only a running one is ours
            operation.refresh_from_db()
            if operation.status != OperationStatus.RUNNING or operation.attempts != attempts:
                return
        with transaction.atomic():
            call_log.save_records()
            apply()

    with_database_retries(write, what=f"finishing operation {operation.pk}")


class _NoSlot(Exception):
    """The operation's connection is at its concurrency cap: the claim is rolled back."""


def operation_claim(*, operation_id: int) -> Operation | None:
    """Take ``operation_id`` for this worker, or ``None`` when it is not ours to run now."""
    try:
        return _claim(operation_id)
    except _NoSlot:
        _operation_wait_for_slot(operation_id)
        return None


def _claim(operation_id: int) -> Operation | None:
    now = timezone.now()
    conf = settings.PROVISIONING
    with transaction.atomic():
        # one read brings everything the attempt needs; only the operation's row is locked
        operation = (
            Operation.objects.select_for_update(of=("self",))
            .select_related("connection", "account__member")
            .filter(pk=operation_id)
            .first()
        )
        if operation is None:
            return None
        connection = operation.connection
        lease_lost = operation.status == OperationStatus.RUNNING and (
            operation.lease_expires_at is None or operation.lease_expires_at <= now
        )
        due = operation.status in (OperationStatus.QUEUED, OperationStatus.WAITING_RETRY) and (
            operation.next_attempt_at is None or operation.next_attempt_at <= now
        )
        if not (due or lease_lost):
            return None  # held operations included: they wait for a probe, a lift or a person
        # max_attempts is only a crash-loop guard: a worker that keeps dying mid-operation (the
        # lease is lost each time) must not run it forever; transient errors end at the horizon
        past_horizon = operation.retry_deadline is not None and operation.retry_deadline <= now
        if lease_lost and (operation.attempts >= operation.max_attempts or past_horizon):
            _operation_fail(
                operation,
                ProviderError(
                    f"Gave up after {operation.attempts} attempts: the worker running it stopped.",
                    code="worker_lost",
                ),
            )
            return None
        if quarantine.is_held_back(operation, connection):
            for name, value in quarantine.hold_fields(now).items():
                setattr(operation, name, value)
            operation.save()
            return None
        operation.status = OperationStatus.RUNNING
        operation.attempts += 1
        operation.lease_expires_at = now + timedelta(seconds=conf["LEASE_SECONDS"])
        operation.started_at = operation.started_at or now
        if operation.retry_deadline is None:  # the horizon counts from the first attempt
            operation.retry_deadline = now + timedelta(hours=connection.retry_horizon_hours)
        spec = OPERATION_SPECS[operation.kind]
        if operation.account_id and spec.running_status:
            account = operation.account
            before = account.status
            if not _account_status_swap(account, spec.running_status, now):  # it changed meanwhile
                account = Account.objects.select_for_update().select_related("member").get(pk=operation.account_id)
                before = account.status
                if account.status != spec.running_status:
                    account_set_status(account, spec.running_status)
                    account.save(update_fields=["status", "updated_at"])
                operation.account = account
            operation.prior_account_status = operation.prior_account_status or before
        operation.save(update_fields=CLAIM_FIELDS)
        if connection.max_concurrency and _over_cap(connection.pk, now):
            raise _NoSlot
    return operation


def _over_cap(connection_id: int, now) -> bool:
    """Whether the connection's running operations, the one being claimed included, are more than
    its cap. Claims of a capped connection are serialised by its row lock, taken last so that it is
    held only for this count and the commit: two workers cannot both take the last slot."""
    cap = Connection.objects.select_for_update().filter(pk=connection_id).values_list("max_concurrency", flat=True).get()
    # a statement of its own after the lock: it sees every claim committed before the lock was ours
    running = Operation.objects.filter(
        connection_id=connection_id, status=OperationStatus.RUNNING, lease_expires_at__gt=now
    ).count()
    return bool(cap) and running > cap


def _operation_wait_for_slot(operation_id: int) -> None:
    """Queue an operation refused a slot with a time: it waits to be woken when one of its
    connection's operations finishes (``_wake_next_waiting``), else comes back then; jittered so
    that operations refused together do not all come back together."""
    now = timezone.now()
    wait = CONCURRENCY_WAIT_SECONDS * random.uniform(0.5, 1.5)
    with transaction.atomic():
        waiting = Operation.objects.filter(
            pk=operation_id, status__in=(OperationStatus.QUEUED, OperationStatus.WAITING_RETRY)
        ).update(next_attempt_at=now + timedelta(seconds=wait), updated_at=now)
        if waiting:
            operation_dispatch(operation=Operation(pk=operation_id), countdown=wait)


# what a claim changes in an operation (nothing else is written)
CLAIM_FIELDS = ["status", "attempts", "lease_expires_at", "started_at", "retry_deadline", "prior_account_status",
                "updated_at"]


def _account_status_swap(account: Account, status: str, now) -> bool:
    """Move ``account`` to ``status`` with one compare-and-set UPDATE from the status it was read
    with; ``False`` (nothing changed) when its row no longer has that status."""
    if account.status == status:
        return True
    before = account.status
    check_transition(before, status)
    if not Account.objects.filter(pk=account.pk, status=before).update(status=status, updated_at=now):
        return False
    account.status = status
    return True


def operation_execute(*, operation_id: int) -> Operation | None:
    """Run one attempt of an operation (what the Celery task does)."""
    operation = operation_claim(operation_id=operation_id)
    if operation is None:
        return None
    account = operation.account  # with its member, read by the claim
    if account is not None:
        account.connection = operation.connection
    context = OperationContext(
        operation_id=operation.pk,
        kind=operation.kind,
        attempt=operation.attempts,
        connection=operation.connection,
        account=account,
        input=operation.input,
        secret_input=operation.secret_input,
        local_accounts=[] if account else selectors.connection_local_accounts(operation.connection),
    )
    logger.info("operation start id=%s kind=%s attempt=%s", operation.pk, operation.kind, operation.attempts)
    call_log = DatabaseCallLog(operation)
    try:
        provider = registry.get(operation.connection.provider)(operation.connection, call_log)
        # what the operation was given in secret and what the account keeps secret never
        # reaches a record, under whatever name a provider echoes it
        provider.client.redactor.add_values(
            *_strings(operation.secret_input), *_strings(account.secrets if account else {})
        )
        outcome = getattr(provider, operation.kind)(context)
    except ProviderError as err:
        _finish(operation, call_log, lambda: _operation_fail_or_retry(operation, err, sent=call_log.requests_sent > 0))
    except DATABASE_UNAVAILABLE:
        # not a bug, and not the end of the operation: what the provider did is unknown, so the
        # next attempt looks first (as after a timeout)
        logger.warning("database unavailable during operation id=%s kind=%s", operation.pk, operation.kind,
                       exc_info=True)
        unavailable = UnknownOutcome(
            "The portal's database was unavailable during this attempt; it is tried again.",
            code="database_unavailable",
        )
        _finish(operation, call_log, lambda: _operation_fail_or_retry(operation, unavailable))
    except Exception:
        logger.exception("operation crashed id=%s kind=%s", operation.pk, operation.kind)
        crashed = ProviderError(
            "The portal hit an unexpected error running this operation; it is logged for the engineers.",
            code="internal_error",
        )
        _finish(operation, call_log, lambda: _operation_fail(operation, crashed))
    else:
        _finish(operation, call_log, lambda: _operation_succeed(operation, outcome))
    logger.info("operation end id=%s kind=%s status=%s", operation.pk, operation.kind, operation.status)
    return operation


def operations_execute(*, operation_ids: list[int]) -> None:
    """Run an attempt of each of ``operation_ids``, one after the other (a message of several).
    One that breaks does not stop the others: it is left as the break left it (queued, or
    running until its lease expires), and the sweeper sends it again."""
    for operation_id in operation_ids:
        try:
            operation_execute(operation_id=operation_id)
        except Exception:
            logger.exception("operation could not be run id=%s; the sweeper sends it again", operation_id)


def _strings(data: dict) -> list[str]:
    return [str(v) for v in data.values() if isinstance(v, (str, int)) and not isinstance(v, bool)]


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: ``uniform(0, min(max, base * 2**(attempt-1)))``.

    Full jitter spreads the retries of operations that failed together (an outage) over the
    whole interval, instead of bringing them back in a wave.
    """
    conf = settings.PROVISIONING
    exponent = min(attempt - 1, 64)  # 2**64 seconds is already more than any cap
    ceiling = min(conf["BACKOFF_MAX_SECONDS"], conf["BACKOFF_BASE_SECONDS"] * 2**exponent)
    return random.uniform(0, ceiling)


def _apply_outcome(account: Account | None, operation: Operation, outcome: Outcome) -> None:
    if outcome.health is not None or outcome.provider_state:
        connection = Connection.objects.select_for_update().get(pk=operation.connection_id)
        health_before = connection.health_status
        if outcome.health is not None:
            connection.health_status, connection.health_detail = outcome.health
            connection.health_checked_at = timezone.now()
        connection.provider_state = {**connection.provider_state, **outcome.provider_state}
        connection.save()
        if connection.health_status != health_before:
            webhooks.connection_health_changed(connection)
    for account_id, message in outcome.account_attention.items():
        Account.objects.filter(pk=account_id, connection_id=operation.connection_id).update(
            attention=message, updated_at=timezone.now()
        )
    if outcome.remote_deletions_done:
        from .inbound import account_remote_deletion_finish

        for pending in Account.objects.select_for_update().filter(
            pk__in=outcome.remote_deletions_done, connection_id=operation.connection_id
        ):
            account_remote_deletion_finish(account=pending, via=f"{operation.get_kind_display().lower()} #{operation.pk}")
    if account is None:
        return
    if outcome.account_status:
        account_set_status(account, outcome.account_status)
    if outcome.external_id:
        account.external_id = outcome.external_id
    account.details = _merge(account.details, outcome.details)
    account.secrets = _merge(account.secrets, outcome.secrets)
    if outcome.attention is not None:
        account.attention = outcome.attention
    if outcome.challenge_image is not UNSET:
        account.challenge_image = outcome.challenge_image


def _before(account: Account | None, operation: Operation) -> dict:
    """What the account was before this outcome (for the events its change means): the state it
    was in before the operation started, since the running state is only a passage."""
    if account is None:
        return {"before_status": None, "before_attention": None}
    return {"before_status": operation.prior_account_status or account.status, "before_attention": account.attention}


def _merge(current: dict, changes: dict) -> dict:
    merged = {**current, **changes}
    return {k: v for k, v in merged.items() if v is not None}


def _locked_account(operation: Operation) -> Account | None:
    if not operation.account_id:
        return None
    return Account.objects.select_for_update().get(pk=operation.account_id)


def _wake_next_waiting(operation: Operation) -> None:
    """A slot of the connection is free: send the queued operation that waits longest for one
    (refused a slot of a capped connection, or released from a quarantine but not sent yet)."""
    waiting = (
        Operation.objects.filter(
            connection_id=operation.connection_id,
            status=OperationStatus.QUEUED,
            next_attempt_at__gt=timezone.now(),
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        Operation.objects.filter(pk=waiting).update(next_attempt_at=timezone.now())
        operation_dispatch(operation=Operation(pk=waiting))


def _operation_succeed(operation: Operation, outcome: Outcome) -> None:
    if operation.kind == OperationKind.RECONCILE and not operation.confirmed_by:
        confirmation = guards.reconcile_guard(operation.connection, outcome.account_attention)
        if confirmation:
            _operation_hold_for_confirmation(operation, confirmation, outcome)
            return
    healthy = outcome.health is None or outcome.health[0] == HealthStatus.OK
    lifted = quarantine.record_answer(connection_id=operation.connection_id, success=healthy)
    account = _locked_account(operation)
    spec = OPERATION_SPECS[operation.kind]
    if account is not None and spec.running_status and not outcome.account_status:
        outcome.account_status = operation.prior_account_status or account.status
    before = _before(account, operation)
    _apply_outcome(account, operation, outcome)
    if account is not None:
        account.last_error = None
        account.save()
    operation.status = OperationStatus.SUCCEEDED
    operation.result = outcome.result
    operation.error_code, operation.error_message, operation.error_retryable = "", "", None
    operation.finished_at = timezone.now()
    operation.lease_expires_at = None
    operation.save(update_fields=SUCCESS_FIELDS)
    webhooks.operation_finished(operation, account, **before)
    if not lifted:  # a lift has just released its own first few operations
        _wake_next_waiting(operation)


# what a success changes in an operation
SUCCESS_FIELDS = ["status", "result", "error_code", "error_message", "error_retryable", "finished_at",
                  "lease_expires_at", "updated_at"]


def _operation_hold_for_confirmation(operation: Operation, reason: str, outcome: Outcome) -> None:
    """The mass-deletion guard stopped a reconcile's outcome: nothing applied, a person decides."""
    now = timezone.now()
    operation.status = OperationStatus.HELD
    operation.needs_confirmation = True
    operation.hold_reason = reason
    operation.held_since = now
    operation.result = outcome.result  # what it found, for the person who decides
    operation.lease_expires_at = None
    operation.save()
    logger.warning("operation held for confirmation id=%s: %s", operation.pk, reason)
    _wake_next_waiting(operation)


def _operation_fail_or_retry(operation: Operation, err: ProviderError, *, sent: bool = True) -> None:
    """``sent``: whether any request went out during this attempt (a ``Deferred`` attempt is
    given back only when none did; one that sent something counts like any other)."""
    now = timezone.now()
    if isinstance(err, Deferred) and (not sent or operation.attempts < operation.max_attempts):
        if not sent:
            operation.attempts -= 1  # nothing was sent: the attempt is given back
        delay = err.retry_after or CONCURRENCY_WAIT_SECONDS
    elif not err.retryable:
        quarantine.record_answer(connection_id=operation.connection_id, success=False)
        _operation_fail(operation, err)
        return
    else:
        if quarantine.counts_as_failure(err):
            connection = quarantine.record_failure(connection_id=operation.connection_id, err=err)
        else:  # a 429: the provider is up and asks us to slow down
            connection = Connection.objects.get(pk=operation.connection_id)
        if operation.kind == OperationKind.HEALTH_CHECK and (operation.probe or connection.quarantined):
            _operation_fail(operation, err)  # a failed probe: the next one comes at its interval
            return
        if operation.retry_deadline is not None and now >= operation.retry_deadline:
            _operation_fail(operation, err, at_horizon=connection)
            return
        if quarantine.is_held_back(operation, connection) or (operation.probe and connection.quarantined):
            operation.error_code, operation.error_message, operation.error_retryable = err.code, err.message, True
            for name, value in quarantine.hold_fields(timezone.now()).items():
                setattr(operation, name, value)
            operation.save()
            logger.info("operation held id=%s after %s: its connection is quarantined", operation.pk, err.code)
            return
        delay = max(err.retry_after or 0.0, backoff_seconds(operation.attempts))
        if operation.retry_deadline is not None:  # the last try is at the horizon, not after it
            delay = min(delay, max(0.0, (operation.retry_deadline - now).total_seconds()))
    operation.status = OperationStatus.WAITING_RETRY
    operation.next_attempt_at = now + timedelta(seconds=delay)
    operation.lease_expires_at = None
    operation.error_code, operation.error_message, operation.error_retryable = err.code, err.message, True
    operation.save()
    logger.info("operation retry id=%s in %.1fs after %s", operation.pk, delay, err.code)
    operation_dispatch(operation=operation, countdown=delay)
    _wake_next_waiting(operation)


def _operation_fail(operation: Operation, err: ProviderError, *, at_horizon: Connection | None = None) -> None:
    """Fail ``operation`` with ``err``. ``at_horizon``: its connection, when transient errors
    were retried for the connection's whole horizon (the account is flagged for a person)."""
    message = err.message
    if err.field_errors:
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in err.field_errors.items())
        message = f"{message} ({fields})" if fields not in message else message
    if at_horizon is not None:
        first = operation.started_at
        attention = (
            f"Gave up after retrying for {at_horizon.retry_horizon_hours} h"
            f"{f' (since {first:%Y-%m-%d %H:%M} UTC)' if first else ''}, {operation.attempts} attempts: "
            f"{at_horizon} kept failing. Last error: {message} Retry the operation once the provider works again."
        )
        err = NeedsAttention(attention, code=err.code, outcome=err.outcome)
        err.retryable = True
        message = attention
    account = _locked_account(operation)
    before = _before(account, operation)
    if account is not None:
        spec = OPERATION_SPECS[operation.kind]
        outcome = err.outcome or Outcome()
        # an operation that moved the account (provision, deprovision...) moves it on or back;
        # one that did not (verify, login link...) leaves it where it is
        if not outcome.account_status and spec.running_status:
            outcome.account_status = spec.failure_status or operation.prior_account_status
        if isinstance(err, NeedsAttention):
            outcome.attention = message
        _apply_outcome(account, operation, outcome)
        account.last_error = {"code": err.code, "message": message, "operation": operation.pk}
        account.save()
    if isinstance(err, ConfigurationError):
        changed = Connection.objects.filter(pk=operation.connection_id).exclude(health_status=HealthStatus.ERROR)
        health_changed = changed.exists()
        Connection.objects.filter(pk=operation.connection_id).update(
            health_status=HealthStatus.ERROR, health_detail=message, health_checked_at=timezone.now()
        )
        if health_changed:
            webhooks.connection_health_changed(Connection.objects.get(pk=operation.connection_id))
    operation.status = OperationStatus.FAILED
    operation.error_code, operation.error_message, operation.error_retryable = err.code, message, err.retryable
    operation.result = {"field_errors": err.field_errors} if err.field_errors else operation.result
    operation.finished_at = timezone.now()
    operation.lease_expires_at = None
    operation.save()
    webhooks.operation_finished(operation, account, **before)
    _wake_next_waiting(operation)
