"""The portal's own servers fail in the middle of a run of 50 SnapTrade provisionings: Redis (the
broker) is stopped for 20 s and started again, empty, then PostgreSQL is restarted. Nothing is
lost and every operation finishes: the worker and beat reconnect to Redis, Django reconnects to
PostgreSQL (``CONN_HEALTH_CHECKS``), and beat's sweeper sends again what the empty Redis forgot.

The run must still be going when the servers go away, and after the 20 s without Redis: the
connection takes one operation at a time (``max_concurrency`` 1) and the sandbox answers after
800 ms, so that the 50 take about 40 s. (Without a cap, a worker takes them in two messages and
runs all 50 at once.) The operations waiting for the slot go on through it while Redis is down:
each success wakes the next in the worker's own thread, without the broker.
"""

import time

import pytest

from provisioning.models import Connection
from tests.integration.chaos_support import (
    RECOVERY_ENV,
    assert_each_registered_once,
    finished_count,
    provision_many,
    wait_all_finished,
)
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

PROVISIONINGS = 50
REDIS_OUTAGE_SECONDS = 20
RESTART_ENV = {
    **RECOVERY_ENV,
    "OPERATION_LEASE_SECONDS": "10",
    "OPERATION_REDISPATCH_AFTER_SECONDS": "5",
    "SWEEP_INTERVAL_SECONDS": "1",
}


def test_redis_down_for_20_s_and_postgres_restarted_lose_nothing(
    snaptrade, celery_worker_process, services_control, recovery_settings
):
    snaptrade.control.faults("snaptrade", latency_ms=800)
    Connection.objects.filter(pk=snaptrade.connection.pk).update(max_concurrency=1)
    worker = celery_worker_process(concurrency=2, beat=True, env=RESTART_ENV)
    operation_ids = provision_many(snaptrade, PROVISIONINGS, "restarts")

    wait_for(lambda: finished_count(operation_ids) >= 5, "a first few provisionings")
    services_control.redis_stop()
    time.sleep(REDIS_OUTAGE_SECONDS)
    services_control.redis_start()

    before = finished_count(operation_ids)
    assert before < PROVISIONINGS, "the run was over before PostgreSQL could be restarted"
    wait_for(lambda: finished_count(operation_ids) >= min(before + 3, PROVISIONINGS),
             "provisionings to go on once Redis is back")
    services_control.postgres_restart()

    wait_all_finished(operation_ids, timeout=120)
    assert worker.alive() and worker.beat.alive()
    assert_each_registered_once(snaptrade, operation_ids)
