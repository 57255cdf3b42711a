"""Who may call what: 401 without credentials (with WWW-Authenticate), 403 without the exact
permission, and the permission alone is enough."""

import pytest

from provisioning.models import Operation
from provisioning.states import AccountStatus, OperationKind

from .conftest import account_in
from tests.conftest import pass_second_factor

LIST_URLS = ["/api/v1/connections/", "/api/v1/members/", "/api/v1/accounts/", "/api/v1/operations/", "/api/v1/batches/"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_unauthenticated_requests_get_401_with_a_token_challenge(client, db, url):
    response = client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_a_wrong_token_is_401(client, db):
    response = client.get("/api/v1/members/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "url, perm",
    [
        ("/api/v1/connections/", "provisioning.view_connection"),
        ("/api/v1/members/", "provisioning.view_member"),
        ("/api/v1/accounts/", "provisioning.view_account"),
        ("/api/v1/operations/", "provisioning.view_operation"),
        ("/api/v1/batches/", "provisioning.view_batch"),
    ],
)
def test_reading_needs_the_view_permission_of_the_model(make_client, url, perm):
    assert make_client().get(url).status_code == 403
    assert make_client(perm).get(url).status_code == 200


def test_writing_connections_needs_manage_connection(make_client, connection):
    body = {"name": "n", "provider": "kandy", "base_url": "http://x.test", "credentials": {"api_key": "k"}}
    without = make_client("provisioning.add_connection", "provisioning.change_connection", "provisioning.delete_connection")
    assert without.post("/api/v1/connections/", body, format="json").status_code == 403
    assert without.patch(f"/api/v1/connections/{connection.pk}/", {"enabled": False}, format="json").status_code == 403
    assert without.delete(f"/api/v1/connections/{connection.pk}/").status_code == 403
    assert without.post(f"/api/v1/connections/{connection.pk}/check/").status_code == 403

    with_manage = make_client(
        "provisioning.add_connection", "provisioning.change_connection", "provisioning.view_connection",
        "provisioning.manage_connection",
    )
    assert with_manage.post("/api/v1/connections/", body, format="json").status_code == 201
    assert with_manage.patch(f"/api/v1/connections/{connection.pk}/", {"enabled": False}, format="json").status_code == 200
    assert with_manage.post(f"/api/v1/connections/{connection.pk}/check/").status_code == 202


def test_creating_an_account_needs_provision_account(make_client, member, connection):
    body = {"member": member.pk, "connection": connection.pk}
    assert make_client("provisioning.add_account").post("/api/v1/accounts/", body, format="json").status_code == 403
    allowed = make_client("provisioning.add_account", "provisioning.provision_account")
    assert allowed.post("/api/v1/accounts/", body, format="json").status_code == 202


def test_account_actions_need_provision_account(make_client, account):
    url = f"/api/v1/accounts/{account.pk}/provision/"
    assert make_client("provisioning.view_account", "provisioning.change_account").post(url).status_code == 403
    assert make_client("provisioning.provision_account").post(url).status_code == 202


def test_deprovisioning_needs_deprovision_account(make_client, account):
    account_in(account, AccountStatus.ACTIVE)
    url = f"/api/v1/accounts/{account.pk}/"
    assert make_client("provisioning.delete_account", "provisioning.provision_account").delete(url).status_code == 403
    assert make_client("provisioning.deprovision_account").delete(url).status_code == 202


def test_reading_secrets_needs_view_account_secrets(make_client, account):
    url = f"/api/v1/accounts/{account.pk}/credentials/"
    assert make_client("provisioning.view_account", "provisioning.change_account").get(url).status_code == 403
    assert make_client("provisioning.view_account_secrets").get(url).status_code == 200


def test_batches_need_provision_account(make_client, member, connection):
    body = {"connection": connection.pk, "members": [member.pk]}
    assert make_client("provisioning.add_batch").post("/api/v1/batches/", body, format="json").status_code == 403
    allowed = make_client("provisioning.add_batch", "provisioning.provision_account")
    assert allowed.post("/api/v1/batches/", body, format="json").status_code == 202


def test_retrying_an_operation_needs_the_permission_of_its_kind(make_client, account):
    account_in(account, AccountStatus.ACTIVE)
    failed = Operation.objects.create(
        kind=OperationKind.DEPROVISION, status="failed", account=account, connection=account.connection,
        requested_by="test", error_code="rejected",
    )
    url = f"/api/v1/operations/{failed.pk}/retry/"
    provisioner = make_client("provisioning.view_operation", "provisioning.provision_account")
    assert provisioner.post(url).status_code == 403
    deprovisioner = make_client("provisioning.view_operation", "provisioning.deprovision_account")
    assert deprovisioner.post(url).status_code == 202


def test_cancelling_a_health_check_needs_manage_connection(make_client, connection):
    queued = Operation.objects.create(kind=OperationKind.HEALTH_CHECK, connection=connection, requested_by="test")
    url = f"/api/v1/operations/{queued.pk}/cancel/"
    assert make_client("provisioning.view_operation", "provisioning.provision_account").post(url).status_code == 403
    assert make_client("provisioning.view_operation", "provisioning.manage_connection").post(url).status_code == 200


def test_session_authentication_works_for_the_browsable_api(client, django_user_model, db):
    user = django_user_model.objects.create_superuser("staff", password="pw-for-tests-only")
    client.force_login(user)
    # a superuser's session counts only once past the second factor
    assert client.get("/api/v1/members/", HTTP_ACCEPT="application/json").status_code in (401, 403)
    pass_second_factor(client, user)
    response = client.get("/api/v1/members/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Member" in response.content
