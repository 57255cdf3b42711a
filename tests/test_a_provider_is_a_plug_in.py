"""A provider is a plug-in: a module of its own, installed by the setting alone.

``tests/plugins/parcel_lockers.py`` is known to no other file. Listed in
``PROVISIONING["PROVIDERS"]``, it appears in the API's provider list and in the admin with its
credentials, settings and inputs, and a member's account goes through it end to end: created
through the API, provisioned by the (eager) worker against its HTTP API (faked), verified with
the PIN typed in the admin, refused with its own message in both interfaces.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from provisioning.models import Account, Connection, Member, Operation

PLUGIN = "tests.plugins.parcel_lockers.ParcelLockersProvider"
BASE_URL = "https://lockers.test/api"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def installed(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "PROVIDERS": [*settings.PROVISIONING["PROVIDERS"], PLUGIN]}


def test_it_is_listed_with_what_it_takes(admin_api):
    listed = {p["kind"]: p for p in admin_api.get("/api/v1/providers/").json()["results"]}

    lockers = listed["parcel_lockers"]
    assert lockers["label"] == "Parcel lockers"
    assert [c["name"] for c in lockers["credentials"]] == ["api_key"] and lockers["credentials"][0]["secret"]
    assert lockers["settings"][0]["choices"] == ["north", "south"]
    verify = next(op for op in lockers["operations"] if op["kind"] == "verify")
    assert verify["input"] == [
        {"name": "pin", "label": "PIN", "type": "string", "required": True, "secret": True,
         "help_text": "The PIN texted to the member.", "pattern": r"\d{4}"}
    ]
    assert admin_api.get("/api/v1/providers/parcel_lockers/").json()["kind"] == "parcel_lockers"
    assert lockers["receives_webhooks"] is False and listed["snaptrade"]["receives_webhooks"] is True
    # the words the admin's buttons use where a provider words an operation for a state
    xhoppe = {op["kind"]: op for op in listed["xhoppe"]["operations"]}
    assert xhoppe["reset_password"]["label_when"] == {"awaiting_verification": "Send a new SMS code"}
    assert verify["label_when"] == {}


def test_the_admin_configures_it_with_its_own_inputs(admin_client):
    chooser = admin_client.get(reverse("admin:provisioning_connection_add"))
    assert b"?provider=parcel_lockers" in chooser.content

    response = admin_client.post(
        reverse("admin:provisioning_connection_add") + "?provider=parcel_lockers",
        {"name": "Lockers", "base_url": BASE_URL, "enabled": "on", "credential_api_key": "K-123", "setting_region": "north"},
    )

    assert response.status_code == 302
    connection = Connection.objects.get(name="Lockers")
    assert (connection.provider, connection.credentials, connection.settings) == (
        "parcel_lockers", {"api_key": "K-123"}, {"region": "north"}
    )


def test_an_account_goes_through_it_end_to_end(admin_api, admin_client, http, eager):
    connection = Connection.objects.create(
        provider="parcel_lockers", name="Lockers", base_url=BASE_URL, credentials={"api_key": "K-123"}
    )
    member = Member.objects.create(email="jane@example.org")
    http.post(f"{BASE_URL}/members", json={"id": 77}, status=201)

    created = admin_api.post("/api/v1/accounts/", {"member": member.pk, "connection": connection.pk}, format="json")

    assert created.status_code == 202, created.json()
    account = Account.objects.get(pk=created.json()["account"]["id"])
    assert (account.status, account.external_id) == ("awaiting_verification", "77")
    assert http.calls[0].request.headers["X-Api-Key"] == "K-123"

    # the admin's verify page asks for exactly what the provider declares; a bad PIN is refused
    # with the provider's own message, in the admin and in the API alike
    url = reverse("admin:provisioning_account_request", args=[account.pk, "verify"])
    page = admin_client.get(url)
    assert list(page.context["form"].fields) == ["pin"]
    refused = admin_client.post(url, {"pin": "12a4"})
    assert refused.context["form"].errors == {"pin": ["The PIN is 4 digits."]}
    assert admin_api.post(f"/api/v1/accounts/{account.pk}/verify/", {"pin": "12a4"}, format="json").json() == {
        "pin": ["The PIN is 4 digits."]
    }

    http.post(f"{BASE_URL}/members/77/pin", json={"ok": True})
    assert admin_client.post(url, {"pin": "1234"}).status_code == 302

    account.refresh_from_db()
    assert account.status == "active"
    verify = Operation.objects.get(account=account, kind="verify")
    assert (verify.status, verify.input, verify.secret_input) == ("succeeded", {}, {"pin": "1234"})
    assert "1234" not in verify.calls.get().request_body  # secret input never reaches a record


def test_without_the_setting_it_is_not_installed(admin_api, settings):
    settings.PROVISIONING = {
        **settings.PROVISIONING,
        "PROVIDERS": [p for p in settings.PROVISIONING["PROVIDERS"] if p != PLUGIN],
    }

    kinds = [p["kind"] for p in admin_api.get("/api/v1/providers/").json()["results"]]
    assert "parcel_lockers" not in kinds
    refused = admin_api.post(
        "/api/v1/connections/",
        {"name": "Lockers", "provider": "parcel_lockers", "base_url": BASE_URL, "credentials": {"api_key": "K"}},
        format="json",
    )
    assert refused.status_code == 400 and "provider" in refused.json()


def test_the_five_built_in_providers_are_listed_for_signed_in_users_only(admin_api):
    listed = admin_api.get("/api/v1/providers/").json()["results"]

    assert [p["kind"] for p in listed][:5] == ["snaptrade", "kandy", "xhoppe", "flyve", "scim"]
    flyve = next(p for p in listed if p["kind"] == "flyve")
    validate = next(op for op in flyve["operations"] if op["kind"] == "validate")
    assert [f["name"] for f in validate["input"]] == ["link", "validation_id", "token"]
    assert {op["kind"]: op["permission"] for op in flyve["operations"]}["health_check"] == "provisioning.manage_connection"
    assert APIClient().get("/api/v1/providers/").status_code == 401
