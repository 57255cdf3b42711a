"""A batch's progress (its page, the API's batch and batch list) is counted by the database: one
grouped query, a row per batch and status, however many operations the batches have; each
account counts once, by its latest operation in the batch."""

from django.db import connection as database
from django.test.utils import CaptureQueriesContext

from provisioning import selectors
from provisioning.models import Account, Batch, Connection, Member, Operation


def a_batch(connection, statuses_by_account: list[list[str]], *, without_account: list[str] = ()) -> Batch:
    """A batch whose n-th account had the n-th list of operations in it, in order."""
    batch = Batch.objects.create(connection=connection, requested_by="test")
    for n, statuses in enumerate(statuses_by_account):
        member = Member.objects.create(email=f"b{batch.pk}-{n}@example.org")
        account = Account.objects.create(member=member, connection=connection)
        for status in statuses:
            Operation.objects.create(kind="provision", status=status, account=account, connection=connection,
                                     batch=batch, requested_by="test")
    for status in without_account:
        Operation.objects.create(kind="health_check", status=status, connection=connection, batch=batch,
                                 requested_by="test")
    return batch


def test_each_account_counts_once_by_its_latest_operation_in_the_batch(db):
    connection = Connection.objects.create(provider="snaptrade", name="progress")
    retried = a_batch(connection, [["failed", "succeeded"], ["failed", "queued"], ["failed"], ["succeeded"]],
                      without_account=["succeeded", "failed"])
    other = a_batch(connection, [["queued"]] * 3)
    empty = Batch.objects.create(connection=connection, requested_by="test")

    progress = selectors.batches_progress([retried, other, empty])

    assert progress[retried.pk] == {
        "total": 6, "counts": {"failed": 2, "queued": 1, "succeeded": 3}, "finished": False, "done": 5, "percent": 83,
    }
    assert progress[other.pk]["counts"] == {"queued": 3} and progress[other.pk]["done"] == 0
    assert progress[empty.pk] == {"total": 0, "counts": {}, "finished": True, "done": 0, "percent": 100}
    assert selectors.batch_progress(retried) == progress[retried.pk]


def test_the_progress_of_a_big_batch_is_one_grouped_query_not_its_rows(db):
    connection = Connection.objects.create(provider="snaptrade", name="big")
    batch = a_batch(connection, [["succeeded"]] * 40 + [["failed", "queued"]] * 20)
    with CaptureQueriesContext(database) as queries:
        progress = selectors.batch_progress(batch)
    assert progress["counts"] == {"queued": 20, "succeeded": 40}
    assert len(queries) == 1 and "GROUP BY" in queries[0]["sql"]  # a row per status, not per operation
