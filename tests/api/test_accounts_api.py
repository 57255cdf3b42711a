"""Accounts: creation requests provisioning, DELETE deprovisions, and every account action of the
table requests its operation kind (secret input kept out of sight), runs through the real
pipeline, and is refused (409) when the state or the provider does not allow it."""

import json

import pytest

from provisioning import services
from provisioning.api.account_actions import ACCOUNT_ACTIONS
from provisioning.models import Account, Connection, Member, Operation, SecretAccess
from provisioning.providers.xhoppe import XhoppeProvider
from provisioning.states import OPERATION_SPECS, AccountStatus, OperationKind

from .conftest import JPEG, account_in

S = AccountStatus
TOKEN = "ab" * 32

# path -> (state it starts from, body, expected input, expected secret input, state after)
ACTIONS = {
    "provision": (S.FAILED, {}, {}, {}, S.ACTIVE),
    "verify": (S.AWAITING_VERIFICATION, {"code": "123456"}, {}, {"code": "123456"}, S.ACTIVE),
    "reset-password": (S.ACTIVE, {}, {}, {}, S.ACTIVE),
    "captcha": (S.AWAITING_CAPTCHA, {"answer": "k4m2z"}, {}, {"answer": "k4m2z"}, S.ACTIVE),
    "captcha/refresh": (S.AWAITING_CAPTCHA, {}, {}, {}, S.AWAITING_CAPTCHA),
    "validate": (
        S.AWAITING_VALIDATION, {"validation_id": 4, "token": TOKEN.upper()},
        {"validation_id": 4}, {"token": TOKEN}, S.ACTIVE,
    ),
    "login-link": (S.ACTIVE, {"connectionType": "read", "darkMode": True}, {"connectionType": "read", "darkMode": True}, {}, S.ACTIVE),
    "rotate-secret": (S.ACTIVE, {}, {}, {}, S.ACTIVE),
    "sync": (S.ACTIVE, {}, {}, {}, S.ACTIVE),
    "record-closed": (S.ACTIVE, {"how_it_was_closed": "Ticket 8812"}, {"how_it_was_closed": "Ticket 8812"}, {},
                      S.DEPROVISIONED),
}


def test_every_action_of_the_table_is_tested():
    assert {spec.path for spec in ACCOUNT_ACTIONS} == set(ACTIONS)


# --- list and detail ---------------------------------------------------------------------------

def test_list_filters_by_status_provider_connection_and_member(admin_client_api, account, no_delete_connection):
    other_member = Member.objects.create(email="o@example.org")
    other = Account.objects.create(member=other_member, connection=no_delete_connection, status=S.ACTIVE)

    def ids(query):
        response = admin_client_api.get(f"/api/v1/accounts/?{query}")
        assert response.status_code == 200, response.json()
        return [a["id"] for a in response.json()["results"]]

    assert ids("") == [other.pk, account.pk]  # newest first
    assert ids("status=active") == [other.pk]
    assert ids("provider=kandy") == [account.pk]
    assert ids(f"connection={no_delete_connection.pk}") == [other.pk]
    assert ids(f"member={account.member_id}") == [account.pk]
    assert ids("member=424242") == []


def test_list_filters_the_accounts_needing_a_person(admin_client_api, account, no_delete_connection):
    """v1.1: ``?needs_person=`` and ``needs_person``: awaiting a captcha, a code or a validation,
    failed, or flagged (``attention``), as the admin's filter and overview say."""
    made = {}
    for n, (status, attention) in enumerate(
        [(S.AWAITING_CAPTCHA, ""), (S.AWAITING_VERIFICATION, ""), (S.AWAITING_VALIDATION, ""), (S.FAILED, ""),
         (S.ACTIVE, "Drift: gone there"), (S.ACTIVE, ""), (S.DEPROVISIONED, "")]
    ):
        member = Member.objects.create(email=f"p{n}@example.org")
        made[n] = Account.objects.create(
            member=member, connection=no_delete_connection, status=status, attention=attention
        )
    account_in(account, S.ACTIVE)

    def ids(query):
        response = admin_client_api.get(f"/api/v1/accounts/?{query}")
        assert response.status_code == 200, response.json()
        return {a["id"]: a["needs_person"] for a in response.json()["results"]}

    needing = {made[n].pk for n in range(5)}
    assert set(ids("needs_person=true")) == needing
    assert set(ids("needs_person=false")) == {made[5].pk, made[6].pk, account.pk}
    assert {pk for pk, flag in ids("").items() if flag} == needing
    # ``attention`` says why in a sentence exactly when a person is needed
    attention = {a["id"]: a["attention"] for a in admin_client_api.get("/api/v1/accounts/").json()["results"]}
    assert {pk for pk, sentence in attention.items() if sentence} == needing
    assert attention[made[4].pk] == "Drift: gone there"


