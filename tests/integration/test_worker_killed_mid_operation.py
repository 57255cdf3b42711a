"""A worker killed (SIGKILL) in the middle of an operation: another worker finishes it after the
lease expires, and SnapTrade never gets the same user registered twice.

Two cases, as they can happen:
- the request had not been carried out when the worker died: the retry looks, finds no user,
  registers it once and the provisioning succeeds;
- SnapTrade carried it out, but its answer, the only copy of the user secret, died with the
  worker: the retry looks before it leaps, finds the user, does not register again, and asks a
  person to delete and re-provision, which then works.
"""

import time

import pytest

from provisioning import services
from provisioning.models import Operation
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

LEASE = {"OPERATION_LEASE_SECONDS": "3", "OPERATION_REDISPATCH_AFTER_SECONDS": "1"}
LATENCY_MS = 4000


def sweep_until_finished(operation_id: int) -> Operation:
    """Run the sweeper (as beat would) until the operation it re-dispatches is finished."""

    def finished():
        services.operations_sweep()
        operation = Operation.objects.get(pk=operation_id)
        return operation if operation.finished else None

    return wait_for(finished, f"operation {operation_id} to be finished by the second worker")


def kill_while_running(worker, operation_id: int) -> None:
    wait_for(lambda: Operation.objects.get(pk=operation_id).status == "running", "the first worker to start it")
    time.sleep(1.0)  # the request left at once; SnapTrade's answer is still seconds away
    worker.kill()
    worker.popen.wait(10)


def test_provision_killed_before_snaptrade_acted_is_completed_by_another_worker(
    api, snaptrade, celery_worker_process
):
    # SnapTrade holds the request without acting on it (then the client would time out)
    snaptrade.control.faults("snaptrade", fail_next=[{"timeout": True, "seconds": 4, "path": "registerUser"}])
    first = celery_worker_process(env=LEASE)
    account, operation = api.provision("killed-early@example.org", snaptrade.connection)

    kill_while_running(first, operation["id"])
    assert snaptrade.users() == []

    celery_worker_process(env=LEASE)
    finished = sweep_until_finished(operation["id"])

    assert (finished.status, finished.attempts) == ("succeeded", 2)
    assert snaptrade.users() == [account["external_id"]]
    assert snaptrade.counter("POST /snapTrade/registerUser").get("200") == 1
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "active" and account["secrets_set"] == ["user_secret"]


def test_provision_killed_mid_request_is_finished_by_another_worker_without_a_second_user(
    api, snaptrade, celery_worker_process
):
    snaptrade.control.faults("snaptrade", latency_ms=LATENCY_MS)
    first = celery_worker_process(env=LEASE)
    account, operation = api.provision("killed@example.org", snaptrade.connection)
    user_id = account["external_id"]

    kill_while_running(first, operation["id"])

    # SnapTrade still carries out the request the dead worker sent
    wait_for(lambda: snaptrade.users() == [user_id], "SnapTrade to register the user")
    snaptrade.control.clear_faults("snaptrade")
    running = Operation.objects.get(pk=operation["id"])
    assert (running.status, running.attempts) == ("running", 1)  # its worker is gone, the lease holds it

    celery_worker_process(env=LEASE)
    finished = sweep_until_finished(operation["id"])

    assert finished.attempts == 2
    assert (finished.status, finished.error_code) == ("failed", "needs_attention")
    assert snaptrade.users() == [user_id]
    assert snaptrade.counter("POST /snapTrade/registerUser") == {"200": 1}
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "failed" and account["secrets_set"] == []
    assert f"SnapTrade already has user {user_id}" in account["attention"]
    assert "never received its secret" in account["last_error"]["message"]

    # what the message asks a person to do: deprovision (delete remotely), then provision again
    deprovision = api.call("DELETE", f"accounts/{account['id']}/")
    assert api.operation(deprovision["id"])["status"] == "succeeded"
    snaptrade.control.clock(advance_seconds=60)  # SnapTrade finishes the queued deletion
    again = api.call("POST", f"accounts/{account['id']}/provision/")
    assert api.operation(again["id"])["status"] == "succeeded"
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "active" and account["secrets_set"] == ["user_secret"]
    assert snaptrade.listed_by_snaptrade() == [user_id]
