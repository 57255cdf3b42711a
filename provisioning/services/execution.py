"""Running operations in a worker: claim them, run the provider, apply what happened.

Delivery is at-least-once. A claim is an atomic compare-and-set under row locks, so a duplicate
message, a redelivery or the sweeper never run an operation twice at once; a lease bounds how long
a vanished worker keeps it. Providers never write to the database: they return an ``Outcome`` (or
raise a ``ProviderError``) and this module applies it.

A message carries a few operations (``operations_execute``): they are claimed in one transaction,
within their connection's free slots; their calls go out at the same time from the process's call
threads; their successes are written in one transaction, a statement for all of them where one
each would do (``bulk.update_rows``). A success frees slots: the operations waiting longest for one
are woken, and the worker thread goes on with them itself, without a message between.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from .. import bulk, explain, selectors
from ..models import Account, Connection, ExternalCall, HealthStatus, Operation, RequestReservation
from ..providers import registry
from ..providers.base import UNSET, OperationContext, Outcome
from ..providers.exceptions import (
    ConfigurationError,
    Deferred,
    MemberIncomplete,
    NeedsAttention,
    ProviderError,
    UnknownOutcome,
)
from ..providers.http import RecordedCall
from ..states import OPERATION_SPECS, OperationKind, OperationStatus, check_transition
from . import guards, quarantine, slots, webhooks
from .in_flight import Paused, Unavailable, in_flight
from .messages import slot_groups
from .operations import operation_dispatch

logger = logging.getLogger(__name__)

# the database is unreachable (a restart, a failover, a cut connection): not the operation's fault
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)

# how long a request waits for a place among its connection's requests at once before its
# operation is given back, to be tried again
PLACE_WAIT_SECONDS = 30.0


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
    (any moment in between) never sees more than the limit in its own window. At a capped
    connection, with Redis, a request also takes one of the connection's places before it is sent
    and gives it back with its answer (``in_flight``).
    """

    def __init__(self, operation: Operation):
        self.operation = operation
        self.attempt = operation.attempts  # as claimed (an outcome may change it in memory)
        self.requests_sent = 0
        self.calls: list[tuple[RecordedCall, object]] = []  # (exchange, when answered), not written yet
        self._request_slot: int | None = None
        self._place: tuple | None = None  # (store, token) of the request in flight
        self._answered_at = None  # when the answer to the request in flight was read
        self._slots: dict[str, int] = {}

    # --- the connection's requests at once ---------------------------------------------------
    def before_request(self) -> None:
        self._take_place()
        try:
            self._check_limits()
        except BaseException:
            self.give_back_place()
            raise

    def _take_place(self) -> None:
        """At a capped connection, with Redis holding its requests in flight: wait for one of its
        places (``in_flight``), given back when the answer is read (``after_request``)."""
        store = self._places()
        if store is None:
            return
        cap = self.operation.connection.max_concurrency
        try:
            token = store.take(self.operation.connection_id, cap, wait=PLACE_WAIT_SECONDS)
        except Paused as paused:  # by a 429 that came while this request waited for its place
            now = timezone.now()
            raise _paused(now + timedelta(seconds=paused.seconds), now) from None
        except Unavailable:
            raise Deferred(
                "The portal could not reach Redis, which counts this connection's requests at once; "
                "the operation is tried again in a few seconds.",
                retry_after=5.0 + random.uniform(0, 5.0),
                code="concurrency_store_unavailable",
            ) from None
        if token is None:
            raise Deferred(
                f"All {cap} of this connection's requests at once stayed in use for {PLACE_WAIT_SECONDS:g} s; "
                f"the operation is tried again shortly.",
                retry_after=slots.CONCURRENCY_WAIT_SECONDS * random.uniform(0.5, 1.5),
                code="connection_busy",
            )
        self._place = (store, token)

    def _places(self):
        """The Redis holding the connection's places, at a capped connection (else ``None``)."""
        return in_flight() if self.operation.connection.max_concurrency else None

    def after_request(self) -> None:
        """The answer is read (and a pause it asks for set): the request's place is given back at
        once, before the answer is redacted, recorded and logged."""
        self._answered_at = timezone.now()  # before the place is given back: the next request to
        # take it starts after this one ended, in the records too
        self.give_back_place()

    def give_back_place(self) -> None:
        """Give back the place the request in flight took, if any (its answer is read, or it
        never went out)."""
        if self._place is not None:
            (store, token), self._place = self._place, None
            store.give_back(self.operation.connection_id, token)

    # --- the connection's requests per minute, and its pause ---------------------------------
    def _check_limits(self) -> None:
        now = timezone.now()
        if self.requests_sent == 0:  # the claim has just read the connection (and Redis its pause)
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
            raise _paused(paused_until, now)

    def pause(self, seconds: float) -> None:
        seconds = min(float(seconds), settings.PROVISIONING["MAX_PAUSE_SECONDS"])
        until = timezone.now() + timedelta(seconds=seconds)
        # one UPDATE (atomic on its own): only ever lengthens a pause
        Connection.objects.filter(pk=self.operation.connection_id).filter(
            Q(paused_until__isnull=True) | Q(paused_until__lt=until)
        ).update(paused_until=until)
        store = self._places()
        if store is not None:  # the requests waiting for a place see it at once
            store.pause(self.operation.connection_id, seconds)
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
        """Keep the exchange for ``records``: it is written with the attempt's outcome, in
        the same transaction. The request's place is given back (if ``after_request`` did not),
        and a request slot moves to when the answer came, at once."""
        answered_at, self._answered_at = self._answered_at or timezone.now(), None
        self.calls.append((call, answered_at))
        self.give_back_place()
        if self._request_slot is not None:
            slot, self._request_slot = self._request_slot, None
            with_database_retries(
                lambda: RequestReservation.objects.filter(pk=slot).update(reserved_at=timezone.now()),
                what=f"moving a request slot of operation {self.operation.pk}",
            )

    def records(self) -> list[ExternalCall]:
        """The exchanges kept so far as ExternalCall rows, not saved: written with the attempt's
        outcome, in its transaction."""
        return [
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
        ]


