"""SnapTrade operations through the real services path (database, claims, outcomes), HTTP faked.

Each test requests an operation with ``services.operation_request`` and runs its attempts with
``services.operation_execute``, as a worker would.
"""

import json
from datetime import timedelta

import pytest
import requests
from django.db import connection as db_connection
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, HealthStatus, Member, Operation
from provisioning.providers.snaptrade import SnapTradeProvider
from provisioning.states import AccountStatus, OperationStatus

BASE = "https://api.snaptrade.com"
USERS = f"{BASE}/snapTrade/listUsers"
REGISTER = f"{BASE}/snapTrade/registerUser"
LOGIN = f"{BASE}/snapTrade/login"
RESET = f"{BASE}/snapTrade/resetUserSecret"
DELETE = f"{BASE}/snapTrade/deleteUser"
CONSUMER_KEY = "consumer-key-9f8e7d"
SECRET = "0b1d6c9e-52a4-4e0f-9a7d-3c2b1e0f9d88"
NEW_SECRET = "77777777-aaaa-4bbb-8ccc-dddddddddddd"
STAFF = services.Requester("test:staff")


def snaptrade_error(status, detail, code):
    return {"detail": detail, "status_code": status, "code": code}


@pytest.fixture
def connection(db):
    return Connection.objects.create(
        provider="snaptrade", name="SnapTrade", base_url=BASE,
        credentials={"client_id": "CLIENT-42", "consumer_key": CONSUMER_KEY},
    )


@pytest.fixture
def member(db):
    return Member.objects.create(email="jane@example.org", first_name="Jane")


@pytest.fixture
def active_account(member, connection):
    return Account.objects.create(
        member=member, connection=connection, status=AccountStatus.ACTIVE,
        external_id=f"portal-test-m{member.pk}-c{connection.pk}", secrets={"user_secret": SECRET},
    )


def run(kind, *, account=None, connection=None, input=None) -> Operation:
    operation = services.operation_request(
        kind=kind, account=account, connection=connection, input=input, requested_by=STAFF
    )
    return execute(operation)


def execute(operation) -> Operation:
    """One attempt, as a worker runs it (the retry is made due at once)."""
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=None)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    return operation


def calls_to(http, url):
    return [call for call in http.calls if call.request.url.split("?")[0] == url]


# --- provision ---------------------------------------------------------------------------------

def test_provision_registers_the_chosen_id_and_keeps_the_secret_encrypted(account, http):
    http.post(REGISTER, json={"userId": "ignored", "userSecret": SECRET})

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert account.status == AccountStatus.ACTIVE
    user_id = f"portal-test-m{account.member_id}-c{account.connection_id}"
    assert json.loads(calls_to(http, REGISTER)[0].request.body) == {"userId": user_id}
    assert account.external_id == user_id and account.details["user_id"] == "ignored"
    assert account.secrets == {"user_secret": SECRET}
    assert SECRET not in json.dumps(operation.result)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM provisioning_account WHERE id = %s", [account.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("gAAAA") and SECRET not in raw


def test_a_first_attempt_registers_without_listing(account, http):
    http.post(REGISTER, json={"userId": "u", "userSecret": SECRET})

    run("provision", account=account)

    assert [call.request.url.split("?")[0] for call in http.calls] == [REGISTER]


def test_a_timed_out_register_is_retried_only_after_looking(account, http):
    http.post(REGISTER, body=requests.ReadTimeout("no answer"))
    operation = run("provision", account=account)
    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "unknown_outcome")

    http.replace("POST", REGISTER, json={"userId": "u", "userSecret": SECRET})
    http.get(USERS, json=["someone-else"])
    operation = execute(operation)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and account.secrets == {"user_secret": SECRET}
    assert [call.request.url.split("?")[0] for call in http.calls] == [REGISTER, USERS, REGISTER]


def test_a_retry_that_finds_the_user_registered_without_its_secret_asks_a_person(account, http):
    http.post(REGISTER, body=requests.ReadTimeout("the answer was lost"))
    operation = run("provision", account=account)
    account.refresh_from_db()
    http.get(USERS, json=[account.external_id])

    operation = execute(operation)

    account.refresh_from_db()
    assert len(calls_to(http, REGISTER)) == 1  # never registered twice
    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "needs_attention")
    assert account.status == AccountStatus.FAILED
    assert f"SnapTrade already has user {account.external_id}" in account.attention
    assert "never received its secret" in operation.error_message


