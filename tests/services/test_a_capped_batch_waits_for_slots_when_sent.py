"""A batch bigger than its connection's free slots: the operations beyond them wait for a slot from
the moment they are sent (woken as slots free, in the order of their times; the first group also
back at its time), rather than each being sent, claimed and refused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import services, tasks
from provisioning.models import Account, Member, Operation
from provisioning.services import operations, slots
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

pytestmark = pytest.mark.usefixtures("caps_count_operations")

STAFF = services.Requester("test:staff")


def queued(connection, n):
    accounts = [Account.objects.create(member=Member.objects.create(email=f"m{i}@example.org"), connection=connection)
                for i in range(n)]
    return [services.operation_request(kind="provision", account=a, requested_by=STAFF).pk for a in accounts]


def sent_messages(monkeypatch) -> list[tuple[list[int], float | None]]:
    """Each ``operations_execute`` message sent from now on: (its ids, its countdown)."""
    sent = []
    monkeypatch.setattr(tasks.operations_execute, "apply_async",
                        lambda args, countdown=None, **kwargs: sent.append((args[0], countdown)))
    return sent


def test_operations_beyond_the_free_slots_wait_from_the_moment_they_are_sent(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    from provisioning.services.messages import SLOT_GROUP_MAX

    connection.max_concurrency = 3
    connection.save()
    already, *ids = queued(connection, 21)
    services.operations_claim(operation_ids=[already])  # one slot of three is taken
    sent = sent_messages(monkeypatch)
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=ids)

    # the two free slots in one message; of the others, only the first group has one, at its time
    [(now_sent, none), (first_waiting, countdown)] = sent
    assert (now_sent, none, first_waiting) == (ids[:2], None, ids[2:2 + SLOT_GROUP_MAX])
    waiting = Operation.objects.filter(pk__in=ids[2:])
    assert {op.status for op in waiting} == {OperationStatus.QUEUED}
    assert all(op.next_attempt_at > timezone.now() and op.dispatched_at for op in waiting)
    # placed in the queue by group: about CONCURRENCY_WAIT_SECONDS, plus a turn of the 3 slots per 3 ahead
    times = dict(waiting.values_list("pk", "next_attempt_at"))
    for place, group in zip([0, SLOT_GROUP_MAX], [ids[2:2 + SLOT_GROUP_MAX], ids[2 + SLOT_GROUP_MAX:]]):
        assert len({times[pk] for pk in group}) == 1
        seconds = (times[group[0]] - before).total_seconds()
        turns = place / 3 * slots.TURN_SECONDS
        assert 0.5 * slots.CONCURRENCY_WAIT_SECONDS + turns <= seconds <= 1.5 * slots.CONCURRENCY_WAIT_SECONDS + turns + 5
    assert abs((times[ids[2]] - before).total_seconds() - countdown) < 5
    assert not Operation.objects.filter(pk__in=ids[:2], next_attempt_at__isnull=False).exists()


def test_a_full_connection_sends_none_and_one_without_a_cap_sends_all(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    connection.max_concurrency = 1
    connection.save()
    already, *ids = queued(connection, 4)
    services.operations_claim(operation_ids=[already])
    sent = sent_messages(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=ids)
    assert [(group, countdown is None) for group, countdown in sent] == [(ids, False)]  # back at its time

    connection.max_concurrency = None
    connection.save()
    Operation.objects.filter(pk__in=ids).update(next_attempt_at=None)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=ids)
    assert sent == [(ids, None)]  # all of them, in a message of up to EXECUTE_GROUP_MAX


def test_a_capped_connections_free_slots_are_sent_in_smaller_groups_the_others_in_big_ones(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    """Each message sent to a capped connection is a chain through its slots (its successes wake
    as many waiting ones, which its thread runs next): smaller ones than an uncapped connection's,
    so that several chains share its slots. An uncapped connection's operations go in as few
    messages as they fill."""
    from provisioning.models import Connection
    from provisioning.services.messages import EXECUTE_GROUP_MAX, SLOT_GROUP_MAX

    uncapped = Connection.objects.get(pk=connection.pk)
    uncapped.pk, uncapped.name = None, "uncapped"
    uncapped.save()
    connection.max_concurrency = 20
    connection.save()
    capped_ids, free_ids = queued(connection, 20), queued(uncapped, 40)
    sent = sent_messages(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=sorted(capped_ids + free_ids))

    assert all(countdown is None for _, countdown in sent)
    assert sent == [(free_ids[:EXECUTE_GROUP_MAX], None), (free_ids[EXECUTE_GROUP_MAX:], None),
                    (capped_ids[:16], None), (capped_ids[16:], None)]
    assert SLOT_GROUP_MAX == 16 < EXECUTE_GROUP_MAX < 40


def test_a_capped_batch_goes_through_its_slots_without_a_claim_refused(
    connection, http, eager, monkeypatch, django_capture_on_commit_callbacks
):
    """Run eagerly (a message runs when sent, a countdown not waited for): the two sent first end
    and wake the next two, and so on; no claim is refused, as each woken one has its slot."""
    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    connection.max_concurrency = 2
    connection.save()
    waits = []
    wait_for_slot = slots.operations_wait_for_slot
    monkeypatch.setattr(slots, "operations_wait_for_slot", lambda groups, now, **kwargs: (
        waits.append(sorted(sum(groups, []))), wait_for_slot(groups, now, **kwargs)))

    with django_capture_on_commit_callbacks(execute=True):
        batch = services.batch_create(connection=connection, members=list(Member.objects.bulk_create(
            Member(email=f"b{i}@example.org") for i in range(10))), requested_by=STAFF)

    ids = sorted(batch.operations.values_list("pk", flat=True))
    assert waits == [ids[2:]]  # once, when sent: never at a claim
    assert set(batch.operations.values_list("status", flat=True)) == {OperationStatus.SUCCEEDED}
    assert set(batch.operations.values_list("attempts", flat=True)) == {1}
    assert set(Account.objects.values_list("status", flat=True)) == {AccountStatus.ACTIVE}


def test_only_queued_operations_are_kept_waiting(connection):
    """One cancelled (or already sent by the sweeper) between its batch and its dispatch is not
    given a wait: its message finds it not ours to run."""
    connection.max_concurrency = 1
    connection.save()
    first, cancelled, third = queued(connection, 3)
    services.operation_cancel(operation=Operation.objects.get(pk=cancelled), requested_by=STAFF)

    assert slots.operations_beyond_free_slots(slots.capped_rows([first, cancelled, third]), timezone.now()) == {
        third: (connection.pk, 1)}


def test_a_later_chunk_of_a_batch_waits_behind_the_ones_already_waiting(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    """A batch's chunks are sent one by one: the second one's operations are placed behind the
    first one's in the queue (a turn of 100 s here, for the jitter of a few seconds not to matter)."""
    monkeypatch.setattr(slots, "TURN_SECONDS", 100.0)
    connection.max_concurrency = 2
    connection.save()
    already, *ids = queued(connection, 11)
    services.operations_claim(operation_ids=[already, ids[0]])  # full
    sent = sent_messages(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=ids[1:5])  # a first chunk: 4 wait
        operations.operations_dispatch(operation_ids=ids[5:])  # a second one: 5 more, behind them

    assert [(group, countdown is None) for group, countdown in sent] == [(ids[1:5], False), (ids[5:], False)]
    times = dict(Operation.objects.filter(pk__in=ids[1:]).values_list("pk", "next_attempt_at"))
    first, second = times[ids[1]].timestamp(), times[ids[5]].timestamp()
    turns = 4 / 2 * 100  # 4 ahead, 2 slots
    assert turns - slots.CONCURRENCY_WAIT_SECONDS <= second - first <= turns + slots.CONCURRENCY_WAIT_SECONDS


