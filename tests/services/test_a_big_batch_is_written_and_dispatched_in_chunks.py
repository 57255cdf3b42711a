"""A batch of thousands of members is read, written and dispatched chunk by chunk: a few queries
and a few broker messages per chunk, never per member, and every operation is still run once (by
the ``operations_execute`` tasks a worker expands the chunk's message into) or, if that message is
lost, sent again by the sweeper."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from provisioning import selectors, services, tasks
from provisioning.models import Account, ExternalCall, Member, Operation
from provisioning.services import messages, operations
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

STAFF = services.Requester("test:staff")


def members(n, prefix="m"):
    return Member.objects.bulk_create(Member(email=f"{prefix}{i}@example.org") for i in range(n))


def batch_queries(connection, chosen) -> list[str]:
    with CaptureQueriesContext(db) as queries:
        services.batch_create(connection=connection, members=chosen, requested_by=STAFF)
    return [query["sql"] for query in queries.captured_queries]


def test_the_queries_of_a_batch_do_not_grow_with_its_members(connection):
    small = batch_queries(connection, members(3, "a"))
    big = batch_queries(connection, members(120, "b"))
    assert len(big) == len(small)
    assert Operation.objects.filter(status=OperationStatus.QUEUED, dispatched_at__isnull=False).count() == 123


def test_members_are_read_and_written_chunk_by_chunk(connection, monkeypatch):
    monkeypatch.setattr(selectors, "BATCH_CHUNK", 10)
    chosen = members(35)
    inserts = [sql for sql in batch_queries(connection, chosen) if sql.startswith('INSERT INTO "provisioning_operation"')]
    assert len(inserts) == 4  # 10 + 10 + 10 + 5
    assert Account.objects.filter(connection=connection).count() == 35
    assert Account.objects.filter(external_id="").count() == 0  # each remote id chosen before the first call


def test_a_queryset_selection_is_queried_once_then_read_chunk_by_chunk(connection, monkeypatch):
    monkeypatch.setattr(selectors, "BATCH_CHUNK", 7)
    members(20)
    batch = services.batch_create(
        connection=connection, members=Member.objects.filter(email__endswith="example.org"), requested_by=STAFF
    )
    assert batch.preview.send_count == 20 and batch.operations.count() == 20


def test_the_quota_cuts_across_chunks(connection, monkeypatch):
    monkeypatch.setattr(selectors, "BATCH_CHUNK", 4)
    connection.max_accounts = 9
    connection.save()
    chosen = members(12)
    batch = services.batch_create(connection=connection, members=chosen, requested_by=STAFF)
    assert batch.operations.count() == 9 and batch.preview.over_quota_count == 3
    sent = set(Account.objects.values_list("member_id", flat=True))
    assert sent == {m.pk for m in chosen[:9]}  # the first ones in the selection


def test_a_batch_is_dispatched_in_a_few_messages_that_workers_expand_into_tasks_that_run_each_once(
    connection, http, eager, monkeypatch, django_capture_on_commit_callbacks
):
    from celery.signals import task_prerun

    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    monkeypatch.setattr(operations, "DISPATCH_CHUNK", 4)
    ran = []

    def record(sender=None, args=None, **kwargs):
        ran.append((sender.name.rsplit(".", 1)[-1], args[0]))  # (task, its list of ids)

    task_prerun.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            batch = services.batch_create(connection=connection, members=members(10), requested_by=STAFF)
    finally:
        task_prerun.disconnect(record)
    ids = sorted(batch.operations.values_list("pk", flat=True))
    chunks = [arg for name, arg in ran if name == "operations_dispatch"]
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    assert sorted(sum(chunks, [])) == ids
    assert sorted(sum((arg for name, arg in ran if name == "operations_execute"), [])) == ids  # each once
    assert batch.operations.filter(status=OperationStatus.SUCCEEDED).count() == 10
    assert set(Account.objects.values_list("status", flat=True)) == {AccountStatus.ACTIVE}


def test_operations_of_a_batch_whose_messages_were_lost_are_sent_again_by_the_sweeper_as_a_batch(
    connection, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        batch = services.batch_create(connection=connection, members=members(5), requested_by=STAFF)
    assert len(callbacks) == 1  # one callback sends the whole batch's messages; say the process died first
    batch.operations.update(dispatched_at=timezone.now() - timedelta(minutes=5))
    monkeypatch.setattr(operations, "DISPATCH_CHUNK", 2)
    sent = []
    monkeypatch.setattr(tasks.operations_dispatch, "apply_async", lambda args, **kwargs: sent.append(args[0]))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.operations_sweep() == 5

    ids = sorted(batch.operations.values_list("pk", flat=True))
    assert sent == [ids[:2], ids[2:4], ids[4:]]  # a message per DISPATCH_CHUNK, not one per operation
    assert not batch.operations.filter(dispatched_at__lt=timezone.now() - timedelta(minutes=1)).exists()
    assert services.operations_sweep() == 0  # just sent again: not on the next sweep


@pytest.mark.parametrize("quarantined", [False, True])
def test_a_batch_at_a_quarantined_connection_is_held_and_not_dispatched(
    connection, quarantined, django_capture_on_commit_callbacks
):
    if quarantined:
        connection.quarantined_since = timezone.now()
        connection.save()
    with django_capture_on_commit_callbacks() as callbacks:
        batch = services.batch_create(connection=connection, members=members(3), requested_by=STAFF)
    statuses = set(batch.operations.values_list("status", flat=True))
    assert statuses == ({OperationStatus.HELD} if quarantined else {OperationStatus.QUEUED})
    assert len(callbacks) == (0 if quarantined else 1)


@pytest.mark.parametrize(("count", "sizes"), [
    (1, [1]),
    # a small batch too: a message's calls go out at the same time, and its claim and write are
    # paid once for all of them (a message each cost 3 times the CPU for 10 to 50 operations)
    (10, [10]),
    (127, [32] * 3 + [31]),
    (500, [32] * 15 + [20]),
    (2000, [32] * 62 + [16]),  # never more than EXECUTE_GROUP_MAX in a message
])
def test_a_chunk_is_sent_as_messages_of_up_to_32_operations(count, sizes):
    groups = messages.execute_groups(list(range(count)))
    assert [len(group) for group in groups] == sizes
    assert sum(groups, []) == list(range(count))


def test_an_operation_that_breaks_does_not_stop_the_others_of_its_message(connection, http, monkeypatch):
    """The successes of a message are written together; when that breaks, one by one, and the one
    that breaks is left running for the sweeper (its lease ends) while the others finish."""
    from provisioning.services import execution

    http.post(f"{BASE}/users", json={"id": "remote", "user_secret": "s3cr3t-value-42"})
    batch = services.batch_create(connection=connection, members=members(3), requested_by=STAFF)
    first, second, third = batch.operations.order_by("pk")
    apply = execution._apply_outcome

    def apply_breaking_the_second(account, operation, outcome):
        if operation.pk == second.pk:
            raise RuntimeError("a bug in applying this outcome")
        return apply(account, operation, outcome)

    monkeypatch.setattr(execution, "_apply_outcome", apply_breaking_the_second)
    services.operations_execute(operation_ids=[first.pk, second.pk, third.pk])

    statuses = dict(batch.operations.values_list("pk", "status"))
    assert statuses == {first.pk: OperationStatus.SUCCEEDED, second.pk: OperationStatus.RUNNING,
                        third.pk: OperationStatus.SUCCEEDED}  # the second is the sweeper's, later
    assert ExternalCall.objects.filter(operation=second).count() == 0  # nothing half-written
    assert ExternalCall.objects.filter(operation__in=[first, third]).count() == 2