def test_a_refused_register_for_an_existing_user_asks_a_person(account, http):
    http.post(REGISTER, status=400, json=snaptrade_error(400, "User already exist", "1010"))
    http.get(USERS, json=[f"portal-test-m{account.member_id}-c{account.connection_id}"])

    operation = run("provision", account=account)

    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "needs_attention")
    assert operation.attempts == 1


def test_a_refused_register_for_a_user_that_does_not_exist_fails_with_snaptrades_detail(account, http):
    refusal = snaptrade_error(400, "userId: Ensure this field has no more than 32 chars.", "1001")
    http.post(REGISTER, status=400, json=refusal)
    http.get(USERS, json=[])

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert (operation.status, operation.error_code, operation.attempts) == (OperationStatus.FAILED, "rejected", 1)
    assert "Ensure this field has no more than 32 chars." in operation.error_message
    assert account.status == AccountStatus.FAILED and account.attention == ""


def test_a_retry_that_finds_the_user_with_its_secret_stored_keeps_it(account, http):
    account.secrets = {"user_secret": SECRET}
    account.save()
    http.post(REGISTER, status=503, json=snaptrade_error(503, "Service temporarily unavailable", "1000"))
    operation = run("provision", account=account)
    account.refresh_from_db()
    http.get(USERS, json=[account.external_id])

    operation = execute(operation)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["already_registered"] is True
    assert account.status == AccountStatus.ACTIVE and account.secrets == {"user_secret": SECRET}


def test_provisioning_again_waits_while_snaptrade_still_deletes_the_previous_user(account, http):
    Account.objects.filter(pk=account.pk).update(
        status=AccountStatus.DEPROVISIONED, external_id="portal-test-x",
        details={"deletion_requested_at": "2026-11-22T10:00:00+00:00"},
    )
    account.refresh_from_db()
    http.post(REGISTER, status=400, json=snaptrade_error(400, "User already exist", "1010"))
    http.get(USERS, json=["portal-test-x"])

    operation = run("provision", account=account)

    assert operation.status == OperationStatus.WAITING_RETRY
    assert "not finished deleting" in operation.error_message
    assert operation.next_attempt_at - timezone.now() > timedelta(seconds=10)


def test_a_refused_signature_fails_provisioning_and_flags_the_connection(account, connection, http):
    http.post(REGISTER, status=401, json=snaptrade_error(401, "Unable to verify signature sent", "1076"))

    operation = run("provision", account=account)

    connection.refresh_from_db()
    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "configuration")
    assert connection.health_status == HealthStatus.ERROR
    assert "Unable to verify signature sent" in connection.health_detail


# --- secrets never recorded --------------------------------------------------------------------

def test_no_secret_reaches_the_recorded_exchanges_or_results(account, http):
    http.post(REGISTER, json={"userId": "u", "userSecret": SECRET})
    http.post(LOGIN, json={"redirectURI": "https://app.snaptrade.com/x?token=t", "sessionId": "s-1"})
    http.post(RESET, json={"userId": "u", "userSecret": NEW_SECRET})
    http.delete(DELETE, json={"status": "deleted", "detail": "queued", "userId": "u"})

    operations = [run("provision", account=account)]
    for kind in ("login_link", "rotate_secret", "deprovision"):
        operations.append(run(kind, account=account))

    assert [op.status for op in operations] == [OperationStatus.SUCCEEDED] * 4
    recorded = ExternalCall.objects.filter(operation__in=operations)
    assert recorded.count() == 4
    text = json.dumps([
        [call.url, call.request_headers, call.request_body, call.response_body, call.error] for call in recorded
    ]) + json.dumps([op.result for op in operations])
    for secret in (SECRET, NEW_SECRET, CONSUMER_KEY):
        assert secret not in text
    assert all(call.request_headers.get("Signature") == "***" for call in recorded)
    sent = [call.request for call in http.calls]
    assert SECRET in sent[1].url and SECRET in sent[2].body.decode()  # they were sent, just not kept


# --- login link ---------------------------------------------------------------------------------

