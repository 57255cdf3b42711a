"""A message of several operations: claimed in one transaction within the connection's cap, their
provider calls made at the same time, their successes written together (as many statements for
eight as for two), and the worker thread goes on with the operations their freed slots woke."""

import json
import threading

import pytest
from django.db import connection as db
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, ExternalCall, Member, Operation
from provisioning.services import execution, slots
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

STAFF = services.Requester("test:staff")

pytestmark = pytest.mark.usefixtures("caps_count_operations")


def running_and_waiting(ids, cap):
    """The first ``cap`` of ``ids`` claimed, their lease then lost (for ``operations_execute`` to
    take them again), the others refused a slot: they wait to be woken."""
    services.operations_claim(operation_ids=ids[:cap])
    services.operations_claim(operation_ids=ids[cap:])
    Operation.objects.filter(pk__in=ids[:cap]).update(lease_expires_at=timezone.now())


def queued(connection, n, prefix="m"):
    accounts = [Account.objects.create(member=Member.objects.create(email=f"{prefix}{i}@example.org"),
                                       connection=connection) for i in range(n)]
    return [services.operation_request(kind="provision", account=a, requested_by=STAFF).pk for a in accounts]


def test_a_group_takes_only_its_connections_free_slots(connection, django_capture_on_commit_callbacks):
    connection.max_concurrency = 2
    connection.save()
    ids = queued(connection, 5)

    with django_capture_on_commit_callbacks() as callbacks:
        claimed = services.operations_claim(operation_ids=ids)

    assert [op.pk for op in claimed] == ids[:2]
    statuses = dict(Operation.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == [OperationStatus.RUNNING] * 2 + [OperationStatus.QUEUED] * 3
    refused = Operation.objects.filter(pk__in=ids[2:])
    assert all(op.next_attempt_at > timezone.now() and op.attempts == 0 for op in refused)
    assert list(Account.objects.order_by("pk").values_list("status", flat=True)) == (
        [AccountStatus.PROVISIONING] * 2 + [AccountStatus.PENDING] * 3)  # refused: nothing moved
    assert len(callbacks) == 1  # the refused wait to be woken, and come back together at their time


def test_a_group_takes_no_more_than_its_process_can_send_at_once(connection, settings, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    """With free slots to spare, a worker of 3 call threads claims 3 of a group of 5 and sends the
    other 2 on, in a message of their own, for another thread to claim."""
    from provisioning.services import messages

    settings.PROVISIONING = {**settings.PROVISIONING, "CALL_THREADS": 3}
    connection.max_concurrency = 20
    connection.save()
    ids = queued(connection, 5)
    sent = []
    monkeypatch.setattr(messages, "execute_messages_send", sent.extend)

    with django_capture_on_commit_callbacks(execute=True):
        claimed = services.operations_claim(operation_ids=ids)

    assert [op.pk for op in claimed] == ids[:3]
    assert sent == [(ids[3:], None)]
    statuses = dict(Operation.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == [OperationStatus.RUNNING] * 3 + [OperationStatus.QUEUED] * 2
    assert not Operation.objects.filter(pk__in=ids[3:], next_attempt_at__isnull=False).exists()  # not waiting


def answer_each_its_own(request):
    remote = json.loads(request.body)["id"]
    return 200, {}, json.dumps({"id": remote, "user_secret": f"secret-of-{remote}"})


def test_the_successes_of_a_group_cost_as_many_statements_for_eight_as_for_two(connection, http):
    http.add_callback("POST", f"{BASE}/users", callback=answer_each_its_own)
    two, eight = queued(connection, 2, "two"), queued(connection, 8, "eight")

    with CaptureQueriesContext(db) as for_two:
        services.operations_execute(operation_ids=two)
    with CaptureQueriesContext(db) as for_eight:
        services.operations_execute(operation_ids=eight)

    assert len(for_eight) == len(for_two)
    assert set(Operation.objects.values_list("status", flat=True)) == {OperationStatus.SUCCEEDED}
    assert set(Account.objects.values_list("status", flat=True)) == {AccountStatus.ACTIVE}
    assert ExternalCall.objects.count() == 10
    # each account's own answer, written in the one statement for all of them (encrypted)
    for account in Account.objects.all():
        assert account.secrets == {"user_secret": f"secret-of-{account.external_id}"}
        assert account.details == {"remote": account.external_id}


def test_a_worker_thread_goes_on_with_the_operations_its_successes_woke(connection, http):
    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    connection.max_concurrency = 2
    connection.save()
    ids = queued(connection, 7)
    running_and_waiting(ids, 2)

    services.operations_execute(operation_ids=ids[:2])  # two finish, wake two, and so on

    statuses = dict(Operation.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == [OperationStatus.SUCCEEDED] * 7


def test_past_its_time_a_worker_thread_sends_the_operations_it_woke(connection, http, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    """Past ``GO_ON_SECONDS`` the woken operations are not claimed by this thread: they go as a
    message, for other messages' turn, and stay queued until it runs."""
    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    monkeypatch.setattr(execution, "GO_ON_SECONDS", 0.0)
    connection.max_concurrency = 2
    connection.save()
    ids = queued(connection, 4)
    running_and_waiting(ids, 2)

    with django_capture_on_commit_callbacks() as callbacks:
        services.operations_execute(operation_ids=ids[:2])

    statuses = dict(Operation.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == [OperationStatus.SUCCEEDED] * 2 + [OperationStatus.QUEUED] * 2
    assert len(callbacks) == 1


def test_one_attempt_sends_the_operations_it_woke_as_a_message(connection, http, django_capture_on_commit_callbacks):
    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    connection.max_concurrency = 1
    connection.save()
    first, *waiting = queued(connection, 3)
    running_and_waiting([first, *waiting], 1)

    with django_capture_on_commit_callbacks() as callbacks:
        services.operation_execute(operation_id=first)

    statuses = dict(Operation.objects.values_list("pk", "status"))
    assert statuses[first] == OperationStatus.SUCCEEDED
    assert [statuses[pk] for pk in waiting] == [OperationStatus.QUEUED] * 2  # one of them sent
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_two_finishers_at_once_wake_different_operations(connection):
    """The operation another finisher's transaction has just woken (its row locked) is skipped."""
    if db.vendor != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: two finishers cannot overlap")
    connection.max_concurrency = 1
    connection.save()
    ids = queued(connection, 3)
    running_and_waiting(ids, 1)
    woken_by_the_other, locked, done = [], threading.Event(), threading.Event()

    def other_finisher():
        with transaction.atomic():
            woken_by_the_other.extend(slots.wake_next_waiting(connection.pk))
            locked.set()
            done.wait(10)
        db.close()

    other = threading.Thread(target=other_finisher)
    other.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():
            woken_here = slots.wake_next_waiting(connection.pk)
    finally:
        done.set()
        other.join()

    assert len(woken_by_the_other) == 1 and len(woken_here) == 1 and woken_here != woken_by_the_other


def test_an_attempt_logs_one_line_of_its_own_at_info_when_it_ends(connection, http, caplog):
    """Logging took about 6 % of a busy worker's CPU, at three lines per operation, and its threads
    queued for the log handler's lock: the start is DEBUG now, and the end names the attempt."""
    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    ids = queued(connection, 2)
    with caplog.at_level("INFO", logger="provisioning"):
        services.operations_execute(operation_ids=ids)
    lines = [record.getMessage() for record in caplog.records if record.name == execution.logger.name]
    assert lines == [f"operation end id={pk} kind=provision attempt=1 status=succeeded" for pk in ids]


def test_the_refused_of_two_full_connections_each_come_back_at_their_time(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    """A message of operations of two connections, both full: each connection's refused wait in
    its own queue, with their own message back at their time."""
    from provisioning import tasks
    from provisioning.models import Connection

    other = Connection.objects.get(pk=connection.pk)
    other.pk, other.name = None, "other"
    other.save()
    Connection.objects.filter(pk__in=[connection.pk, other.pk]).update(max_concurrency=1)
    mine, theirs = queued(connection, 2), queued(other, 2, prefix="o")
    services.operations_claim(operation_ids=[mine[0], theirs[0]])  # both full
    sent = []
    monkeypatch.setattr(tasks.operations_execute, "apply_async",
                        lambda args, countdown=None, **kwargs: sent.append((args[0], countdown)))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.operations_claim(operation_ids=[mine[1], theirs[1]]) == []

    assert sorted((ids, countdown is None) for ids, countdown in sent) == [([mine[1]], False), ([theirs[1]], False)]
