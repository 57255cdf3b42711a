"""A connection's concurrency cap holds across a worker's slots, and every capped operation ends."""

from provisioning import services
from provisioning.models import Account, ExternalCall, Member, Operation
from provisioning.states import OperationStatus
from tests.integration.support import STAFF, wait_until_finished


def most_calls_in_flight(connection) -> int:
    """The most recorded HTTP exchanges of the connection out at one instant (an exchange that
    ended at the instant another started does not count with it)."""
    from datetime import timedelta

    events = []
    for call in ExternalCall.objects.filter(connection=connection):
        events += [(call.created_at - timedelta(milliseconds=call.duration_ms), 1), (call.created_at, -1)]
    out = most = 0
    for _, step in sorted(events):  # at equal times the end (-1) comes first
        out += step
        most = max(most, out)
    return most


def test_capped_operations_all_finish_without_exceeding_the_cap(
    sandbox_process, sandbox_connection, celery_worker_process
):
    connection = sandbox_connection("snaptrade")
    connection.max_concurrency = 1
    connection.save()
    sandbox_process.faults("snaptrade", latency_ms=300)
    celery_worker_process(concurrency=3)

    for n in range(4):
        member = Member.objects.create(email=f"capped-{n}@example.org")
        services.account_create(member=member, connection=connection, requested_by=STAFF)

    operations = [wait_until_finished(op) for op in Operation.objects.filter(connection=connection)]

    assert [op.status for op in operations] == [OperationStatus.SUCCEEDED] * 4
    assert Account.objects.filter(connection=connection, status="active").count() == 4
    assert most_calls_in_flight(connection) == 1


def test_the_cap_holds_across_many_threads_of_two_workers(sandbox_process, sandbox_connection, celery_worker_process):
    """The default pool (threads, many per process) in two worker processes: claims race in
    parallel on PostgreSQL, and still no more than the cap are ever out at once."""
    connection = sandbox_connection("snaptrade")
    connection.max_concurrency = 3
    connection.save()
    sandbox_process.faults("snaptrade", latency_ms=200)
    for _ in range(2):
        celery_worker_process(concurrency=12, pool="threads")
    members = Member.objects.bulk_create(Member(email=f"threaded-{n}@example.org") for n in range(24))

    services.batch_create(connection=connection, members=members, requested_by=STAFF)

    operations = [wait_until_finished(op) for op in Operation.objects.filter(connection=connection)]
    assert [op.status for op in operations] == [OperationStatus.SUCCEEDED] * 24
    assert most_calls_in_flight(connection) == 3
