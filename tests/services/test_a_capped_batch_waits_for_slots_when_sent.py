"""A batch bigger than its connection's free slots: the operations beyond them wait for a slot from
the moment they are sent (woken as slots free, else back at their time, a group per message),
rather than each being sent, claimed and refused."""

from django.utils import timezone

from provisioning import services, tasks
from provisioning.models import Account, Member, Operation
from provisioning.services import operations, slots
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

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
    connection.max_concurrency = 3
    connection.save()
    already, *ids = queued(connection, 21)
    services.operations_claim(operation_ids=[already])  # one slot of three is taken
    sent = sent_messages(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=ids)

    now_sent = [group for group, countdown in sent if countdown is None]
    assert now_sent == [ids[:2]]  # the two free slots, in one message
    later = [(group, countdown) for group, countdown in sent if countdown is not None]
    assert sorted(sum((group for group, _ in later), [])) == ids[2:]
    assert [len(group) for group, _ in later] == [8, 8, 2]  # a group per message
    assert all(0.5 * slots.CONCURRENCY_WAIT_SECONDS <= countdown <= 1.5 * slots.CONCURRENCY_WAIT_SECONDS
               for _, countdown in later)
    waiting = Operation.objects.filter(pk__in=ids[2:])
    assert {op.status for op in waiting} == {OperationStatus.QUEUED}
    assert all(op.next_attempt_at > timezone.now() and op.dispatched_at for op in waiting)
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
    assert [countdown is None for _, countdown in sent] == [False]

    connection.max_concurrency = None
    connection.save()
    Operation.objects.filter(pk__in=ids).update(next_attempt_at=None)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        operations.operations_dispatch(operation_ids=ids)
    assert sent == [([pk], None) for pk in ids]  # as many messages as there are: execute_groups


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
    monkeypatch.setattr(slots, "operations_wait_for_slot", lambda groups, now: (
        waits.append(sorted(sum(groups, []))), wait_for_slot(groups, now)))

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

    assert slots.operations_beyond_free_slots([first, cancelled, third], timezone.now()) == {third}
