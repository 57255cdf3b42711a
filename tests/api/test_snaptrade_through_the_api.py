"""The real SnapTrade provider behind the API (its HTTP faked with ``responses``): a connection,
an account provisioned, its secret read back, a login link with SnapTrade's own options."""

import json

import pytest
import responses

from provisioning import services
from provisioning.models import Member

BASE = "https://snaptrade.test/api/v1"
CREDENTIALS = {"client_id": "PORTAL-TEST", "consumer_key": "consumer-key-0123456789"}


@pytest.fixture
def snaptrade(db):
    with responses.RequestsMock() as mock:
        yield mock


def account_created(client) -> dict:
    """A SnapTrade connection and a new member's account there, through the API; the answer of
    ``POST /accounts/`` (``account`` and its provisioning ``operation``)."""
    connection = client.post(
        "/api/v1/connections/",
        {"name": "SnapTrade", "provider": "snaptrade", "base_url": BASE, "credentials": CREDENTIALS},
        format="json",
    ).json()
    member = Member.objects.create(email="trader@example.org")
    return client.post(
        "/api/v1/accounts/", {"member": member.pk, "connection": connection["id"]}, format="json"
    ).json()


def test_login_link_options_are_checked_by_the_provider(admin_client_api, snaptrade):
    account = account_created(admin_client_api)["account"]
    from provisioning.models import Account

    Account.objects.filter(pk=account["id"]).update(status="active")
    Account.objects.get(pk=account["id"]).operations.update(status="succeeded")
    url = f"/api/v1/accounts/{account['id']}/login-link/"

    unknown = admin_client_api.post(url, {"colour": "red"}, format="json")
    bad = admin_client_api.post(url, {"connectionType": "write"}, format="json")
    not_an_object = admin_client_api.post(url, ["read"], format="json")

    assert unknown.status_code == 400 and "colour" in unknown.json()
    assert bad.status_code == 400 and bad.json()["connectionType"] == ["Choose one of: read, trade, trade-if-available."]
    assert not_an_object.status_code == 400


def test_snaptrade_connection_needs_client_id_and_consumer_key(admin_client_api, snaptrade):
    body = {"name": "SnapTrade", "provider": "snaptrade", "base_url": BASE, "credentials": {"client_id": "x"}}
    response = admin_client_api.post("/api/v1/connections/", body, format="json")
    assert response.status_code == 400
    assert "consumer_key" in " ".join(response.json()["credentials"])


def test_provision_read_secret_and_login_link(admin_client_api, snaptrade):
    created = account_created(admin_client_api)
    user_id = created["account"]["external_id"]
    assert user_id  # chosen before the first call

    snaptrade.post(f"{BASE}/snapTrade/registerUser", json={"userId": user_id, "userSecret": "USER-SECRET-42"})
    services.operation_execute(operation_id=created["operation"]["id"])
    operation = admin_client_api.get(f"/api/v1/operations/{created['operation']['id']}/").json()
    assert operation["status"] == "succeeded", operation["error"]
    assert "USER-SECRET-42" not in json.dumps(operation)
    account_url = f"/api/v1/accounts/{created['account']['id']}/"
    assert admin_client_api.get(account_url).json()["secrets_set"] == ["user_secret"]
    assert admin_client_api.get(f"{account_url}credentials/").json() == {"user_secret": "USER-SECRET-42"}

    snaptrade.post(
        f"{BASE}/snapTrade/login",
        json={"redirectURI": "https://app.snaptrade.test/redeem?token=t", "sessionId": "s-1"},
    )
    requested = admin_client_api.post(
        f"{account_url}login-link/", {"connectionType": "read", "immediateRedirect": True}, format="json"
    )
    assert requested.status_code == 202, requested.json()
    services.operation_execute(operation_id=requested.json()["id"])
    link = admin_client_api.get(requested["Location"]).json()
    assert link["result"]["redirect_uri"] == "https://app.snaptrade.test/redeem?token=t"
    sent = json.loads(snaptrade.calls[-1].request.body)
    assert sent == {"connectionType": "read", "immediateRedirect": True}


def test_snaptrade_rejects_options_its_provider_does_not_know(admin_client_api, snaptrade, member):
    from provisioning.models import Account, Connection

    connection = Connection.objects.create(provider="snaptrade", name="s", base_url=BASE, credentials=CREDENTIALS)
    account = Account.objects.create(member=member, connection=connection, status="active")
    response = admin_client_api.post(
        f"/api/v1/accounts/{account.pk}/login-link/", {"reconnect": "not-a-uuid"}, format="json"
    )
    assert response.status_code == 400
    assert "reconnect" in response.json()