@pytest.mark.parametrize(
    "query", ["status=bogus", "provider=other", "connection=abc", "member=1.5", "status=", "needs_person=", "needs_person=maybe"]
)
def test_bad_filter_values_are_400(admin_client_api, db, query):
    response = admin_client_api.get(f"/api/v1/accounts/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_detail_shows_secret_names_but_not_values_and_the_pending_operation(admin_client_api, account):
    Account.objects.filter(pk=account.pk).update(status=S.ACTIVE)
    account.refresh_from_db()
    account.secrets = {"user_secret": "VERY-SECRET-VALUE"}
    account.save()
    operation = services.operation_request(
        kind=OperationKind.SYNC, account=account, requested_by=services.SCHEDULE
    )
    response = admin_client_api.get(f"/api/v1/accounts/{account.pk}/")
    body = response.json()
    assert body["secrets_set"] == ["user_secret"]
    assert "VERY-SECRET-VALUE" not in response.content.decode()
    assert body["pending_operation"] == {"id": operation.pk, "kind": "sync", "status": "queued"}
    assert body["provider"] == "kandy"


# --- create ------------------------------------------------------------------------------------

def test_create_answers_202_with_account_and_operation(admin_client_api, member, connection, fake_http):
    response = admin_client_api.post(
        "/api/v1/accounts/", {"member": member.pk, "connection": connection.pk}, format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["account"]["status"] == S.PENDING
    assert body["operation"]["kind"] == OperationKind.PROVISION
    assert body["operation"]["requested_by"] == f"api:{admin_client_api.user.username}"
    assert response["Location"].endswith(f"/api/v1/operations/{body['operation']['id']}/")

    services.operation_execute(operation_id=body["operation"]["id"])
    account = admin_client_api.get(f"/api/v1/accounts/{body['account']['id']}/").json()
    assert account["status"] == S.ACTIVE
    assert account["details"] == {"remote_id": "remote-42"}


def test_a_member_the_provider_cannot_register_as_they_are_is_400_and_nothing_is_kept(admin_client_api,
                                                                                       install_providers):
    """Xhoppe registers people by phone: a member without one is refused at once, with the next
    step, rather than given an account whose provisioning fails."""
    install_providers(XhoppeProvider)  # the real one, not this folder's stand-in
    member = Member.objects.create(email="no.phone@example.org")
    xhoppe = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})

    response = admin_client_api.post("/api/v1/accounts/", {"member": member.pk, "connection": xhoppe.pk}, format="json")

    assert response.status_code == 400
    assert response.json() == {"member": [
        "No phone number: Xhoppe registers people by phone. Add the phone number, then provision."
    ]}
    assert not Account.objects.exists() and not Operation.objects.exists()
    assert not Member.objects.get(pk=member.pk).has_accounts


