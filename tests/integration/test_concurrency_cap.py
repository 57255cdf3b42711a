"""A connection's concurrency cap holds across a worker's slots, and every capped operation ends."""

from provisioning import services
from provisioning.models import Account, ExternalCall, Member, Operation
from provisioning.states import OperationStatus
from tests.integration.support import STAFF, wait_until_finished


def most_calls_in_flight(connection) -> int:
    """The largest number of recorded HTTP exchanges of the connection that overlapped."""
    from datetime import timedelta

    spans = [
        (call.created_at - timedelta(milliseconds=call.duration_ms), call.created_at)
        for call in ExternalCall.objects.filter(connection=connection)
    ]
    return max(sum(1 for s, e in spans if s < end and start < e) for start, end in spans)


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
