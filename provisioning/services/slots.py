"""A capped connection's slots: how many of its operations run, and who waits for one.

A connection's ``max_concurrency`` caps the operations running at it at once. The claim enforces
it under the connection's row lock (``execution``); this module keeps the queue of the others:

- an operation refused a slot, at its claim or already when it is sent, waits: queued, with a
  time (``operations_wait_for_slot``);
- the end of one of the connection's operations wakes the one waiting longest
  (``execution._wake_next_waiting``), so that a backlog goes through the slots as they free;
- one that nobody wakes comes back at its time, with the others of its group, by a countdown
  message (lost, the sweeper sends it: it is then due).

A batch bigger than a connection's cap is split when it is sent (``operations_beyond_free_slots``):
its operations beyond the free slots wait at once, rather than each being sent, claimed and
refused (that burst of refusals cost a 1,000-operation batch at a cap of 20 about two seconds of
both cores before the first slot turned).
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .. import bulk
from ..models import Operation
from ..states import OperationStatus

logger = logging.getLogger(__name__)

# how long an operation refused a slot waits before it comes back unless woken earlier, on
# average: jittered by +-50 %, so that groups refused together do not come back together
CONCURRENCY_WAIT_SECONDS = 10.0


def running_counts(connection_ids, now) -> dict[int, int]:
    """The operations running (their lease not expired) at each of ``connection_ids``."""
    return dict(
        Operation.objects.filter(connection_id__in=connection_ids, status=OperationStatus.RUNNING,
                                 lease_expires_at__gt=now)
        .order_by().values("connection_id").annotate(count=Count("pk")).values_list("connection_id", "count")
    )


def operations_beyond_free_slots(operation_ids: list[int], now) -> set[int]:
    """Those of ``operation_ids`` (about to be sent) that their capped connection has no free slot
    for once the lower ids take the free ones (queued ones only: one cancelled or already sent by
    the sweeper meanwhile is left alone). Counted without locks, a guess the claim makes exact:
    one sent too many is refused there; one kept back too many is woken by the next end, or comes
    back at its time if the running ones ended before it was kept back."""
    rows = sorted(Operation.objects.filter(pk__in=operation_ids, status=OperationStatus.QUEUED,
                                           connection__max_concurrency__gt=0)
                  .values_list("pk", "connection_id", "connection__max_concurrency"))
    if not rows:
        return set()
    running = running_counts({connection_id for _, connection_id, _ in rows}, now)
    free, beyond = {}, set()
    for pk, connection_id, cap in rows:
        left = free.setdefault(connection_id, cap - running.get(connection_id, 0))
        if left > 0:
            free[connection_id] = left - 1
        else:
            beyond.add(pk)
    return beyond


def operations_wait_for_slot(groups: list[list[int]], now) -> None:
    """Queue the operations of ``groups`` (queued ones, not running) to wait for a slot: woken
    when one frees, else back after about ``CONCURRENCY_WAIT_SECONDS``, each group together by one
    countdown message, sent once the current transaction commits. One statement for them all."""
    waiting, messages = [], []
    for group in groups:
        wait = CONCURRENCY_WAIT_SECONDS * random.uniform(0.5, 1.5)
        waiting += [Operation(pk=pk, next_attempt_at=now + timedelta(seconds=wait), dispatched_at=now,
                              updated_at=now) for pk in group]
        messages.append((group, wait))
    bulk.update_rows(waiting, ["next_attempt_at", "dispatched_at", "updated_at"])

    def send():
        from .. import tasks

        try:
            with tasks.operations_execute.app.producer_or_acquire() as producer, producer.batch():
                for group, wait in messages:
                    tasks.operations_execute.apply_async(args=[group], countdown=wait, producer=producer)
        except Exception:  # the broker is only a wake-up call: the sweeper will send them again
            logger.warning("could not send %s operations waiting for a slot; the sweeper will", len(waiting),
                           exc_info=True)

    transaction.on_commit(send)


def operations_send_now_or_wait(operation_ids: list[int], *, group_size: int) -> list[int]:
    """Of ``operation_ids`` (queued, about to be sent), put those beyond their capped connection's
    free slots to wait for one, in groups of ``group_size``; returns the others, to send now."""
    now = timezone.now()
    beyond = operations_beyond_free_slots(operation_ids, now)
    if not beyond:
        return operation_ids
    waiting = [pk for pk in operation_ids if pk in beyond]
    with transaction.atomic():
        operations_wait_for_slot([waiting[i:i + group_size] for i in range(0, len(waiting), group_size)], now)
    logger.info("%s operations wait for a free slot of their connection", len(waiting))
    return [pk for pk in operation_ids if pk not in beyond]