def test_a_second_account_for_the_same_member_and_connection_is_409(admin_client_api, account):
    response = admin_client_api.post(
        "/api/v1/accounts/", {"member": account.member_id, "connection": account.connection_id}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"
    assert Account.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"connection": 1}, "member"),
        ({"member": 9999, "connection": 1}, "member"),
        ({"member": "1", "connection": 1}, "member"),
        ({"member": 1, "connection": True}, "connection"),
    ],
)
def test_create_with_bad_references_is_400(admin_client_api, member, connection, body, field):
    response = admin_client_api.post("/api/v1/accounts/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Account.objects.exists()


def test_create_on_a_disabled_connection_is_409_and_leaves_nothing(admin_client_api, member, connection):
    connection.enabled = False
    connection.save()
    response = admin_client_api.post(
        "/api/v1/accounts/", {"member": member.pk, "connection": connection.pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "connection_disabled"
    assert not Account.objects.exists()


def test_non_json_bodies_are_415(admin_client_api, member, connection):
    response = admin_client_api.post("/api/v1/accounts/", {"member": member.pk, "connection": connection.pk})
    assert response.status_code == 415


def test_malformed_json_is_400(admin_client_api, db):
    response = admin_client_api.post("/api/v1/accounts/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


# --- delete = deprovision ---------------------------------------------------------------------

def test_delete_requests_deprovisioning(admin_client_api, account, fake_http):
    account_in(account, S.ACTIVE)
    response = admin_client_api.delete(f"/api/v1/accounts/{account.pk}/")
    assert response.status_code == 202
    assert response.json()["kind"] == OperationKind.DEPROVISION
    services.operation_execute(operation_id=response.json()["id"])
    account.refresh_from_db()
    assert account.status == S.DEPROVISIONED


def test_delete_on_a_provider_without_a_delete_api_is_409_with_a_clear_detail(
    admin_client_api, member, no_delete_connection
):
    account = Account.objects.create(member=member, connection=no_delete_connection, status=S.ACTIVE)
    response = admin_client_api.delete(f"/api/v1/accounts/{account.pk}/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "not_supported"
    assert "deprovision" in body["detail"].lower()
    assert not Operation.objects.exists()


# --- actions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(ACTIONS))
def test_action_requests_its_operation_and_runs_it(admin_client_api, account, fake_http, path):
    start, body, plain, secret, after = ACTIONS[path]
    account_in(account, start)
    spec = next(s for s in ACCOUNT_ACTIONS if s.path == path)

    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/{path}/", body, format="json")

    assert response.status_code == 202, response.json()
    data = response.json()
    assert data["kind"] == spec.kind
    assert data["input"] == plain
    assert response["Location"].endswith(f"/api/v1/operations/{data['id']}/")
    operation = Operation.objects.get(pk=data["id"])
    assert operation.secret_input == secret
    for value in secret.values():
        assert value not in response.content.decode()

    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    assert operation.status == "succeeded", operation.error_message
    account.refresh_from_db()
    assert account.status == after
    if not OPERATION_SPECS[spec.kind].calls_provider:
        assert not fake_http.calls
        return
    sent = json.loads(fake_http.calls[-1].request.body)
    for value in {**plain, **secret}.values():  # the provider got the input, secret parts included
        assert value in sent.values()


def test_an_account_its_provider_cannot_close_is_recorded_as_closed_and_its_member_may_go(
    admin_client_api, make_client, member, no_delete_connection
):
    account = Account.objects.create(member=member, connection=no_delete_connection, status=S.ACTIVE)
    url = f"/api/v1/accounts/{account.pk}/record-closed/"
    refused = make_client("provisioning.view_account", "provisioning.provision_account").post(
        url, {"how_it_was_closed": "Ticket 8812"}, format="json")
    assert refused.status_code == 403  # it takes what a deprovision takes
    assert admin_client_api.post(url, {}, format="json").json() == {
        "how_it_was_closed": [
            "Say how the account was closed at the provider: it is kept as the record of its closing."]}
    assert admin_client_api.delete(f"/api/v1/members/{member.pk}/").status_code == 409

    response = admin_client_api.post(url, {"how_it_was_closed": "Ticket 8812"}, format="json")
    assert response.status_code == 202, response.json()
    services.operation_execute(operation_id=response.json()["id"])

    operation = admin_client_api.get(response["Location"]).json()
    assert operation["status"] == "succeeded" and operation["calls"] == 0
    assert operation["input"] == {"how_it_was_closed": "Ticket 8812"}
    assert admin_client_api.get(f"/api/v1/accounts/{account.pk}/").json()["status"] == "deprovisioned"
    assert admin_client_api.delete(f"/api/v1/members/{member.pk}/").status_code == 204


def test_login_link_result_holds_the_redirect_uri(admin_client_api, account, fake_http):
    account_in(account, S.ACTIVE)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/login-link/", {}, format="json")
    services.operation_execute(operation_id=response.json()["id"])
    operation = admin_client_api.get(response["Location"]).json()
    assert operation["result"] == {"redirect_uri": "https://fake-provider.test/portal?t=1"}
    assert operation["calls"] == 1


@pytest.mark.parametrize(
    "path, start",
    [
        ("verify", S.ACTIVE),
        ("captcha", S.ACTIVE),
        ("provision", S.ACTIVE),
        ("validate", S.PENDING),
        ("login-link", S.PENDING),
    ],
)
def test_action_in_a_state_that_does_not_allow_it_is_409(admin_client_api, account, path, start):
    account_in(account, start)
    body = ACTIONS[path][1]
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/{path}/", body, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert not Operation.objects.exists()


def test_action_the_provider_lacks_is_409(admin_client_api, member, no_delete_connection):
    account = Account.objects.create(member=member, connection=no_delete_connection, status=S.ACTIVE)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/rotate-secret/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_supported"
    # the operation as staff read it on its button ("SMS", not "sms")
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/verify/", {"code": "1234"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"].endswith(" does not support 'Verify SMS code'.")


def test_a_second_action_while_one_is_unfinished_is_409(admin_client_api, account):
    account_in(account, S.ACTIVE)
    assert admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/").status_code == 202
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/")
    assert response.status_code == 409
    assert response.json()["code"] == "busy"


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("verify", {}, "code"),
        ("verify", {"code": 123456}, "code"),
        ("captcha", {"answer": ""}, "answer"),
        ("validate", {"validation_id": 4, "token": "short"}, "token"),
        ("validate", {"validation_id": "4", "token": TOKEN}, "validation_id"),
        ("validate", {"validation_id": 0, "token": TOKEN}, "validation_id"),
        # login-link options are the provider's to check: see test_snaptrade_through_the_api.py
    ],
)
def test_bad_action_bodies_are_400_field_errors(admin_client_api, account, path, body, field):
    account_in(account, ACTIONS[path][0])
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/{path}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Operation.objects.exists()


def test_the_providers_own_input_rules_are_400_field_errors(admin_client_api, account):
    account_in(account, S.AWAITING_VERIFICATION)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/verify/", {"code": "abc"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"code": ["The SMS code is digits only."]}


def test_actions_on_an_unknown_account_are_404(admin_client_api, db):
    assert admin_client_api.post("/api/v1/accounts/999/sync/").status_code == 404


# --- captcha image -----------------------------------------------------------------------------

def test_captcha_is_served_as_jpeg(admin_client_api, account):
    Account.objects.filter(pk=account.pk).update(challenge_image=JPEG, status=S.AWAITING_CAPTCHA)
    assert admin_client_api.get(f"/api/v1/accounts/{account.pk}/").json()["captcha_available"] is True
    response = admin_client_api.get(f"/api/v1/accounts/{account.pk}/captcha/", HTTP_ACCEPT="image/jpeg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response.content == JPEG


def test_no_captcha_is_a_json_404(admin_client_api, account):
    for accept in ("application/json", "image/jpeg"):
        response = admin_client_api.get(f"/api/v1/accounts/{account.pk}/captcha/", HTTP_ACCEPT=accept)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "no_captcha"


def test_refreshing_the_captcha_replaces_the_image(admin_client_api, account, fake_http):
    account_in(account, S.AWAITING_CAPTCHA)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/captcha/refresh/")
    services.operation_execute(operation_id=response.json()["id"])
    assert admin_client_api.get(f"/api/v1/accounts/{account.pk}/captcha/").content == JPEG


# --- secrets -----------------------------------------------------------------------------------

def test_credentials_are_returned_and_every_read_is_audited(admin_client_api, account):
    account.secrets = {"user_secret": "VERY-SECRET-VALUE", "password": "pw-123456"}
    account.save()
    response = admin_client_api.get(f"/api/v1/accounts/{account.pk}/credentials/")
    assert response.status_code == 200
    assert response.json() == {"user_secret": "VERY-SECRET-VALUE", "password": "pw-123456"}
    assert response["Cache-Control"] == "no-store"
    admin_client_api.get(f"/api/v1/accounts/{account.pk}/credentials/")
    reads = SecretAccess.objects.filter(account=account)
    assert reads.count() == 2
    assert reads.first().via == "api"
    assert reads.first().user == admin_client_api.user
    assert reads.first().keys == ["password", "user_secret"]


def test_a_refused_secret_read_is_not_audited(make_client, account):
    response = make_client("provisioning.view_account").get(f"/api/v1/accounts/{account.pk}/credentials/")
    assert response.status_code == 403
    assert not SecretAccess.objects.exists()


def test_a_number_where_text_is_expected_says_how_to_write_it(admin_client_api, account):
    account_in(account, S.AWAITING_VERIFICATION)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/verify/", {"code": 123456}, format="json")
    assert response.json() == {"code": ['Enter text, in quotes: "123456", not 123456.']}


def test_an_action_the_state_does_not_allow_says_which_state_would(admin_client_api, account):
    account_in(account, S.DEPROVISIONED)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/verify/", {"code": "123456"}, format="json")
    assert response.json()["detail"] == (
        "Verify SMS code is not possible for an account that is deprovisioned: only for one that is awaiting verification."
    )