def test_login_link_returns_the_redirect_and_when_it_expires(active_account, http):
    http.post(LOGIN, json={"redirectURI": "https://app.snaptrade.com/redeem?token=t", "sessionId": "s-1"})

    operation = run("login_link", account=active_account, input={"connectionType": "trade", "darkMode": True})

    sent = http.calls[0].request
    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result["redirect_uri"] == "https://app.snaptrade.com/redeem?token=t"
    assert operation.result["session_id"] == "s-1"
    expires = timezone.datetime.fromisoformat(operation.result["expires_at"])
    assert timedelta(minutes=4) < expires - timezone.now() <= timedelta(minutes=5)
    assert json.loads(sent.body) == {"connectionType": "trade", "darkMode": True}
    assert sent.url.startswith(f"{LOGIN}?userId={active_account.external_id}&userSecret=")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"connectionType": "write"}, "connectionType"),
        ({"darkMode": "yes"}, "darkMode"),
        ({"customRedirect": "javascript:alert(1)"}, "customRedirect"),
        ({"reconnect": "not-a-uuid"}, "reconnect"),
        ({"redirect": "https://example.org"}, "redirect"),
        ({"connectionPortalVersion": "v9"}, "connectionPortalVersion"),
    ],
)
def test_login_link_options_are_checked_when_requested(active_account, options, field):
    with pytest.raises(services.InvalidRequest) as refused:
        services.operation_request(kind="login_link", account=active_account, input=options, requested_by=STAFF)

    assert list(refused.value.field_errors) == [field]


def test_operations_without_options_refuse_input(active_account):
    with pytest.raises(services.InvalidRequest) as refused:
        services.operation_request(kind="sync", account=active_account, input={"force": True}, requested_by=STAFF)

    assert "force" in refused.value.field_errors


def test_a_stored_secret_snaptrade_refuses_flags_the_account_not_the_connection(active_account, connection, http):
    http.post(LOGIN, status=401, json=snaptrade_error(401, "Invalid userID or userSecret provided", "1083"))

    operation = run("login_link", account=active_account)

    active_account.refresh_from_db()
    connection.refresh_from_db()
    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "needs_attention")
    assert active_account.status == AccountStatus.ACTIVE
    assert "Invalid userID or userSecret provided" in active_account.attention
    assert connection.health_status == HealthStatus.UNKNOWN


# --- rotate secret ------------------------------------------------------------------------------

def test_rotate_secret_stores_the_new_secret(active_account, http):
    http.post(RESET, json={"userId": active_account.external_id, "userSecret": NEW_SECRET})

    operation = run("rotate_secret", account=active_account)

    active_account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert json.loads(http.calls[0].request.body) == {"userId": active_account.external_id, "userSecret": SECRET}
    assert active_account.secrets == {"user_secret": NEW_SECRET}


def test_a_rotation_whose_answer_was_lost_says_what_happened(active_account, http):
    http.post(RESET, body=requests.ReadTimeout("lost"))
    operation = run("rotate_secret", account=active_account)
    assert operation.error_code == "unknown_outcome"
    http.replace("POST", RESET, status=401, json=snaptrade_error(401, "Invalid userID or userSecret provided", "1083"))

    operation = execute(operation)

    active_account.refresh_from_db()
    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "needs_attention")
    assert "probably rotated it" in active_account.attention
    assert active_account.secrets == {"user_secret": SECRET}


# --- deprovision --------------------------------------------------------------------------------

def test_deprovision_queues_the_remote_deletion_and_waits_for_it(active_account, http):
    """deleteUser only queues the deletion: the operation succeeds, the account stays
    deprovisioning until USER_DELETED (or a reconcile no longer listing the user)."""
    http.delete(DELETE, json={"status": "deleted", "userId": "u",
                              "detail": "User queued for deletion; please wait for webhook for confirmation."})

    operation = run("deprovision", account=active_account)

    active_account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert http.calls[0].request.url.startswith(f"{DELETE}?userId={active_account.external_id}&clientId=")
    assert active_account.status == AccountStatus.DEPROVISIONING
    assert active_account.secrets == {}
    assert active_account.details["remote_deletion"] == "queued"
    # SnapTrade's words belong to this operation: on the account they outlived the deletion
    assert "queued for deletion" in operation.result["detail"]
    assert "deletion_detail" not in active_account.details


def test_deprovisioning_a_user_snaptrade_no_longer_has_completes(active_account, http):
    http.delete(DELETE, status=404, json=snaptrade_error(404, "The requested resource does not exist.", "1011"))

    operation = run("deprovision", account=active_account)

    active_account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert active_account.status == AccountStatus.DEPROVISIONED
    assert active_account.details["remote_deletion"].startswith("not found")


