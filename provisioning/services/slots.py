"""A capped connection's slots: how many of its operations run, and who waits for one.

A connection's ``max_concurrency`` caps its requests in flight. With Redis, each request takes a
place there for its time on the wire (``in_flight``), and the operations running at once may be
``ADMITTED_PER_PLACE`` times the cap (those beyond it are claimed and wait there, ready to send);
without Redis, the cap is that of the operations running. Either way, the claim admits operations
within ``admitted(cap)`` under the connection's row lock (``execution``); this module keeps the
queue of the others:

- an operation refused a slot, at its claim or already when it is sent, waits: queued, with a
  time that places it in the queue (``operations_wait_for_slot``), and no message of its own;
- the end of one of the connection's operations wakes the one waiting longest
  (``wake_next_waiting``), so that a backlog goes through the slots as they free;
- the sweeper wakes the waiting ones of a connection whose slots are free while they wait
  (``connections_wake_free_slots``): after a worker died mid-chain, a cap was raised, or the
  running ones ended just before the others were kept back;
- and one still waiting past its time is sent again by the sweeper, as an operation whose message
  was lost is (as a batch's: those of a connection whose slots are still full go back in its
  queue without a claim).

Only the first group of those kept back together has a countdown message: a chain through the
slots runs the others long before their time, and their messages would come to claim nothing.
The workers that receive such messages hold them until they are due, and pay a claim for each (a
message per group of eight cost two workers 40-50 ms of CPU a second for up to a minute after a
backlog was through, at a cap of 20 and 100 ms). The first group's message is there for a race
the counts cannot close: the running ones may end just before the others are kept back, and then
nothing wakes them but that message (or the sweeper).

A batch bigger than a connection's cap is split when it is sent (``operations_beyond_free_slots``):
its operations beyond the free slots wait at once, rather than each being sent, claimed and
refused (that burst of refusals cost a 1,000-operation batch at a cap of 20 about two seconds of
both cores before the first slot turned). Their times are spread by their place in the queue: the
queue's order, and when the sweeper takes one for lost if nothing woke it.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import bulk
from ..models import Operation
from ..selectors import operations_due
from ..states import OperationStatus
from .in_flight import in_flight
from .messages import execute_groups, execute_messages_send_on_commit, slot_groups

logger = logging.getLogger(__name__)

# the time of an operation refused a slot, from now, on average: jittered by +-50 %, so that groups
# refused together are not woken or swept together
CONCURRENCY_WAIT_SECONDS = 10.0
# ... plus, for one kept back when sent, this much per turn of the slots ahead of it (a turn being
# as many operations as the cap): a slow provider's pace, so that it is woken before its time
TURN_SECONDS = 1.0
# with Redis holding the requests in flight, operations running at a capped connection per place
# of its cap: a place given back is taken at once by one of them, instead of staying idle while
# its operation's thread writes the outcome and claims the next (two workers of 16 threads, 100 ms
# of latency, cap 20, 2-core AMD EPYC: 113-125/s counting the operations running, 143-157/s so;
# three per place measured no better, the two cores being then about 85 % busy)
ADMITTED_PER_PLACE = 2


def admitted(cap: int) -> int:
    """How many operations of a connection capped at ``cap`` may run at once."""
    return cap * ADMITTED_PER_PLACE if in_flight() is not None else cap


def running_counts(connection_ids, now) -> dict[int, int]:
    """The operations running (their lease not expired) at each of ``connection_ids`` (a claim
    counts twice: ``bulk.count_by``, not compiled by the ORM)."""
    return bulk.count_by(Operation, "connection_id", connection_ids, status=OperationStatus.RUNNING,
                         lease_expires_at__gt=now)


def waiting_counts(connection_ids, now) -> dict[int, int]:
    """The operations waiting for a slot (queued with a time to come) at each of ``connection_ids``."""
    return bulk.count_by(Operation, "connection_id", connection_ids, status=OperationStatus.QUEUED,
                         next_attempt_at__gt=now)


def capped_rows(operation_ids: list[int]) -> list[tuple[int, int, int]]:
    """Those of ``operation_ids`` that are queued at a capped connection, as ``(id, connection
    id, cap)`` in id order. Queued ones only: one cancelled, or already sent by the sweeper
    meanwhile, is left alone."""
    return sorted(Operation.objects.filter(pk__in=operation_ids, status=OperationStatus.QUEUED,
                                           connection__max_concurrency__gt=0)
                  .values_list("pk", "connection_id", "connection__max_concurrency"))


def due_ahead(connection_id: int, most: int, now, *, before: int | None = None) -> int:
    """How many of the connection's operations (below id ``before``, if given) are due to run
    (``selectors.operations_due``), up to ``most``: sent and not claimed yet, they take its free
    slots first."""
    due = Operation.objects.filter(operations_due(now), connection_id=connection_id)
    if before is not None:
        due = due.filter(pk__lt=before)
    return due.order_by()[:most].count()


def free_slots(caps: dict[int, int], now, *, below: dict[int, int] | None = None) -> dict[int, int]:
    """How many operations each connection of ``caps`` (``{connection id: cap}``) may still
    admit: ``admitted(cap)`` less its running operations and those due to run (``due_ahead``;
    below id ``below[connection id]``, if given), which take their slots first. Read without
    locks: a guess the claim makes exact."""
    below = below or {}
    # those due first, the running after: one claimed in between is counted twice, never missed
    due = {pk: due_ahead(pk, admitted(cap), now, before=below.get(pk)) for pk, cap in caps.items()}
    running = running_counts(caps, now)
    return {pk: admitted(cap) - running.get(pk, 0) - due[pk] for pk, cap in caps.items()}


def operations_beyond_free_slots(rows: list[tuple[int, int, int]], now) -> dict[int, tuple[int, int]]:
    """Those of ``rows`` (``capped_rows`` of operations about to be sent) that their connection has
    no free slot for once the lower ids take the free ones, each with its connection and that
    one's cap. The lower ids include the connection's others due to run (``free_slots``): a batch's
    other chunks, dispatched at the same time by other workers, do not each take every free slot
    (a 1,000-operation batch at a cap of 20 sent 80 operations for 40 places, and the 40 refused
    took three claims of 10-75 ms of the two cores in the batch's first 200 ms). Counted without
    locks, a guess the claim makes exact: one sent too many is refused there; one kept back too
    many is woken by the next end, or by the sweeper if the running ones ended just before it was
    kept back."""
    if not rows:
        return {}
    caps, lowest = {}, {}  # each connection's cap, and its lowest id here
    for pk, connection_id, cap in rows:
        caps.setdefault(connection_id, cap)
        lowest.setdefault(connection_id, pk)
    free, beyond = free_slots(caps, now, below=lowest), {}
    for pk, connection_id, cap in rows:
        left = free[connection_id]
        if left > 0:
            free[connection_id] = left - 1
        else:
            beyond[pk] = (connection_id, cap)
    return beyond


def operations_wait_for_slot(groups: list[list[int]], now, *, later: list[float] | None = None) -> None:
    """Queue the operations of ``groups`` (queued ones of one connection, not running, in their
    order) to wait for a slot until one frees and wakes them: each group with a time about
    ``CONCURRENCY_WAIT_SECONDS`` from now (plus ``later``'s seconds for each group, if given), its
    place in the queue. One statement for them all, and one countdown message, for the first group
    only, sent once the current transaction commits: should the ends that would wake them all have
    come just before they were kept back, it comes back at its time, and its own ends wake the
    others (the sweeper does too, where one runs)."""
    waiting, times, first = [], [], None
    for group, after in zip(groups, later or [0.0] * len(groups)):
        wait = CONCURRENCY_WAIT_SECONDS * random.uniform(0.5, 1.5) + after
        first = first or (group, wait)
        waiting += group
        times += [now + timedelta(seconds=wait)] * len(group)
    bulk.update_columns(Operation, waiting, {"next_attempt_at": times, "dispatched_at": now, "updated_at": now})
    execute_messages_send_on_commit([first] if first else [])


def operations_send_now_or_wait(operation_ids: list[int]) -> list[list[int]]:
    """Of ``operation_ids`` (queued, about to be sent), put those beyond their capped connection's
    free slots to wait for one, in groups of ``SLOT_GROUP_MAX``; returns the others cut into the
    groups to send now: those of capped connections in groups of ``SLOT_GROUP_MAX`` (each a chain
    through the slots), the rest in groups of ``EXECUTE_GROUP_MAX``."""
    now = timezone.now()
    rows = capped_rows(operation_ids)
    beyond = operations_beyond_free_slots(rows, now)
    if beyond:
        _wait_in_turn(operation_ids, beyond, now)
    capped = {pk for pk, _, _ in rows}
    send = [pk for pk in operation_ids if pk not in beyond]
    return (execute_groups([pk for pk in send if pk not in capped])
            + slot_groups([pk for pk in send if pk in capped]))


def _wait_in_turn(operation_ids: list[int], beyond: dict[int, tuple[int, int]], now) -> None:
    """Put ``beyond`` (those of ``operation_ids`` with no free slot, each with its connection and
    cap) to wait in ``slot_groups``, each group later by the turns of the slots ahead of it."""
    queues: dict[tuple[int, int], list[int]] = {}
    for pk in operation_ids:
        if pk in beyond:
            queues.setdefault(beyond[pk], []).append(pk)
    # the place of each group in its connection's queue: after those already waiting
    ahead = waiting_counts({connection_id for connection_id, _ in queues}, now)
    with transaction.atomic():
        for (connection_id, cap), queue in queues.items():
            groups, later, place = slot_groups(queue), [], ahead.get(connection_id, 0)
            for group in groups:
                later.append(place / cap * TURN_SECONDS)
                place += len(group)
            operations_wait_for_slot(groups, now, later=later)
    logger.info("%s operations wait for a free slot of their connection", len(beyond))


def wake_next_waiting(connection_id: int, count: int = 1) -> list[int]:
    """``count`` slots of the connection are free: make due the queued operations that wait
    longest for one (kept back from a capped connection's full slots, or released from a
    quarantine but not sent yet), and return their ids, for the caller to send or run."""
    now = timezone.now()
    # locked, and those another finisher has locked skipped: two finishing at once wake different
    # ones (else both would go on with the same, and one's freed slots would stay empty)
    waiting = list(
        Operation.objects.select_for_update(skip_locked=True)
        .filter(connection_id=connection_id, status=OperationStatus.QUEUED, next_attempt_at__gt=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:count]
    )
    if waiting:  # marked as sent now: the sweeper leaves them to the caller for a while
        Operation.objects.filter(pk__in=waiting).update(next_attempt_at=now, dispatched_at=now)
    return waiting


def send_in_slot_groups(operation_ids: list[int]) -> None:
    """Send queued operations of a capped connection, already marked sent (those
    ``wake_next_waiting`` woke, or a claim sends on), in messages of ``SLOT_GROUP_MAX``, once the
    current transaction commits."""
    execute_messages_send_on_commit([(group, None) for group in slot_groups(operation_ids)])


def wake_and_send(connection_id: int, count: int = 1) -> list[int]:
    """``count`` slots of the connection are free: wake the operations waiting longest for one
    (``wake_next_waiting``) and send them once the current transaction commits (``send_in_slot_groups``);
    their ids."""
    woken = wake_next_waiting(connection_id, count=count)
    send_in_slot_groups(woken)
    return woken


def connections_wake_free_slots() -> int:
    """The sweeper's part: at each capped connection with operations waiting for a slot, wake as
    many as its slots are free, those due to run counted as taking theirs (read without locks:
    one woken too many is refused at its claim and waits again), and send them
    (``wake_and_send``). Returns how many were sent. The normal path is a running operation's end
    waking the next; this is for a queue nobody wakes (its worker died mid-chain, its cap was
    raised, or its running ones ended just before it was kept back)."""
    now = timezone.now()
    waiting = (Operation.objects.filter(status=OperationStatus.QUEUED, next_attempt_at__gt=now,
                                        connection__max_concurrency__gt=0)
               .order_by().values_list("connection_id", "connection__max_concurrency").distinct())
    free = free_slots(dict(waiting), now)
    sent = 0
    for connection_id, count in sorted(free.items()):
        if count <= 0:
            continue
        with transaction.atomic():
            sent += len(wake_and_send(connection_id, count=count))
    if sent:
        logger.info("sweeper woke %s operations waiting for free slots", sent)
    return sent