def _paused(until, now) -> Deferred:
    """What a request of a connection paused ``until`` is told."""
    return Deferred(
        f"The provider asked the portal to wait: the connection is paused until {timezone.localtime(until):%H:%M:%S}.",
        retry_after=(until - now).total_seconds() + random.uniform(0, 0.5),
        code="connection_paused",
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


@dataclass
class _Attempt:
    """One operation's attempt between its provider call and writing what it ended with."""

    operation: Operation
    call_log: DatabaseCallLog
    outcome: Outcome | None = None  # it succeeded ...
    error: ProviderError | None = None  # ... or not (and then):
    sent: bool = True  # whether a request went out (a ``Deferred`` attempt without one is given back)
    crashed: bool = False  # the portal broke, not the provider: it fails, it is not retried


def _finish(attempts: list[_Attempt], apply):
    """Record the exchanges of ``attempts`` and ``apply(attempts)`` what they ended with, in one
    transaction, through a database outage; what ``apply`` returns."""
    tries = 0

    def write():
        nonlocal tries
        tries += 1
        ours = attempts
        if tries > 1:  # the failed try may have committed after all: only a running one is ours
            ours = []
            for attempt in attempts:
                attempt.operation.refresh_from_db()
                if (attempt.operation.status == OperationStatus.RUNNING
                        and attempt.operation.attempts == attempt.call_log.attempt):
                    ours.append(attempt)
            if not ours:
                return None
        with transaction.atomic():
            ExternalCall.objects.bulk_create(call for attempt in ours for call in attempt.call_log.records())
            return apply(ours)

    ids = ", ".join(str(attempt.operation.pk) for attempt in attempts)
    return with_database_retries(write, what=f"finishing operation(s) {ids}")


def operation_claim(*, operation_id: int) -> Operation | None:
    """Take ``operation_id`` for this worker, or ``None`` when it is not ours to run now."""
    claimed = operations_claim(operation_ids=[operation_id])
    return claimed[0] if claimed else None


def operations_claim(*, operation_ids: list[int]) -> list[Operation]:
    """Take those of ``operation_ids`` that are ours to run now (due, or their lease lost), in one
    transaction. A connection at its concurrency cap gives only its free slots: the others wait to
    be woken when one frees (``slots.operations_wait_for_slot``)."""
    now = timezone.now()
    with transaction.atomic():
        # one read brings everything the attempts need; only the operations' rows are locked (in
        # id order, as every claim takes them: two claims of overlapping groups cannot deadlock)
        operations = bulk.with_relations(Operation, operation_ids, CLAIM_READS, lock=True)
        due = [operation for operation in operations if _claimable(operation, now)]
        claimed, refused, passed_on = _within_caps(due, now)
        for ids in refused.values():  # each connection's queue apart
            slots.operations_wait_for_slot(slot_groups(ids), now)
        slots.send_in_slot_groups(passed_on)
        for operation in claimed:
            _attempt_start(operation, now)
        _accounts_to_running(claimed, now)
        bulk.update_rows(claimed, CLAIM_FIELDS)
    return claimed


def _claimable(operation: Operation, now) -> bool:
    """Whether ``operation`` (read under its lock) is ours to run now. One whose worker kept dying
    fails here, and one its connection's quarantine holds back is held."""
    lease_lost = operation.status == OperationStatus.RUNNING and (
        operation.lease_expires_at is None or operation.lease_expires_at <= now
    )
    due = operation.status in (OperationStatus.QUEUED, OperationStatus.WAITING_RETRY) and (
        operation.next_attempt_at is None or operation.next_attempt_at <= now
    )
    if not (due or lease_lost):
        return False  # held operations included: they wait for a probe, a lift or a person
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
        return False
    if quarantine.is_held_back(operation, operation.connection):
        for name, value in quarantine.hold_fields(now).items():
            setattr(operation, name, value)
        operation.save()
        return False
    return True


def _within_caps(operations: list[Operation], now) -> tuple[list[Operation], dict[int, list[int]], list[int]]:
    """``operations`` split into those their connection has a free slot for, the ids of those it
    has none for, by connection, and the ids of those beyond this process's call threads (to send
    on). The rows of capped connections are locked for the count and the claim's
    commit, so that two workers cannot both take the last slot."""
    caps = {op.connection_id: op.connection.max_concurrency for op in operations if op.connection.max_concurrency}
    if not caps:
        return operations, {}, []
    # a look without the locks first: a connection already full refuses at once, without waiting
    # for its row behind the claims that fill it (operations the sweeper sends past their time
    # while the slots are still busy are refused so)
    running = slots.running_counts(caps, now)
    free = {pk: 0 for pk, cap in caps.items() if running.get(pk, 0) >= slots.admitted(cap)}
    not_full = sorted(caps.keys() - free.keys())
    if not_full:  # the caps read again under the locks: a person may have just changed one
        locked = dict(Connection.objects.select_for_update().filter(pk__in=not_full).order_by("pk")
                      .values_list("pk", "max_concurrency"))
        # a statement of its own after the locks: it sees every claim committed before they were ours
        running = slots.running_counts(not_full, now)
        free.update({pk: slots.admitted(cap) - running.get(pk, 0) for pk, cap in locked.items() if cap})
    # a claim takes no more of a connection's operations than its process has call threads: the
    # others, sent on as a message of their own, are claimed by another thread, where they would
    # wait here for a call thread, counted as running, while another worker had nothing to send
    per_claim = settings.PROVISIONING["CALL_THREADS"]
    claimed, refused, passed_on, taken = [], {}, [], {}
    for operation in operations:
        pk = operation.connection_id
        left = free.get(pk)
        if left is None or not OPERATION_SPECS[operation.kind].calls_provider:  # uncapped, or sends nothing
            claimed.append(operation)
        elif left <= 0:
            refused.setdefault(pk, []).append(operation.pk)
        elif taken.get(pk, 0) >= per_claim:
            passed_on.append(operation.pk)
        else:
            free[pk], taken[pk] = left - 1, taken.get(pk, 0) + 1
            claimed.append(operation)
    return claimed, refused, passed_on


def _attempt_start(operation: Operation, now) -> None:
    operation.status = OperationStatus.RUNNING
    operation.attempts += 1
    operation.lease_expires_at = now + timedelta(seconds=settings.PROVISIONING["LEASE_SECONDS"])
    operation.started_at = operation.started_at or now
    if operation.retry_deadline is None:  # the horizon counts from the first attempt
        operation.retry_deadline = now + timedelta(hours=operation.connection.retry_horizon_hours)
    operation.updated_at = now


def _accounts_to_running(operations: list[Operation], now) -> None:
    """Move the accounts of ``operations`` whose kind has a running status to it, one
    compare-and-set UPDATE per status they move from, and remember where each was before."""
    moving: dict[tuple[str, str], list[Operation]] = {}
    for operation in operations:
        status = OPERATION_SPECS[operation.kind].running_status
        if not (operation.account_id and status):
            continue
        before = operation.account.status
        if before == status:
            operation.prior_account_status = operation.prior_account_status or before
            continue
        check_transition(before, status)
        moving.setdefault((before, status), []).append(operation)
    for (before, status), group in moving.items():
        ids = [operation.account_id for operation in group]
        if Account.objects.filter(pk__in=ids, status=before).update(status=status, updated_at=now) == len(ids):
            for operation in group:
                operation.prior_account_status = operation.prior_account_status or before
                operation.account.status = status
            continue
        # one changed meanwhile: read them again (the others have just been moved)
        current = Account.objects.select_for_update().select_related("member").in_bulk(ids)
        for operation in group:
            account = current[operation.account_id]
            was = before if account.status == status else account.status
            if account.status != status:
                account_set_status(account, status)
                account.save(update_fields=["status", "updated_at"])
            operation.prior_account_status = operation.prior_account_status or was
            operation.account = account


# what a claim reads with each operation (``select_related``'s paths)
CLAIM_READS = ("connection", "account__member")
# what a claim changes in an operation (nothing else is written)
CLAIM_FIELDS = ["status", "attempts", "lease_expires_at", "started_at", "retry_deadline", "prior_account_status",
                "updated_at"]


def operation_execute(*, operation_id: int) -> Operation | None:
    """Run one attempt of an operation; the operations its end wakes are sent as a message."""
    ran, woken = _execute(operation_ids=[operation_id])
    slots.send_in_slot_groups(woken)
    return ran[0] if ran else None


# how long a worker thread goes on with the operations its successes woke (a capped connection's
# next waiting ones) before it sends them as a message instead, for other messages' turn
GO_ON_SECONDS = 30.0


def operations_execute(*, operation_ids: list[int]) -> None:
    """Run an attempt of each of ``operation_ids`` that is ours to run now (the task of a message
    of a few), then of the operations their successes woke, as long as there are some (for up to
    ``GO_ON_SECONDS``): a capped connection's backlog goes through its slots without a broker's
    round trip between one operation's end and the next one's start. A woken operation this thread
    never gets to (it died) is due, and the sweeper sends it."""
    deadline = time.monotonic() + GO_ON_SECONDS
    while operation_ids:
        _, operation_ids = _execute(operation_ids=operation_ids)
        if operation_ids and time.monotonic() >= deadline:
            slots.send_in_slot_groups(operation_ids)
            return


def _execute(*, operation_ids: list[int]) -> tuple[list[Operation], list[int]]:
    """Run an attempt of each of ``operation_ids`` that is ours to run now: claimed together,
    their provider calls made at the same time (in the process's call threads), their successes
    written together. Returns them, and the ids of the waiting operations their successes woke (not
    sent yet). One that breaks does not stop the others: it is left as the break left it (queued,
    or running until its lease expires), and the sweeper sends it again."""
    claimed = operations_claim(operation_ids=operation_ids)
    if len(claimed) == 1:
        attempts = [_attempt_run(claimed[0])]
    else:
        attempts = list(_call_threads().map(_attempt_run_in_call_thread, claimed))
    woken = []
    for attempt in attempts:
        if attempt.error is not None:
            woken += _attempt_finish_alone(attempt)
    succeeded = [attempt for attempt in attempts if attempt.error is None]
    if succeeded:
        try:
            woken += _finish(succeeded, _operations_succeed) or []
        except Exception:
            if len(succeeded) == 1:
                raise
            logger.exception("the successes of operations %s could not be written together; one by one",
                             [attempt.operation.pk for attempt in succeeded])
            for attempt in succeeded:
                woken += _attempt_finish_alone(attempt)
    for operation in claimed:
        logger.info("operation end id=%s kind=%s attempt=%s status=%s", operation.pk, operation.kind,
                    operation.attempts, operation.status)
    return claimed, woken


def _attempt_run(operation: Operation) -> _Attempt:
    """Call the provider for ``operation``'s attempt; what it ended with, not written yet."""
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
    # at INFO, an operation's attempt is one line when it ends (with each provider call's own)
    logger.debug("operation start id=%s kind=%s attempt=%s", operation.pk, operation.kind, operation.attempts)
    attempt = _Attempt(operation, DatabaseCallLog(operation))
    try:
        provider = registry.get(operation.connection.provider)(operation.connection, attempt.call_log)
        # what the operation was given in secret and what the account keeps secret never
        # reaches a record, under whatever name a provider echoes it
        provider.client.redactor.add_values(
            *_strings(operation.secret_input), *_strings(account.secrets if account else {})
        )
        missing = provider.member_missing(account.member) if operation.kind == OperationKind.PROVISION else ""
        if missing:  # the member changed since the request: nothing is sent
            raise MemberIncomplete(missing)
        attempt.outcome = getattr(provider, operation.kind)(context)
    except ProviderError as err:
        attempt.error, attempt.sent = err, attempt.call_log.requests_sent > 0
    except DATABASE_UNAVAILABLE:
        # not a bug, and not the end of the operation: what the provider did is unknown, so the
        # next attempt looks first (as after a timeout)
        logger.warning("database unavailable during operation id=%s kind=%s", operation.pk, operation.kind,
                       exc_info=True)
        attempt.error = UnknownOutcome(
            "The portal's database was unavailable during this attempt; it is tried again.",
            code="database_unavailable",
        )
    except Exception:
        logger.exception("operation crashed id=%s kind=%s", operation.pk, operation.kind)
        attempt.crashed = True
        attempt.error = ProviderError(
            "The portal hit an unexpected error running this operation; it is logged for the engineers.",
            code="internal_error",
        )
    finally:
        attempt.call_log.give_back_place()  # a request that broke before its answer was recorded
    return attempt


def _attempt_finish_alone(attempt: _Attempt) -> list[int]:
    """Write what ``attempt`` ended with in a transaction of its own; the operations it woke. A
    break is logged, and its operation left to the sweeper."""
    operation, err = attempt.operation, attempt.error
    if err is None:
        apply = _operations_succeed
    elif attempt.crashed:
        def apply(ours):
            _operation_fail(operation, err)
    else:
        def apply(ours):
            _operation_fail_or_retry(operation, err, sent=attempt.sent)
    try:
        return _finish([attempt], apply) or []
    except Exception:
        logger.exception("operation could not be finished id=%s; the sweeper sends it again", operation.pk)
        return []


_call_pool: ThreadPoolExecutor | None = None
_call_pool_lock = threading.Lock()


def _call_threads() -> ThreadPoolExecutor:
    """The process's threads for provider calls: the calls of one message go out at the same time,
    while the worker thread that claimed them waits. Made on first use, after a fork."""
    global _call_pool
    with _call_pool_lock:
        if _call_pool is None:
            _call_pool = ThreadPoolExecutor(settings.PROVISIONING["CALL_THREADS"], thread_name_prefix="provider-call")
        return _call_pool


def _attempt_run_in_call_thread(operation: Operation) -> _Attempt:
    try:
        return _attempt_run(operation)
    finally:
        # a provider that read or wrote the database (a rate limit, a secret) did so on this
        # thread's own connection: closed, as a call thread is shared by every worker thread
        connections.close_all()


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


# what an outcome may change in its operation's account (``_apply_outcome``, and the last error):
# the fields a success or a failure writes
OUTCOME_ACCOUNT_FIELDS = ["status", "external_id", "details", "secrets", "attention", "challenge_image", "last_error",
                          "updated_at"]


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


def _operations_succeed(attempts: list[_Attempt]) -> list[int]:
    """Apply the outcomes of successful ``attempts``, together: their accounts read in one
    statement and written in one, their operations written in one. Returns the waiting operations
    the slots they free woke (not sent yet)."""
    done = []
    for attempt in attempts:
        operation, outcome = attempt.operation, attempt.outcome
        if operation.kind == OperationKind.RECONCILE and not operation.confirmed_by:
            confirmation = guards.reconcile_guard(operation.connection, outcome.account_attention)
            if confirmation:
                _operation_hold_for_confirmation(operation, confirmation, outcome)
                continue
        done.append((operation, outcome))
    if not done:
        return []
    lifted = set()
    answered = [(operation, outcome) for operation, outcome in done if OPERATION_SPECS[operation.kind].calls_provider]
    for connection_id in {operation.connection_id for operation, _ in answered}:
        healthy = any(outcome.health is None or outcome.health[0] == HealthStatus.OK
                      for operation, outcome in answered if operation.connection_id == connection_id)
        if quarantine.record_answer(connection_id=connection_id, success=healthy):
            lifted.add(connection_id)
    accounts = {account.pk: account for account in bulk.with_relations(
        Account, [operation.account_id for operation, _ in done if operation.account_id], (), lock=True)}
    now = timezone.now()
    finished = []
    for operation, outcome in done:
        account = accounts.get(operation.account_id)
        spec = OPERATION_SPECS[operation.kind]
        if account is not None and spec.running_status and not outcome.account_status:
            outcome.account_status = operation.prior_account_status or account.status
        before = _before(account, operation)
        _apply_outcome(account, operation, outcome)
        if account is not None:
            account.last_error = None
            account.updated_at = now
        operation.status = OperationStatus.SUCCEEDED
        operation.result = outcome.result
        operation.error_code, operation.error_message, operation.error_retryable = "", "", None
        operation.finished_at = now
        operation.lease_expires_at = None
        operation.updated_at = now
        finished.append((operation, account, before))
    bulk.update_rows(list(accounts.values()), OUTCOME_ACCOUNT_FIELDS)
    bulk.update_rows([operation for operation, _ in done], SUCCESS_FIELDS)
    webhooks.operations_finished(finished)
    woken = []
    for connection_id in {operation.connection_id for operation, _ in done} - lifted:  # a lift has
        # just released its own first few operations
        woken += slots.wake_next_waiting(connection_id, count=sum(op.connection_id == connection_id for op, _ in done))
    return woken


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
    slots.wake_and_send(operation.connection_id)  # its slot is free


def _operation_fail_or_retry(operation: Operation, err: ProviderError, *, sent: bool = True) -> None:
    """``sent``: whether any request went out during this attempt (a ``Deferred`` attempt is
    given back only when none did; one that sent something counts like any other)."""
    now = timezone.now()
    if isinstance(err, Deferred) and (not sent or operation.attempts < operation.max_attempts):
        if not sent:
            operation.attempts -= 1  # nothing was sent: the attempt is given back
        delay = err.retry_after or slots.CONCURRENCY_WAIT_SECONDS
    elif not err.retryable:
        if OPERATION_SPECS[operation.kind].calls_provider:
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
    slots.wake_and_send(operation.connection_id)  # its slot is free


def _operation_fail(operation: Operation, err: ProviderError, *, at_horizon: Connection | None = None) -> None:
    """Fail ``operation`` with ``err``. ``at_horizon``: its connection, when transient errors
    were retried for the connection's whole horizon (the account is flagged for a person)."""
    message = err.message
    if err.field_errors and not all(m in message for ms in err.field_errors.values() for m in ms):
        message = f"{message.rstrip('.')}. {explain.refused_sentence(err.field_errors)}"
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
        account.last_error = {"code": err.code, "message": message, "operation": operation.pk, "kind": operation.kind}
        account.save(update_fields=OUTCOME_ACCOUNT_FIELDS)
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
    slots.wake_and_send(operation.connection_id)  # its slot is free