# --- sync and reconcile -------------------------------------------------------------------------

def test_sync_flags_drift_and_clears_its_own_flag_when_the_user_is_back(active_account, http):
    http.get(USERS, json=[])
    run("sync", account=active_account)
    active_account.refresh_from_db()
    assert active_account.attention.startswith("Drift: ")
    assert active_account.details["remote_present"] is False

    http.replace("GET", USERS, json=[active_account.external_id])
    operation = run("sync", account=active_account)

    active_account.refresh_from_db()
    assert operation.result == {"user_id": active_account.external_id, "present_remotely": True}
    assert active_account.attention == "" and active_account.status == AccountStatus.ACTIVE


def test_sync_leaves_a_flag_it_did_not_set(active_account, http):
    Account.objects.filter(pk=active_account.pk).update(attention="Checked by hand: keep an eye on it.")
    active_account.refresh_from_db()
    http.get(USERS, json=[active_account.external_id])

    run("sync", account=active_account)

    active_account.refresh_from_db()
    assert active_account.attention == "Checked by hand: keep an eye on it."


def test_reconcile_lists_what_differs_and_flags_the_missing_accounts(connection, http):
    def account(n, status):
        return Account.objects.create(
            member=Member.objects.create(email=f"m{n}@example.org"), connection=connection, status=status,
            external_id=f"portal-test-m{n}-c{connection.pk}",
        )

    present, missing, gone = account(1, "active"), account(2, "active"), account(3, "deprovisioned")
    Account.objects.filter(pk=present.pk).update(attention="Drift: flagged by an earlier reconcile")
    http.get(USERS, json=[
        present.external_id, gone.external_id,
        f"portal-test-m99-c{connection.pk}",  # ours, but no local account
        "portal-test-m5-c999999",  # this installation, another connection
        "portal-othr-m1-c1", "alice",  # not ours
    ])

    operation = run("reconcile", connection=connection)

    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result["missing_remotely"] == [missing.external_id]
    assert operation.result["present_but_failed"] == []  # deprovisioned: deletion is asynchronous
    assert operation.result["unknown_remotely"] == [f"portal-test-m99-c{connection.pk}"]
    assert operation.result["foreign_remotely"] == 3  # another connection's, another installation's, alice
    missing.refresh_from_db()
    present.refresh_from_db()
    assert missing.attention.startswith("Drift: ") and present.attention == ""


# --- health ------------------------------------------------------------------------------------

def test_health_check_proves_reachability_and_credentials(connection, http):
    http.get(f"{BASE}/", json={"version": 151, "timestamp": "2026-11-22 10:00:00+00:00", "online": True})
    http.get(USERS, json=["a", "b"])

    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.health_status == HealthStatus.OK
    assert "credentials accepted" in connection.health_detail
    assert "Signature" not in http.calls[0].request.headers and "Signature" in http.calls[1].request.headers


@pytest.mark.parametrize(
    ("status_answer", "users_answer", "health", "said"),
    [
        ({"json": {"version": 1, "timestamp": "t", "online": True}},
         {"status": 401, "json": snaptrade_error(401, "Unable to verify signature sent", "1076")},
         HealthStatus.ERROR, "Credentials rejected"),
        ({"status": 503, "json": snaptrade_error(503, "down", "1000")}, {"json": []},
         HealthStatus.ERROR, "unreachable"),
        ({"json": {"version": 1, "timestamp": "t", "online": False}}, {"json": []}, HealthStatus.DEGRADED, "offline"),
        ({"json": {"version": 1, "timestamp": "t", "online": True}},
         {"status": 429, "json": snaptrade_error(429, "Request was throttled.", "0000")},
         HealthStatus.DEGRADED, "fail for now"),
    ],
)
def test_health_check_reports_what_is_wrong(connection, http, status_answer, users_answer, health, said):
    http.get(f"{BASE}/", **status_answer)
    http.get(USERS, **users_answer)

    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.health_status == health and said in connection.health_detail


def test_the_portals_own_rate_limit_defers_a_health_check_instead_of_failing_it(connection, http):
    Connection.objects.filter(pk=connection.pk).update(requests_per_minute=1)
    http.get(f"{BASE}/", json={"version": 151, "timestamp": "t", "online": True})
    http.get(USERS, json=[])

    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "local_rate_limit")
    assert connection.health_status == HealthStatus.UNKNOWN
    assert len(http.calls) == 1  # listUsers was never sent
