"""``operations_execute`` messages: groups of operation ids, each sent with its countdown (or at
once), through one broker connection as one batch (Redis: a pipeline, not a round trip and a new
client per message). Sending is only a wake-up call: a message lost leaves queued operations that
the sweeper sends again."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)

# the most operations one ``operations_execute`` message carries: a worker thread claims them in one
# transaction, sends their calls at the same time and writes their successes together, so that
# receiving a message and each of those statements is paid once for many. A message costs a worker
# about 21 ms of CPU besides its operations' own 3.6 ms each (2-core AMD EPYC, before the sandbox
# kept connections open): with 8 a message, SnapTrade provisionings without latency cost the
# portal 7.9 ms each on PostgreSQL and 5.6 ms on SQLite; with 32, 5.0 and 4.5 ms; with 64, 4.6 ms
# (PostgreSQL), at the price of more answers received but not yet written when a worker is killed
EXECUTE_GROUP_MAX = 32
# ... at a connection with a concurrency cap: each message's successes wake as many of the waiting
# ones and its thread goes on with them, a chain through the slots. A chain's slots are idle while
# its thread writes one group and claims the next, which the places in Redis cover (the claim runs
# twice the cap, the requests beyond it wait for a place, ready to send): at a cap of 20 and 100 ms
# (2 workers of 16 threads, 2-core AMD EPYC, three alternating pairs of runs), groups of 16 and of 8
# read the same 178-180/s, the first with less CPU per operation (workers 3.9-4.4 against 4.8-5.1 ms,
# PostgreSQL 0.9-1.0 against 1.3-1.4). A worker claims no more of a group than it has call threads
# (``execution._within_caps``), so that groups of 16 do not gather where there are 8.
SLOT_GROUP_MAX = 16


def cut(ids: list[int], size: int) -> list[list[int]]:
    """``ids`` in lists of ``size`` (the last one shorter)."""
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def execute_groups(operation_ids: list[int]) -> list[list[int]]:
    """``operation_ids`` cut into the groups sent an ``operations_execute`` message each."""
    return cut(operation_ids, EXECUTE_GROUP_MAX)


def slot_groups(operation_ids: list[int]) -> list[list[int]]:
    """``operation_ids`` of a capped connection cut into the groups sent a message each, whatever
    sends them (a dispatch, a claim refused a slot, or the operations a freed slot woke)."""
    return cut(operation_ids, SLOT_GROUP_MAX)


def execute_messages_send(messages: list[tuple[list[int], float | None]]) -> None:
    """Send an ``operations_execute`` message for each ``(operation ids, countdown)`` now."""
    from .. import tasks

    with tasks.operations_execute.app.producer_or_acquire() as producer, producer.batch():
        for ids, countdown in messages:
            tasks.operations_execute.apply_async(args=[ids], countdown=countdown or None, producer=producer)


def execute_messages_send_on_commit(messages: list[tuple[list[int], float | None]]) -> None:
    """``execute_messages_send`` once the current transaction commits; a broker that refuses is
    logged (the sweeper sends the operations again)."""
    if not messages:
        return

    def send():
        try:
            execute_messages_send(messages)
        except Exception:
            logger.warning("could not send %s message(s) of operations; the sweeper will send them again",
                           len(messages), exc_info=True)

    transaction.on_commit(send)
