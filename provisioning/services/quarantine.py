"""Quarantine: a circuit breaker per connection.

A provider that keeps failing is not hammered by every queued operation in turn:

- Every transient failure of an operation at a connection (network, timeout, 5xx, unknown
  outcome; not a 429, which says "slower", not "down") adds one to
  ``Connection.consecutive_failures``; an answer that is not a transient failure sets it back
  to 0. At ``PROVISIONING["QUARANTINE_AFTER_FAILURES"]`` in a row the connection is
  **quarantined** (``quarantined_since``, ``quarantine_reason``).
- While quarantined, its operations are not sent: queued and waiting ones become ``held``, and
  so does any that is claimed or fails meanwhile. Holding uses up neither attempts nor the
  retry horizon: when an operation is released its ``retry_deadline`` moves on by the time it
  was held. Health checks are never held.
- One **probe** at a time is let through, at growing intervals (``QUARANTINE_PROBE_MIN_SECONDS``
  doubling up to ``QUARANTINE_PROBE_MAX_SECONDS``): a health check when the provider has one,
  else the held operation waiting longest. The sweeper looks for due probes on each run and a
  countdown task is sent for each one, whichever comes first (``connection_probe`` is idempotent).
  A held operation that fails as a probe is held again at the back of the line, so probes take
  turns among held operations.
- The first success lifts the quarantine. Held operations are released **without a burst**:
  in the order they were requested, at most ``max_concurrency`` (or ``QUARANTINE_RELEASE_AT_ONCE``)
  at once; the others are queued for later and woken one by one as each operation of the
  connection finishes (``slots.wake_next_waiting``), with staggered times as a fallback.
- A person can impose a quarantine (``connection_quarantine``): then nothing probes and only a
  person lifts it (``connection_quarantine_lift``), which also ends an automatic one.
- Staff are told by email once when a quarantine starts and once when it ends
  (``notifications``), after commit, from a Celery task.

Functions named ``_…`` expect to run inside the caller's transaction with the connection row
locked; the public ones open their own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Connection, Operation
from ..providers import registry
from ..providers.exceptions import ProviderError, RateLimited, TransientError
from ..states import OPERATION_SPECS, OperationKind, OperationStatus
from . import notifications, webhooks
from .errors import Conflict
from .operations import Requester, operation_dispatch

logger = logging.getLogger(__name__)

PROBE = Requester("quarantine probe")
QUARANTINE_HOLD_REASON = "Its connection is quarantined."
# spacing of the fallback times of released operations not sent at once (each wave of
# ``at once`` operations one step later); they are normally woken earlier, one per finish
RELEASE_STEP_SECONDS = 30.0


# failures of the portal's own, not the provider's: they never quarantine a connection
PORTAL_FAILURE_CODES = frozenset({"database_unavailable"})


def counts_as_failure(err: ProviderError) -> bool:
    """Whether ``err`` is the kind of failure that trips the breaker: the provider failed (not a
    429, which asks us to slow down, nor the portal's own database being away)."""
    return (
        isinstance(err, TransientError) and not isinstance(err, RateLimited) and err.code not in PORTAL_FAILURE_CODES
    )


def _conf():
    return settings.PROVISIONING


def _release_at_once(connection: Connection) -> int:
    return max(1, connection.max_concurrency or _conf()["QUARANTINE_RELEASE_AT_ONCE"])


# --- what workers report -------------------------------------------------------------------------

def record_failure(*, connection_id: int, err: ProviderError) -> Connection:
    """One more transient failure at the connection; quarantines it at the threshold.

    Runs in the worker's transaction (the quarantine and its held operations commit with the
    failed attempt). Returns the connection as it is now.
    """
    connection = Connection.objects.select_for_update().get(pk=connection_id)
    connection.consecutive_failures += 1
    threshold = _conf()["QUARANTINE_AFTER_FAILURES"]
    if connection.quarantined_since is None and connection.consecutive_failures >= threshold:
        reason = f"{connection.consecutive_failures} calls failed in a row: {err.message}"
        _start(connection, reason=reason, manual=False, by="the portal")
    else:
        connection.save(update_fields=["consecutive_failures"])
    return connection


def record_answer(*, connection_id: int, success: bool) -> bool:
    """The provider answered (``success``: the operation succeeded): the count starts again, and a
    success lifts an automatic quarantine (returns whether it did). Cheap when nothing changes."""
    failures, quarantined_since, manual = (
        Connection.objects.filter(pk=connection_id)
        .values_list("consecutive_failures", "quarantined_since", "quarantine_manual")
        .get()
    )
    if failures:
        Connection.objects.filter(pk=connection_id, consecutive_failures__gt=0).update(consecutive_failures=0)
    if not success:
        return False
    if quarantined_since is not None and not manual:
        connection = Connection.objects.select_for_update().get(pk=connection_id)
        if connection.quarantined_since is not None and not connection.quarantine_manual:
            _lift(connection, why="an operation succeeded again", by="the portal")
            return True
    return False


def holds(kind: str) -> bool:
    """Whether a quarantine holds operations of ``kind``: all but health checks (which probe the
    provider) and what sends the provider nothing (a closing recorded by staff)."""
    return kind != OperationKind.HEALTH_CHECK and OPERATION_SPECS[kind].calls_provider


def is_held_back(operation: Operation, connection: Connection) -> bool:
    """Whether ``operation`` must wait instead of running: its connection is quarantined, the
    quarantine ``holds`` its kind, and it is not the probe."""
    return connection.quarantined_since is not None and holds(operation.kind) and not operation.probe


def hold_fields(now) -> dict:
    return {
        "status": OperationStatus.HELD,
        "held_since": now,
        "hold_reason": QUARANTINE_HOLD_REASON,
        "next_attempt_at": None,
        "lease_expires_at": None,
        "probe": False,
    }


# --- start, lift, probe ----------------------------------------------------------------------------

def _start(connection: Connection, *, reason: str, manual: bool, by: str) -> None:
    now = timezone.now()
    conf = _conf()
    connection.quarantined_since = now
    connection.quarantine_reason = reason
    connection.quarantine_manual = manual
    if manual:
        connection.probe_interval_seconds = 0
        connection.next_probe_at = None
    else:
        connection.probe_interval_seconds = int(conf["QUARANTINE_PROBE_MIN_SECONDS"])
        connection.next_probe_at = now + timedelta(seconds=conf["QUARANTINE_PROBE_MIN_SECONDS"])
    connection.save()
    held = (
        Operation.objects.filter(
            connection=connection, status__in=[OperationStatus.QUEUED, OperationStatus.WAITING_RETRY],
            kind__in=[kind for kind in OPERATION_SPECS if holds(kind)],
        )
        .update(**hold_fields(now), updated_at=now)
    )
    logger.warning(
        "connection quarantined id=%s by=%s held=%s reason=%s", connection.pk, by, held, reason
    )
    notifications.quarantine_started(connection, by=by)
    webhooks.connection_quarantined(connection)
    if not manual:
        _send_probe_task(connection.pk, conf["QUARANTINE_PROBE_MIN_SECONDS"])


def _lift(connection: Connection, *, why: str, by: str) -> int:
    since = connection.quarantined_since
    reason = connection.quarantine_reason
    connection.quarantined_since = None
    connection.quarantine_reason = ""
    connection.quarantine_manual = False
    connection.next_probe_at = None
    connection.probe_interval_seconds = 0
    connection.consecutive_failures = 0
    connection.save()
    released = release_held(connection)
    logger.warning("connection quarantine lifted id=%s by=%s released=%s", connection.pk, by, released)
    notifications.quarantine_ended(connection, since=since, reason=reason, why=why, by=by, released=released)
    webhooks.connection_quarantine_lifted(connection)
    return released


def release_held(connection: Connection) -> int:
    """Queue the connection's held operations again (not those awaiting a confirmation), oldest
    first, sending at most ``at once`` now; the others wait to be woken one per finish."""
    now = timezone.now()
    at_once = _release_at_once(connection)
    held = list(  # in the order they were requested
        Operation.objects.filter(connection=connection, status=OperationStatus.HELD, needs_confirmation=False)
        .order_by("id")
    )
    for index, operation in enumerate(held):
        wave = index // at_once
        if operation.retry_deadline is not None and operation.held_since is not None:
            operation.retry_deadline += now - operation.held_since  # the time held is not spent
        operation.status = OperationStatus.QUEUED
        operation.next_attempt_at = None if wave == 0 else now + timedelta(seconds=wave * RELEASE_STEP_SECONDS)
        operation.held_since = None
        operation.hold_reason = ""
        operation.probe = False
        operation.updated_at = now
    Operation.objects.bulk_update(
        held,
        ["status", "next_attempt_at", "held_since", "hold_reason", "probe", "retry_deadline", "updated_at"],
        batch_size=500,
    )
    for operation in held[:at_once]:
        operation_dispatch(operation=operation)
    return len(held)


def connection_probe(*, connection_id: int) -> Operation | None:
    """Let one probe through if the connection's next probe is due; returns it (or ``None``).

    Safe to call any number of times (sweeper, countdown task): the due time moves on under the
    connection's row lock before anything is sent.
    """
    conf = _conf()
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(pk=connection_id).first()
        now = timezone.now()
        if (
            connection is None
            or connection.quarantined_since is None
            or connection.quarantine_manual
            or connection.next_probe_at is None
            or connection.next_probe_at > now
        ):
            return None
        interval = min(
            max(connection.probe_interval_seconds * 2, conf["QUARANTINE_PROBE_MIN_SECONDS"]),
            conf["QUARANTINE_PROBE_MAX_SECONDS"],
        )
        connection.probe_interval_seconds = int(interval)
        connection.next_probe_at = now + timedelta(seconds=interval)
        connection.save(update_fields=["probe_interval_seconds", "next_probe_at"])
        probe = _send_probe(connection, now)
        _send_probe_task(connection.pk, interval)
    logger.info("quarantine probe connection=%s operation=%s next in %.0fs", connection_id,
                probe.pk if probe else None, interval)
    return probe


def _send_probe(connection: Connection, now) -> Operation | None:
    provider = registry.all_providers().get(connection.provider)
    if provider is None:
        return None
    if provider.supports(OperationKind.HEALTH_CHECK):
        unfinished = connection.operations.filter(
            kind=OperationKind.HEALTH_CHECK,
            status__in=[OperationStatus.QUEUED, OperationStatus.RUNNING, OperationStatus.WAITING_RETRY],
        ).first()
        if unfinished is not None:  # one is on its way: it is the probe
            return unfinished
        from .operations import operation_request

        operation = operation_request(kind=OperationKind.HEALTH_CHECK, connection=connection, requested_by=PROBE)
        Operation.objects.filter(pk=operation.pk).update(probe=True)
        return operation
    operation = (
        Operation.objects.select_for_update()
        .filter(connection=connection, status=OperationStatus.HELD, needs_confirmation=False)
        .order_by("held_since", "id")
        .first()
    )
    if operation is None:
        return None
    if operation.retry_deadline is not None and operation.held_since is not None:
        operation.retry_deadline += now - operation.held_since
    operation.status = OperationStatus.QUEUED
    operation.probe = True
    operation.held_since = None
    operation.hold_reason = ""
    operation.next_attempt_at = None
    operation.save()
    operation_dispatch(operation=operation)
    return operation


def _send_probe_task(connection_id: int, countdown: float) -> None:
    def send():
        from .. import tasks

        try:
            tasks.connection_probe.apply_async(args=[connection_id], countdown=countdown)
        except Exception:  # the sweeper looks for due probes too
            logger.warning("could not schedule the probe of connection %s", connection_id, exc_info=True)

    transaction.on_commit(send)


def connections_probe_due() -> int:
    """Probe every quarantined connection whose next probe is due (the sweeper calls this)."""
    due = Connection.objects.filter(
        quarantined_since__isnull=False, quarantine_manual=False, next_probe_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    return sum(1 for pk in due if connection_probe(connection_id=pk) is not None)


# --- by hand -------------------------------------------------------------------------------------

def connection_quarantine(*, connection: Connection, reason: str, requested_by: Requester) -> Connection:
    """Quarantine ``connection`` by hand: its operations are held, nothing probes, until a person
    lifts it. An automatic quarantine becomes a manual one (with the new reason)."""
    reason = (reason or "").strip() or "No reason given."
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if locked.quarantined_since is not None and locked.quarantine_manual:
            raise Conflict(f"The connection '{locked}' is already quarantined.", code="already_quarantined")
        full_reason = f"Quarantined by {requested_by.label}: {reason}"
        if locked.quarantined_since is not None:  # from automatic to manual: no new emails
            locked.quarantine_reason = full_reason
            locked.quarantine_manual = True
            locked.next_probe_at = None
            locked.probe_interval_seconds = 0
            locked.save()
        else:
            _start(locked, reason=full_reason, manual=True, by=requested_by.label)
    return locked


def connection_quarantine_lift(*, connection: Connection, requested_by: Requester) -> Connection:
    """End a quarantine (automatic or manual) by hand; held operations are released gradually."""
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if locked.quarantined_since is None:
            raise Conflict(f"The connection '{locked}' is not quarantined.", code="not_quarantined")
        _lift(locked, why=f"lifted by {requested_by.label}", by=requested_by.label)
    return locked
