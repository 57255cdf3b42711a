"""Worker crashes at a provider whose creates can always be recognised: 300 provisionings at the
SCIM sandbox (scim2-server) while the worker is SIGKILLed and a new one started, three times.

Unlike SnapTrade (see test_worker_crashes.py), nothing a SCIM create returns is lost with a
killed worker: the retry looks before creating (``externalId eq ...``) and adopts the user the
dead attempt made. So every account ends active, with exactly one create per member and no
exception at all.
"""

import pytest

from provisioning import services
from provisioning.models import Account, Member, Operation
from tests.integration.chaos_support import RECOVERY_ENV, crash_workers_during, wait_all_finished

pytestmark = pytest.mark.integration

PROVISIONINGS = 300
KILLS = 3
CRASH_ENV = {
    **RECOVERY_ENV,
    "OPERATION_LEASE_SECONDS": "5",
    "OPERATION_REDISPATCH_AFTER_SECONDS": "10",
    "SWEEP_INTERVAL_SECONDS": "1",
}
CREATE = "POST /v2/Users"


def test_300_scim_provisionings_survive_three_worker_crashes_with_one_create_each(
    sandbox_process, sandbox_connection, celery_worker_process, recovery_settings
):
    connection = sandbox_connection("scim")
    worker = celery_worker_process(concurrency=4, beat=True, env=CRASH_ENV)
    members = Member.objects.bulk_create(Member(email=f"crash-{i}@scim.example.org") for i in range(PROVISIONINGS))
    services.batch_create(connection=connection, members=members, requested_by=services.Requester("test:chaos"))
    operation_ids = list(Operation.objects.filter(connection=connection, kind="provision").values_list("pk", flat=True))

    crash_workers_during(
        operation_ids, worker, lambda: celery_worker_process(concurrency=4, env=CRASH_ENV), kills=KILLS
    )
    wait_all_finished(operation_ids, timeout=150)

    not_succeeded = list(Operation.objects.filter(pk__in=operation_ids).exclude(status="succeeded")
                         .values_list("pk", "status", "error_code")[:5])
    assert not_succeeded == []
    accounts = Account.objects.filter(connection=connection)
    assert set(accounts.values_list("status", flat=True)) == {"active"}
    state = sandbox_process.state("scim")
    external_ids = [user["externalId"] for user in state["users"]]
    assert sorted(external_ids) == sorted(accounts.values_list("external_id", flat=True))
    assert int(state["counters"].get(CREATE, {}).get("201", 0)) == PROVISIONINGS  # one create each
