"""Kandy operations through the real pipeline (services -> provider -> outcome), HTTP faked."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.db import connection as db_connection
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.providers.kandy import KandyProvider
from provisioning.states import AccountStatus, OperationStatus

BASE = "https://api.kandy.test/v1.2"
TOKEN = "DAT0f3c9a2b7d6e4c1a8b5e2d9c6f3a0b7e"
STAFF = services.Requester("test:staff")
USER_SECRETS = {
    "user_password": "5f2a9c1e7b3d40",
    "user_api_key": "UAK00000000000000000000000000000001",
    "user_api_secret": "UAS00000000000000000000000000000001",
}


def envelope(result=None, message="success", status=0):
    body = {"status": status, "message": message}
    if result is not None:
        body["result"] = result
    return body


def created(user_id):
    return envelope({"user_id": user_id, "full_user_id": f"{user_id}@example.portal",
                     "domain_name": "example.portal", **USER_SECRETS})


def listed(*user_ids, password=True):
    users = []
    for user_id in user_ids:
        user = {"user_id": user_id, "domain_name": "example.portal", "user_first_name": "", "user_last_name": "",
                "user_email": "", **USER_SECRETS}
        if not password:
            del user["user_password"]
        users.append(user)
    return envelope({"users": users})


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@pytest.fixture
def connection(db):
    return Connection.objects.create(
        provider="kandy", name="Kandy", base_url=BASE, max_accounts=5,
        credentials={"api_key": "DAKkey0001", "api_secret": "DASsecret0001"},
        secret_state={"domain_access_token": TOKEN},
    )


@pytest.fixture
def member(db):
    return Member.objects.create(email="Jane.Doe@example.org", first_name="Jane", last_name="Doe", country="SG")


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


def test_the_remote_user_id_is_readable_safe_and_unique_per_member(db, connection):
    odd = Member.objects.create(email="J.O'Brien+kandy@example.org")
    account = Account.objects.create(member=odd, connection=connection)

    user_id = KandyProvider(connection).external_id_for(account)

    assert user_id == f"j.o-brien-kandy-m{odd.pk}-test"
    empty = Account.objects.create(member=Member.objects.create(email="++@example.org"), connection=connection)
    assert KandyProvider(connection).external_id_for(empty) == f"member-m{empty.member_id}-test"


def test_provision_creates_the_user_with_the_members_fields_and_stores_its_secrets(account, http):
    user_id = f"jane.doe-m{account.member_id}-test"
    http.post(f"{BASE}/domains/users/user_id", json=created(user_id))

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert json.loads(http.calls[0].request.body) == {
        "user_id": user_id, "user_country_code": "SG", "user_first_name": "Jane", "user_last_name": "Doe",
        "user_email": "Jane.Doe@example.org",
    }
    assert account.status == AccountStatus.ACTIVE and account.external_id == user_id
    assert account.details == {"user_id": user_id, "full_user_id": f"{user_id}@example.portal",
                               "domain_name": "example.portal"}
    assert account.secrets == USER_SECRETS
    assert not set(USER_SECRETS.values()) & set(json.dumps(operation.result))
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM provisioning_account WHERE id = %s", [account.pk])
        raw = cursor.fetchone()[0]
    assert not [value for value in USER_SECRETS.values() if value in raw]


def test_the_portal_refuses_a_sixth_account_before_calling_kandy(connection, account, http):
    for n in range(5):
        Account.objects.create(member=Member.objects.create(email=f"m{n}@example.org"), connection=connection,
                               status=AccountStatus.ACTIVE)

    with pytest.raises(services.Conflict) as err:
        services.operation_request(kind="provision", account=account, requested_by=STAFF)

    assert err.value.code == "quota_exceeded" and "quota of 5" in err.value.message
    assert len(http.calls) == 0


def test_kandys_quota_answer_fails_permanently_without_retry(account, http):
    http.post(f"{BASE}/domains/users/user_id", json={"status": 1, "message": "failed to register user on compass"})

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.attempts == 1
    assert operation.error["code"] == "quota_exceeded" and operation.error["retryable"] is False
    assert account.status == AccountStatus.FAILED


def test_a_create_whose_answer_was_lost_is_recovered_from_the_user_list_not_created_twice(account, http):
    user_id = f"jane.doe-m{account.member_id}-test"
    http.post(f"{BASE}/domains/users/user_id", body=requests.exceptions.ReadTimeout("lost"))
    operation = run("provision", account=account)
    assert operation.status == OperationStatus.WAITING_RETRY and operation.error_code == "unknown_outcome"

    http.get(f"{BASE}/domains/users", json=listed("someone-else", user_id))
    operation = run_again(operation)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["recovered"] is True
    assert [c.request.method for c in http.calls] == ["POST", "GET"]
    assert account.status == AccountStatus.ACTIVE and account.secrets == USER_SECRETS
    assert account.details["full_user_id"] == f"{user_id}@example.portal" and account.attention == ""


def test_a_retry_that_finds_no_user_creates_it(account, http):
    user_id = f"jane.doe-m{account.member_id}-test"
    http.post(f"{BASE}/domains/users/user_id", body=requests.exceptions.ReadTimeout("lost"))
    operation = run("provision", account=account)
    http.get(f"{BASE}/domains/users", json=listed("someone-else"))
    http.replace("POST", f"{BASE}/domains/users/user_id", json=created(user_id))

    operation = run_again(operation)

    assert operation.status == OperationStatus.SUCCEEDED
    assert [c.request.method for c in http.calls] == ["POST", "GET", "POST"]


def test_a_duplicate_user_id_is_taken_over_and_flagged_when_the_password_is_unknown(account, http):
    user_id = f"jane.doe-m{account.member_id}-test"
    http.post(f"{BASE}/domains/users/user_id", json={"status": 1, "message": f"user_id {user_id} already exists"})
    http.get(f"{BASE}/domains/users", json=listed(user_id, password=False))

    operation = run("provision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert account.status == AccountStatus.ACTIVE
    assert set(account.secrets) == {"user_api_key", "user_api_secret"}
    assert "user_password" in account.attention


def test_an_invalid_token_is_renewed_and_kept_encrypted_and_never_recorded(account, connection, http):
    user_id = f"jane.doe-m{account.member_id}-test"
    fresh = "DATfresh000000000000000000000000001"
    http.post(f"{BASE}/domains/users/user_id", json={"status": 1, "message": "invalid key"})
    http.get(f"{BASE}/domains/accesstokens", json=envelope({"domain_access_token": fresh}))
    http.add(responses.POST, f"{BASE}/domains/users/user_id", json=created(user_id))

    operation = run("provision", account=account)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.secret_state == {"domain_access_token": fresh}
    assert [query(c)["key"] for c in http.calls] == [TOKEN, "DAKkey0001", fresh]
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secret_state FROM provisioning_connection WHERE id = %s", [connection.pk])
        assert fresh not in cursor.fetchone()[0]
    records = " ".join(f"{c.url} {c.request_body} {c.response_body}" for c in ExternalCall.objects.all())
    assert ExternalCall.objects.count() == 3
    assert TOKEN not in records and fresh not in records and "DASsecret0001" not in records


def test_deprovision_deletes_the_user_and_forgets_its_secrets(account, http):
    account.status, account.external_id, account.secrets = AccountStatus.ACTIVE, "jane-m1-test", USER_SECRETS
    account.save()
    http.delete(f"{BASE}/domains/users", json={"status": 0, "message": "User Deleted"})

    operation = run("deprovision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert query(http.calls[0]) == {"key": TOKEN, "user_id": "jane-m1-test"}
    assert account.status == AccountStatus.DEPROVISIONED and account.secrets == {}


def test_deprovision_of_a_user_already_gone_completes(account, http):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE, external_id="jane-m1-test")
    http.delete(f"{BASE}/domains/users", json={"status": 1, "message": "user not found"})

    operation = run("deprovision", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["already_absent"] is True
    assert account.status == AccountStatus.DEPROVISIONED


def test_sync_flags_a_user_gone_from_the_domain_and_clears_the_flag_when_it_is_back(account, http):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE, external_id="jane-m1-test")
    http.get(f"{BASE}/domains/users", json=listed("someone-else"))

    operation = run("sync", account=account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["exists"] is False
    assert "no longer has user jane-m1-test" in account.attention

    http.replace("GET", f"{BASE}/domains/users", json=listed("jane-m1-test"))
    run("sync", account=account)
    account.refresh_from_db()
    assert account.attention == "" and account.secrets == USER_SECRETS


def test_reconcile_reports_drift_both_ways_and_flags_the_accounts(connection, account, http):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE, external_id="jane-m1-test")
    failed = Account.objects.create(member=Member.objects.create(email="f@example.org"), connection=connection,
                                    status=AccountStatus.FAILED, external_id="f-m2-test")
    http.get(f"{BASE}/domains/users", json=listed("f-m2-test", "ghost-m99-test", "hand-made"))

    operation = run("reconcile", connection=connection)

    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result == {
        "remote_users": 3, "local_accounts": 2, "missing_remotely": ["jane-m1-test"],
        "present_but_failed": ["f-m2-test"], "unknown_remotely": ["ghost-m99-test"], "foreign_remotely": 1,
    }
    account.refresh_from_db()
    failed.refresh_from_db()
    assert "no longer has user jane-m1-test" in account.attention and "still has user f-m2-test" in failed.attention


def test_health_check_records_the_domains_number_of_users(connection, http):
    http.get(f"{BASE}/domains/accesstokens", json=envelope({"domain_access_token": TOKEN}))
    http.get(f"{BASE}/accounts/domains/details", json=envelope({"domain": {
        "domain_name": "example.portal", "domain_api_key": "DAKkey0001", "project_name": "P", "number_of_users": 3}}))

    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.health_status == "ok" and "3 users" in connection.health_detail
    assert connection.provider_state == {"domain_name": "example.portal", "project_name": "P", "number_of_users": 3}


def test_health_check_with_refused_credentials_marks_the_connection_in_error(connection, http):
    http.get(f"{BASE}/domains/accesstokens", json={"status": 1, "message": "invalid key"})

    run("health_check", connection=connection)

    connection.refresh_from_db()
    assert connection.health_status == "error" and "Credentials rejected" in connection.health_detail


def test_sync_leaves_another_reason_for_attention_alone(account, http):
    account.status, account.external_id, account.secrets = AccountStatus.ACTIVE, "jane-m1-test", USER_SECRETS
    account.attention = "Member asked to be called before any change."
    account.save()
    http.get(f"{BASE}/domains/users", json=listed("jane-m1-test"))

    run("sync", account=account)

    account.refresh_from_db()
    assert account.attention == "Member asked to be called before any change."


def test_reconcile_clears_the_drift_flag_it_set_once_the_user_is_back(connection, account, http):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE, external_id="jane-m1-test")
    http.get(f"{BASE}/domains/users", json=listed())
    run("reconcile", connection=connection)
    account.refresh_from_db()
    assert "no longer has user jane-m1-test" in account.attention

    http.replace("GET", f"{BASE}/domains/users", json=listed("jane-m1-test"))
    run("reconcile", connection=connection)

    account.refresh_from_db()
    assert account.attention == ""
