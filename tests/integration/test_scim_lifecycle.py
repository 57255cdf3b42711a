"""SCIM end to end: the API and services -> a real Celery worker -> scim2-server in the sandbox process.

PostgreSQL, Redis, the worker and the SCIM server are real; nothing is faked. Also: a user the
application already has is resolved by looking before creating (adopted only when its externalId
is ours), and a worker killed after its create reached the server leaves exactly one user.
"""

import time

import pytest
import requests

from provisioning import services
from provisioning.models import Member, Operation
from provisioning.providers.base import installation_id
from provisioning.sandbox.defaults import sandbox_credentials
from tests.integration.support import STAFF, wait_for, wait_until_finished

pytestmark = pytest.mark.integration

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LEASE = {"OPERATION_LEASE_SECONDS": "3", "OPERATION_REDISPATCH_AFTER_SECONDS": "1"}


class ScimSandbox:
    """The SCIM simulator of the sandbox process, and a portal connection pointing at it."""

    def __init__(self, control, connection):
        self.control = control
        self.connection = connection
        self.api = connection.base_url
        self.token = sandbox_credentials()["scim"]["bearer_token"]

    def users(self) -> list[dict]:
        return self.control.state("scim")["users"]

    def counter(self, route: str) -> dict:
        return self.control.state("scim")["counters"].get(route, {})

    def create(self, user_name: str, external_id: str | None = None) -> dict:
        """A user made at the application directly, not by the portal."""
        body = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True}
        if external_id:
            body["externalId"] = external_id
        answer = requests.post(f"{self.api}/Users", json=body, timeout=5,
                               headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status_code == 201, answer.text
        return answer.json()


@pytest.fixture
def scim(sandbox_process, sandbox_connection) -> ScimSandbox:
    return ScimSandbox(sandbox_process, sandbox_connection("scim"))


def test_provision_sync_health_reconcile_and_deprovision(api, scim, celery_worker_process):
    celery_worker_process()
    account, operation = api.provision("jane@example.org", scim.connection)

    assert api.operation(operation["id"])["status"] == "succeeded"
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "active"
    [user] = scim.users()
    assert user == {"id": account["details"]["scim_id"], "userName": "jane@example.org",
                    "externalId": account["external_id"], "active": True}

    sync = api.call("POST", f"accounts/{account['id']}/sync/")
    assert api.operation(sync["id"])["result"]["present_remotely"] is True

    check = api.call("POST", f"connections/{scim.connection.pk}/check/")
    assert api.operation(check["id"])["status"] == "succeeded"
    connection = api.call("GET", f"connections/{scim.connection.pk}/")
    assert connection["health"]["status"] == "ok"
    assert "Credentials accepted; 1 users. PATCH supported" in connection["health"]["detail"]

    scim.create("admin@example.org")  # made at the application: foreign to the portal
    reconcile = services.operation_request(kind="reconcile", connection=scim.connection, requested_by=STAFF)
    result = wait_until_finished(reconcile).result
    assert (result["remote_users"], result["missing_remotely"], result["foreign_remotely"]) == (2, [], 1)

    deprovision = api.call("DELETE", f"accounts/{account['id']}/")
    assert api.operation(deprovision["id"])["status"] == "succeeded"
    assert api.call("GET", f"accounts/{account['id']}/")["status"] == "deprovisioned"
    assert [(u["userName"], u["active"]) for u in scim.users() if u["externalId"]] == [("jane@example.org", False)]
    assert scim.counter("PATCH /v2/Users/<id>") == {"204": 1}


def test_a_user_the_application_already_has_is_resolved_by_looking_before_creating(scim, celery_worker_process):
    celery_worker_process()
    ours = Member.objects.create(email="jane@example.org", first_name="Jane")
    theirs = Member.objects.create(email="john@example.org", first_name="John")
    external_id = f"portal-{installation_id()}-m{ours.pk}-c{scim.connection.pk}"
    existing = scim.create("jane@example.org", external_id)  # an earlier attempt's, say
    scim.create("john@example.org")  # made by someone else: no externalId

    adopted, first = services.account_create(member=ours, connection=scim.connection, requested_by=STAFF)
    refused, second = services.account_create(member=theirs, connection=scim.connection, requested_by=STAFF)

    assert wait_until_finished(first).status == "succeeded"
    adopted.refresh_from_db()
    assert (adopted.status, adopted.external_id, adopted.details["scim_id"]) == ("active", external_id, existing["id"])
    assert first.result["adopted"] == "found by externalId"

    failed = wait_until_finished(second)
    assert (failed.status, failed.error_code) == ("failed", "needs_attention")
    refused.refresh_from_db()
    assert "already has a user john@example.org" in refused.attention and "no externalId" in refused.attention
    # one create was tried (John's, refused as not unique), and nobody got a second user
    assert scim.counter("POST /v2/Users") == {"201": 2, "409": 1}
    assert sorted(u["userName"] for u in scim.users()) == ["jane@example.org", "john@example.org"]


def test_exactly_one_user_when_the_worker_is_killed_after_its_create_reached_the_server(
    api, scim, celery_worker_process
):
    # the look goes through at once; the create is carried out but its answer held back
    scim.control.faults("scim", fail_next=[
        {"drop_after_processing": True, "seconds": 0, "path": "/Users"},
        {"drop_after_processing": True, "seconds": 5, "path": "/Users"},
    ])
    first = celery_worker_process(env=LEASE)
    account, operation = api.provision("killed@example.org", scim.connection)

    wait_for(lambda: scim.users(), "the SCIM server to create the user")
    first.kill()
    first.popen.wait(10)
    running = Operation.objects.get(pk=operation["id"])
    assert (running.status, running.attempts) == ("running", 1)  # its worker is gone, the lease holds it

    celery_worker_process(env=LEASE)

    def finished():
        services.operations_sweep()
        row = Operation.objects.get(pk=operation["id"])
        return row if row.finished else None

    done = wait_for(finished, "the second worker to finish the provisioning")
    assert (done.status, done.attempts) == ("succeeded", 2)
    assert done.result["adopted"] == "found by externalId"
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "active"
    assert [(u["userName"], u["externalId"]) for u in scim.users()] == [("killed@example.org", account["external_id"])]
    # the dead worker's create is counted once its held answer has gone out
    assert wait_for(lambda: scim.counter("POST /v2/Users"), "the held answer to be sent") == {"201": 1}
