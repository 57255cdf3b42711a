"""The API of "when providers fail" (v1.1): a connection's state and quarantine, retrying now,
held operations, confirming what the mass-deletion guard held, and the /metrics gauges."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.api.conftest import account_in

STAFF = services.Requester("test:staff")
MANAGE = ("provisioning.view_connection", "provisioning.change_connection", "provisioning.manage_connection")


@pytest.fixture
def small_guard(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "MASS_DELETION_MIN_ACCOUNTS": 2, "MASS_DELETION_FRACTION": 0.1}


def active_accounts(connection, n):
    return [
        Account.objects.create(
            member=Member.objects.create(email=f"a{i}@example.org"), connection=connection,
            status=AccountStatus.ACTIVE, external_id=f"remote-{i}",
        )
        for i in range(n)
    ]


# --- connections -----------------------------------------------------------------------------------

def test_a_connection_shows_its_state_and_quarantine(admin_client_api, connection):
    body = admin_client_api.get(f"/api/v1/connections/{connection.pk}/").json()
    assert (body["state"], body["quarantined_since"], body["quarantine_reason"], body["next_probe_at"]) == (
        "active", None, None, None  # null unless quarantined, as the contract says
    )
    assert body["retry_horizon_hours"] == 24

    services.connection_quarantine(connection=connection, reason="maintenance", requested_by=STAFF)
    body = admin_client_api.get(f"/api/v1/connections/{connection.pk}/").json()
    assert body["state"] == "quarantined" and body["quarantined_since"]
    assert body["quarantine_reason"] == "Quarantined by test:staff: maintenance"

    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    assert admin_client_api.get(f"/api/v1/connections/{connection.pk}/").json()["state"] == "disabled"


def test_the_retry_horizon_is_writable_and_the_state_is_not(make_client, connection):
    client = make_client(*MANAGE)

    response = client.patch(
        f"/api/v1/connections/{connection.pk}/", {"retry_horizon_hours": 48, "state": "quarantined"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["retry_horizon_hours"] == 48 and response.json()["state"] == "active"
    bad = client.patch(f"/api/v1/connections/{connection.pk}/", {"retry_horizon_hours": 0}, format="json")
    assert bad.status_code == 400 and "retry_horizon_hours" in bad.json()


def test_staff_quarantine_and_lift_through_the_api(make_client, connection, account):
    client = make_client(*MANAGE)

    response = client.post(f"/api/v1/connections/{connection.pk}/quarantine/", {"reason": "provider incident"},
                           format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "quarantined"
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    assert operation.status == OperationStatus.HELD
    assert client.post(f"/api/v1/connections/{connection.pk}/quarantine/", {}, format="json").status_code == 409

    response = client.post(f"/api/v1/connections/{connection.pk}/lift-quarantine/", format="json")
    assert response.status_code == 200 and response.json()["state"] == "active"
    assert Operation.objects.get(pk=operation.pk).status == OperationStatus.QUEUED
    again = client.post(f"/api/v1/connections/{connection.pk}/lift-quarantine/", format="json")
    assert again.status_code == 409 and again.json()["code"] == "not_quarantined"


def test_quarantining_needs_manage_connection(make_client, connection):
    client = make_client("provisioning.view_connection", "provisioning.change_connection")
    assert client.post(f"/api/v1/connections/{connection.pk}/quarantine/", {}, format="json").status_code == 403
    assert client.post(f"/api/v1/connections/{connection.pk}/lift-quarantine/").status_code == 403
    assert Connection.objects.get(pk=connection.pk).state == "active"


# --- operations ------------------------------------------------------------------------------------

def test_retry_now_answers_200_with_the_same_operation(admin_client_api, account):
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    later = timezone.now() + timedelta(minutes=9)
    Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.WAITING_RETRY, next_attempt_at=later)

    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/retry/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == operation.pk and body["status"] == "waiting_retry"
    assert body["next_attempt_at"] < later.isoformat().replace("+00:00", "Z")


def test_retrying_a_failed_operation_still_creates_a_new_one(admin_client_api, account):
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.FAILED)

    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/retry/")

    assert response.status_code == 202 and response.json()["id"] != operation.pk


def test_a_held_operation_shows_why_and_can_be_cancelled(admin_client_api, connection, account):
    services.connection_quarantine(connection=connection, reason="maintenance", requested_by=STAFF)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    body = admin_client_api.get(f"/api/v1/operations/{operation.pk}/").json()
    assert (body["status"], body["hold_reason"], body["needs_confirmation"]) == (
        "held", "Its connection is quarantined.", False
    )
    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


# --- the mass-deletion guard -----------------------------------------------------------------------

def test_deprovisions_beyond_the_threshold_wait_for_a_confirmation(make_client, connection, small_guard):
    client = make_client("provisioning.deprovision_account", "provisioning.view_operation")
    accounts = active_accounts(connection, 4)

    answers = [client.delete(f"/api/v1/accounts/{a.pk}/") for a in accounts]

    assert [a.status_code for a in answers] == [202] * 4
    assert [a.json()["status"] for a in answers] == ["queued", "queued", "held", "held"]
    held = answers[2].json()
    assert held["needs_confirmation"] is True
    assert held["hold_reason"] == (
        "awaiting confirmation: 3 deprovisions at fake in the last hour is more than the 2 allowed "
        "without a person's confirmation"
    )
    assert Account.objects.get(pk=accounts[2].pk).status == AccountStatus.ACTIVE  # nothing happened


def test_confirming_needs_the_deprovision_permission(make_client, connection, small_guard):
    accounts = active_accounts(connection, 3)
    for account in accounts:
        operation = services.operation_request(kind="deprovision", account=account, requested_by=STAFF)
    assert operation.status == OperationStatus.HELD

    provisioner = make_client("provisioning.provision_account", "provisioning.view_operation")
    assert provisioner.post(f"/api/v1/operations/{operation.pk}/confirm/").status_code == 403

    client = make_client("provisioning.deprovision_account", "provisioning.view_operation")
    response = client.post(f"/api/v1/operations/{operation.pk}/confirm/")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["needs_confirmation"]) == ("queued", False)
    assert Operation.objects.get(pk=operation.pk).confirmed_by.startswith("api:")
    again = client.post(f"/api/v1/operations/{operation.pk}/confirm/")
    assert again.status_code == 409


def test_retry_now_does_not_skip_a_confirmation(admin_client_api, connection, small_guard):
    for account in active_accounts(connection, 3):
        operation = services.operation_request(kind="deprovision", account=account, requested_by=STAFF)

    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/retry/")

    assert response.status_code == 409 and response.json()["code"] == "needs_confirmation"


def test_the_threshold_grows_with_the_connection(connection, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "MASS_DELETION_MIN_ACCOUNTS": 2, "MASS_DELETION_FRACTION": 0.5}
    active_accounts(connection, 10)
    account_in(Account.objects.first(), AccountStatus.DEPROVISIONED)  # not counted

    assert services.mass_deletion_threshold(connection) == 4  # half of 9, rounded down
    assert services.mass_deletion_reason(connection, 4) is None
    assert services.mass_deletion_reason(connection, 5).startswith("awaiting confirmation: 5 deprovisions")


# --- /metrics --------------------------------------------------------------------------------------

def test_metrics_show_quarantined_connections_and_held_operations(client, connection, account, no_delete_connection, settings):
    settings.METRICS_CONNECTION_NAMES = True  # (loopback caller, nothing configured: allowed)
    services.connection_quarantine(connection=connection, reason="maintenance", requested_by=STAFF)
    services.operation_request(kind="provision", account=account, requested_by=STAFF)

    text = client.get("/metrics").content.decode()

    assert f'portal_connection_quarantined{{connection_id="{connection.pk}",connection="fake"}} 1' in text
    assert f'portal_connection_quarantined{{connection_id="{no_delete_connection.pk}",connection="no delete"}} 0' in text
    assert f'portal_operations_held{{connection_id="{connection.pk}",connection="fake",awaiting="quarantine"}} 1' in text
