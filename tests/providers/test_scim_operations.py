"""SCIM operations through the real pipeline (services -> provider -> outcome), HTTP faked."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.providers.test_scim_client_contract import SCIM_JSON, golden_error, golden_list, golden_user

BASE = "https://idm.example.com/scim/v2"
USERS = f"{BASE}/Users"
STAFF = services.Requester("test:staff")


@pytest.fixture
def connection(db):
    return Connection.objects.create(provider="scim", name="IdM", base_url=BASE,
                                     credentials={"bearer_token": "scim-bearer-0123456789abcdef"})


@pytest.fixture
def member(db):
    return Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe", country="SG",
                                 phone="+6591234567")


def ours(account):
    return f"portal-test-m{account.member_id}-c{account.connection_id}"


def user(account, n=1, **fields):
    return golden_user(n, external_id=ours(account), **fields)


def filters(http):
    return [parse_qs(urlsplit(c.request.url).query).get("filter", [None])[0] for c in http.calls]


def run(kind, *, account=None, connection=None):
    operation = services.operation_request(kind=kind, account=account, connection=connection, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    return operation


def run_again(operation):
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    return operation


def activate(account, scim_id):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE, external_id=ours(account),
                                                 details={"scim_id": scim_id})
    account.refresh_from_db()


# --- provision -----------------------------------------------------------------------------------

def test_provision_looks_first_then_creates_the_user(account, http):
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)
    http.post(USERS, json=user(account), status=201, content_type=SCIM_JSON)

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    assert filters(http) == [f'externalId eq "{ours(account)}"', None]
    body = json.loads(http.calls[1].request.body)
    assert (body["userName"], body["externalId"], body["active"]) == ("jane@example.org", ours(account), True)
    assert account.status == AccountStatus.ACTIVE and account.external_id == ours(account)
    assert account.details == {"scim_id": golden_user()["id"], "user_name": "jane@example.org", "active": True,
                               "last_modified": "2026-05-13T04:42:34+00:00"}
    assert operation.result["created"] is True
    assert ExternalCall.objects.filter(operation=operation).count() == 2


def test_provision_adopts_a_user_found_by_external_id_without_posting(account, http):
    http.get(USERS, json=golden_list([user(account)]), content_type=SCIM_JSON)

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert [c.request.method for c in http.calls] == ["GET"]
    assert operation.result["adopted"] == "found by externalId"
    assert account.status == AccountStatus.ACTIVE and account.details["scim_id"] == golden_user()["id"]


def test_provision_reactivates_a_deactivated_user_it_finds(account, http):
    http.get(USERS, json=golden_list([user(account, active=False)]), content_type=SCIM_JSON)
    http.patch(f"{USERS}/{golden_user()['id']}", status=204)

    operation = run("provision", account=account)

    assert operation.status == OperationStatus.SUCCEEDED
    assert json.loads(http.calls[1].request.body)["Operations"] == [{"op": "replace", "path": "active", "value": True}]
    account.refresh_from_db()
    assert account.details["active"] is True


def test_a_create_whose_answer_was_lost_is_adopted_on_the_retry_not_created_twice(account, http):
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)
    http.post(USERS, body=requests.exceptions.ReadTimeout("lost"))
    operation = run("provision", account=account)
    assert operation.status == OperationStatus.WAITING_RETRY and operation.error_code == "unknown_outcome"

    http.replace("GET", USERS, json=golden_list([user(account)]), content_type=SCIM_JSON)
    operation = run_again(operation)

    assert operation.status == OperationStatus.SUCCEEDED and operation.result["adopted"] == "found by externalId"
    assert [c.request.method for c in http.calls] == ["GET", "POST", "GET"]


@pytest.mark.parametrize("status", [409, 400])  # RFC 7644 says 409; some applications answer 400
def test_a_uniqueness_conflict_resolved_by_looking_adopts_our_user(account, http, status):
    """The first look missed a user a concurrent attempt was creating; the second finds it."""
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)
    http.post(USERS, status=status, content_type=SCIM_JSON,
              json=golden_error(status, "One or more of the attribute values are already in use", "uniqueness"))
    http.get(USERS, json=golden_list([user(account)]), content_type=SCIM_JSON)

    operation = run("provision", account=account)

    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result["adopted"] == "found by externalId after a uniqueness conflict"
    assert [c.request.method for c in http.calls] == ["GET", "POST", "GET"]


def test_a_user_with_the_same_user_name_and_another_external_id_is_never_adopted(account, http):
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)
    http.post(USERS, status=409, content_type=SCIM_JSON, json=golden_error(409, "userName taken", "uniqueness"))
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)
    http.get(USERS, json=golden_list([golden_user(7, external_id=None)]), content_type=SCIM_JSON)

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert filters(http)[2:] == [f'externalId eq "{ours(account)}"', 'userName eq "jane@example.org"']
    assert operation.status == OperationStatus.FAILED and operation.error_code == "needs_attention"
    assert account.status == AccountStatus.FAILED
    assert "already has a user jane@example.org" in account.attention and "no externalId" in account.attention
    assert f"set its externalId to {ours(account)}" in account.attention
    assert [c.request.method for c in http.calls].count("PATCH") == 0


def test_an_application_that_cannot_filter_by_external_id_is_asked_by_user_name(account, http):
    http.get(USERS, status=400, content_type=SCIM_JSON,
             json=golden_error(400, "Filtering on externalId is not supported", "invalidFilter"))
    http.get(USERS, json=golden_list([user(account, active=True)]), content_type=SCIM_JSON)

    operation = run("provision", account=account)

    assert filters(http) == [f'externalId eq "{ours(account)}"', 'userName eq "jane@example.org"']
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["adopted"] == "found by externalId"
    assert [c.request.method for c in http.calls] == ["GET", "GET"]  # nothing created twice


def test_asked_by_user_name_a_user_with_another_external_id_is_not_taken_for_ours(account, http):
    refused = golden_error(400, "Filtering on externalId is not supported", "invalidFilter")
    foreign = golden_list([golden_user(7, external_id="hr-system-7")])
    for answer in ({"status": 400, "json": refused}, {"json": foreign}):  # the look before creating
        http.get(USERS, content_type=SCIM_JSON, **answer)
    http.post(USERS, status=409, content_type=SCIM_JSON, json=golden_error(409, "userName taken", "uniqueness"))
    for answer in ({"status": 400, "json": refused}, {"json": foreign}, {"json": foreign}):  # the conflict's
        http.get(USERS, content_type=SCIM_JSON, **answer)

    operation = run("provision", account=account)

    assert operation.status == OperationStatus.FAILED and operation.error_code == "needs_attention"
    assert "externalId hr-system-7" in operation.error_message


# --- deprovision ---------------------------------------------------------------------------------

def test_deprovision_deactivates_by_default(account, http):
    scim_id = golden_user()["id"]
    activate(account, scim_id)
    http.get(f"{USERS}/{scim_id}", json=user(account), content_type=SCIM_JSON)
    http.patch(f"{USERS}/{scim_id}", status=204)

    operation = run("deprovision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert json.loads(http.calls[1].request.body)["Operations"] == [{"op": "replace", "path": "active", "value": False}]
    assert account.status == AccountStatus.DEPROVISIONED
    assert account.details["active"] is False and account.details["scim_id"] == scim_id
    assert operation.result == {"external_id": ours(account), "mode": "deactivate", "remote": "deactivated"}


def test_deprovision_deletes_when_the_connection_says_so(connection, account, http):
    Connection.objects.filter(pk=connection.pk).update(settings={"deprovision_mode": "delete"})
    scim_id = golden_user()["id"]
    activate(account, scim_id)
    http.get(f"{USERS}/{scim_id}", json=user(account), content_type=SCIM_JSON)
    http.delete(f"{USERS}/{scim_id}", status=204)

    operation = run("deprovision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["remote"] == "deleted"
    assert account.status == AccountStatus.DEPROVISIONED and "scim_id" not in account.details


def test_deprovision_of_a_user_already_gone_succeeds(connection, account, http):
    Connection.objects.filter(pk=connection.pk).update(settings={"deprovision_mode": "delete"})
    activate(account, "gone-id")
    http.get(f"{USERS}/gone-id", status=404, json=golden_error(404, "not found"), content_type=SCIM_JSON)
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)

    operation = run("deprovision", account=account)

    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result["remote"] == "not found (already gone)"
    assert [c.request.method for c in http.calls] == ["GET", "GET"]


def test_an_unknown_deprovision_mode_is_a_configuration_error(connection, account, http):
    Connection.objects.filter(pk=connection.pk).update(settings={"deprovision_mode": "archive"})
    activate(account, "x")

    operation = run("deprovision", account=account)

    assert operation.status == OperationStatus.FAILED and operation.error_code == "configuration"
    assert "deprovision_mode is 'archive'" in operation.error_message and not http.calls


# --- sync and reconcile --------------------------------------------------------------------------

def test_sync_reads_the_user_back_and_flags_a_user_deleted_remotely(account, http):
    activate(account, "old-id")
    http.get(f"{USERS}/old-id", status=404, json=golden_error(404, "not found"), content_type=SCIM_JSON)
    http.get(USERS, json=golden_list([]), content_type=SCIM_JSON)

    operation = run("sync", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert account.attention.startswith("Drift: SCIM 2.0 application no longer has user")
    assert account.details["remote_present"] is False


def test_sync_flags_a_deactivated_user_then_clears_its_flag_once_active_again(account, http):
    scim_id = golden_user()["id"]
    activate(account, scim_id)
    http.get(f"{USERS}/{scim_id}", json=user(account, active=False), content_type=SCIM_JSON)

    run("sync", account=account)
    account.refresh_from_db()
    assert "deactivated there" in account.attention and account.details["active"] is False

    http.replace("GET", f"{USERS}/{scim_id}", json=user(account), content_type=SCIM_JSON)
    run("sync", account=account)
    account.refresh_from_db()
    assert account.attention == "" and account.details["active"] is True
    assert account.details["last_modified"] == "2026-05-13T04:42:34+00:00"


def test_reconcile_lists_every_page_and_compares_external_ids(connection, http):
    def account(n, status):
        return Account.objects.create(member=Member.objects.create(email=f"m{n}@example.org"), connection=connection,
                                      status=status, external_id=f"portal-test-m{n}-c{connection.pk}")

    present, missing = account(1, "active"), account(2, "active")
    remote = [
        golden_user(1, external_id=present.external_id),
        golden_user(2, external_id=f"portal-test-m99-c{connection.pk}"),  # ours, no local account
        golden_user(3, external_id=None, user_name="admin@example.org"),  # made at the application
        golden_user(4, external_id="okta-00u1abcd"),  # another system's
    ]
    http.get(USERS, json=golden_list(remote[:2], total=4), content_type=SCIM_JSON)
    http.get(USERS, json=golden_list(remote[2:], total=4, start=3), content_type=SCIM_JSON)

    operation = run("reconcile", connection=connection)

    assert operation.status == OperationStatus.SUCCEEDED, operation.error
    assert [parse_qs(urlsplit(c.request.url).query)["startIndex"] for c in http.calls] == [["1"], ["3"]]
    assert operation.result["remote_users"] == 4
    assert operation.result["missing_remotely"] == [missing.external_id]
    assert operation.result["unknown_remotely"] == [f"portal-test-m99-c{connection.pk}"]
    assert operation.result["foreign_remotely"] == 2
    missing.refresh_from_db()
    assert missing.attention.startswith("Drift: ")


def test_health_check_reports_what_the_application_supports(connection, http):
    http.get(f"{BASE}/ServiceProviderConfig", content_type=SCIM_JSON, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 200}, "changePassword": {"supported": False},
        "sort": {"supported": False}, "etag": {"supported": False},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
                                   "description": "Authentication scheme using the OAuth Bearer Token Standard"}],
    })
    http.get(USERS, json=golden_list([golden_user()], total=42), content_type=SCIM_JSON)

    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.health_status == "ok"
    assert connection.health_detail == (
        "Credentials accepted; 42 users. PATCH supported; filtering supported (at most 200 results); "
        "authentication: oauthbearertoken."
    )


def test_health_check_reads_a_discovery_document_with_attributes_of_its_own(connection, http):
    http.get(f"{BASE}/ServiceProviderConfig", content_type=SCIM_JSON, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://idm.example.com/help/scim", "x-vendor-build": "2026.11",
        "patch": {"supported": "true"}, "filter": {"supported": True, "maxResults": "100", "caseExact": False},
        "authenticationSchemes": [{"type": "httpbasic", "name": "Basic", "primary": True, "x-realm": "idm"}],
    })
    http.get(USERS, json={**golden_list([golden_user()], total=3), "x-took-ms": 4}, content_type=SCIM_JSON)

    run("health_check", connection=connection)

    connection.refresh_from_db()
    assert connection.health_status == "ok"
    assert connection.health_detail == (
        "Credentials accepted; 3 users. PATCH supported; filtering supported (at most 100 results); "
        "authentication: httpbasic."
    )


def test_health_check_with_a_refused_token_is_an_error(connection, http):
    http.get(f"{BASE}/ServiceProviderConfig", status=401, content_type=SCIM_JSON,
             json=golden_error(401, "Authorization failure"))

    run("health_check", connection=connection)

    connection.refresh_from_db()
    assert connection.health_status == "error" and "bearer token" in connection.health_detail