@pytest.mark.parametrize("second_chunk_first", [False, True])
def test_the_chunks_of_a_batch_dispatched_at_the_same_time_share_the_free_slots(
    connection, monkeypatch, django_capture_on_commit_callbacks, second_chunk_first
):
    """Two workers dispatch a batch's two chunks at once: whichever comes first, the free slots
    go to the lowest ids, once. Those sent and not claimed yet count as taking theirs (before,
    each chunk sent as many as the slots free, and the claim refused the second lot)."""
    connection.max_concurrency = 2
    connection.save()
    ids = queued(connection, 10)
    chunks = [ids[:5], ids[5:]]
    sent = sent_messages(monkeypatch)
    for chunk in reversed(chunks) if second_chunk_first else chunks:
        with django_capture_on_commit_callbacks(execute=True):
            operations.operations_dispatch(operation_ids=chunk)

    sent_now = sorted(sum((group for group, countdown in sent if countdown is None), []))
    assert sent_now == ids[:2]
    assert set(Operation.objects.filter(pk__in=ids[2:]).values_list("status", flat=True)) == {OperationStatus.QUEUED}
    assert not Operation.objects.filter(pk__in=ids[2:], next_attempt_at__lte=timezone.now()).exists()


def test_the_sweeper_counts_those_sent_and_not_claimed_yet_as_taking_their_slots(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    connection.max_concurrency = 3
    connection.save()
    running, due, *ids = queued(connection, 7)
    services.operations_claim(operation_ids=[running])  # one slot taken, one due to be (its message on the way)
    with django_capture_on_commit_callbacks(execute=True):
        slots.operations_wait_for_slot([ids], timezone.now(), later=[600.0])
    sent = sent_messages(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        slots.connections_wake_free_slots()
    assert [len(group) for group, _ in sent] == [1]


def test_the_sweeper_wakes_a_queue_whose_slots_are_free_and_nobody_wakes(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    """Say the worker running the connection's operations died mid-chain, and their leases have
    ended: nothing runs, and 6 wait for their time. The sweeper wakes as many as the cap (3), no
    more; and none while the slots are full."""
    connection.max_concurrency = 3
    connection.save()
    running, *ids = queued(connection, 7)
    services.operations_claim(operation_ids=[running])
    with django_capture_on_commit_callbacks(execute=True):
        slots.operations_wait_for_slot([ids], timezone.now(), later=[600.0])
    sent = sent_messages(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        slots.connections_wake_free_slots()
    assert [len(group) for group, _ in sent] == [2]  # 3 slots, one running

    services.operations_claim(operation_ids=sent[0][0])  # now full
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert slots.connections_wake_free_slots() == 0
    assert sent == []

    Operation.objects.filter(status=OperationStatus.RUNNING).update(lease_expires_at=timezone.now())  # they died
    with django_capture_on_commit_callbacks(execute=True):
        assert services.operations_sweep() >= 3
    assert sorted(sum((group for group, _ in sent), [])) == ids[2:5]


def test_the_sweeper_puts_back_in_the_queue_those_past_their_time_while_the_slots_are_full(
    connection, eager, monkeypatch, django_capture_on_commit_callbacks
):
    """A slow provider: the queue moves slower than its times said, and the sweeper finds waiting
    ones past their time. Sent as a batch's are, they are put back in the queue at once, without a
    message each to be refused at its claim."""
    connection.max_concurrency = 1
    connection.save()
    running, *ids = queued(connection, 3)
    services.operations_claim(operation_ids=[running])
    Operation.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now() - timedelta(seconds=1),
                                                dispatched_at=timezone.now() - timedelta(minutes=5))
    sent = sent_messages(monkeypatch)
    monkeypatch.setattr(tasks.operation_execute, "apply_async", lambda args, **kwargs: sent.append((args, None)))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.operations_sweep() == 2

    # one message at their time, the first group's, not one per operation to be refused now
    assert [(group, countdown is None) for group, countdown in sent] == [(ids, False)]
    assert all(op.next_attempt_at > timezone.now() and op.status == OperationStatus.QUEUED
               for op in Operation.objects.filter(pk__in=ids))
