"""A SnapTrade outage with 50 provisionings queued, on PostgreSQL + Redis with a real worker, beat
and the sandbox process: the connection is quarantined after the configured failures, its
operations are held instead of hammering the provider (fewer than 2 requests per operation reach
the sandbox during the outage), probes find the provider back, and all 50 accounts end active,
each registered exactly once.

Intervals are shortened through the workers' environment; the test asserts outcomes, never
timings.
"""

import pytest

from provisioning import services
from provisioning.models import Account, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus
from tests.integration.support import STAFF, wait_for

pytestmark = pytest.mark.integration

ACCOUNTS = 50
FAILURES = 5
SHORT = {
    "QUARANTINE_AFTER_FAILURES": str(FAILURES),
    "QUARANTINE_PROBE_MIN_SECONDS": "1",
    "QUARANTINE_PROBE_MAX_SECONDS": "2",
    "SWEEP_INTERVAL_SECONDS": "1",
    "OPERATION_BACKOFF_BASE_SECONDS": "0.2",
    "OPERATION_BACKOFF_MAX_SECONDS": "1",
}
REGISTER = "POST /snapTrade/registerUser"


def requests_seen(control) -> int:
    return control.state("snaptrade")["requests_total"]


def test_an_outage_quarantines_the_connection_and_every_provisioning_ends_once(
    snaptrade, celery_worker_process
):
    connection = snaptrade.connection
    snaptrade.control.faults("snaptrade", error_rate=1.0)  # 503 to everything
    celery_worker_process(concurrency=2, beat=True, env=SHORT)
    members = [Member.objects.create(email=f"outage-{n}@example.org") for n in range(ACCOUNTS)]

    services.batch_create(connection=connection, members=members, requested_by=STAFF)
    provisionings = Operation.objects.filter(connection=connection, kind=OperationKind.PROVISION)

    # the breaker trips after the configured failures, and every provisioning is held
    connection = wait_for(
        lambda: Connection.objects.filter(pk=connection.pk, quarantined_since__isnull=False).first(),
        "the connection to be quarantined",
    )
    assert connection.quarantine_reason.startswith(f"{FAILURES} calls failed in a row")
    wait_for(
        lambda: provisionings.filter(status=OperationStatus.HELD).count() == ACCOUNTS, "all 50 to be held"
    )
    # probes (health checks) keep looking, at their own pace, while nothing else is sent
    wait_for(
        lambda: Operation.objects.filter(connection=connection, kind=OperationKind.HEALTH_CHECK, probe=True).count()
        >= 2,
        "two probes",
    )
    during_outage = requests_seen(snaptrade.control)
    assert during_outage < 2 * ACCOUNTS, f"{during_outage} requests reached SnapTrade for {ACCOUNTS} operations"
    assert provisionings.filter(status=OperationStatus.HELD).count() == ACCOUNTS
    held = provisionings.filter(attempts__gt=0)
    assert all(op.retry_deadline is not None for op in held)

    # the provider is back: a probe lifts the quarantine and the held work resumes
    snaptrade.control.clear_faults("snaptrade")
    wait_for(
        lambda: provisionings.filter(status=OperationStatus.SUCCEEDED).count() == ACCOUNTS,
        "all 50 provisionings to succeed",
    )

    connection.refresh_from_db()
    assert connection.state == "active" and connection.consecutive_failures == 0
    accounts = Account.objects.filter(connection=connection)
    assert accounts.filter(status=AccountStatus.ACTIVE).count() == ACCOUNTS
    assert sorted(snaptrade.users()) == sorted(accounts.values_list("external_id", flat=True))
    assert snaptrade.counter(REGISTER).get("200") == ACCOUNTS  # each registered exactly once
