"""Xhoppe operations through the real pipeline: register, SMS code, verify, reset (HTTP faked)."""

import json

import pytest
import requests
from django.utils import timezone

from provisioning import explain, services
from provisioning.models import Connection, ExternalCall, Member, Operation
from provisioning.providers.xhoppe import XhoppeProvider
from provisioning.states import AccountStatus, OperationKind, OperationStatus

BASE = "http://test.xhop.pe/api/v1"
INVALID_RESOURCE = "Invalid resource. Please fix errors and try again."
TOKEN = "Zq3-x9KpL2mN7bV4cR1t"
STAFF = services.Requester("test:staff")


@pytest.fixture
def connection(db):
    return Connection.objects.create(provider="xhoppe", name="Xhoppe", base_url=BASE, credentials={})


@pytest.fixture
def member(db):
    return Member.objects.create(email="jane@example.org", phone="+6591234567", country="SG")


@pytest.fixture
def waiting(account):
    account.status, account.external_id, account.secrets = (
        AccountStatus.AWAITING_VERIFICATION, "6591234567", {"password": "Pw-1234567890-abcdE"})
    account.save()
    return account


def request(kind, account, **secret_input):
    return services.operation_request(kind=kind, account=account, input=secret_input, requested_by=STAFF)


def run(kind, account, **secret_input):
    operation = request(kind, account, **secret_input)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    account.refresh_from_db()
    return operation


def invalid(**errors):
    return {"error": INVALID_RESOURCE, "errors": errors}


def test_provision_registers_the_phone_without_plus_and_waits_for_the_sms_code(account, http):
    http.post(f"{BASE}/users", status=201, json={"msisdn": "6591234567", "valid_for_authentication": False})

    operation = run("provision", account)

    body = json.loads(http.calls[0].request.body)
    assert body["msisdn"] == "6591234567" and body["password"] == body["password_confirmation"]
    assert len(body["password"]) == 20
    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result == {"msisdn": "6591234567", "awaiting_sms_code": True}
    assert account.status == AccountStatus.AWAITING_VERIFICATION and account.external_id == "6591234567"
    assert account.secrets == {"password": body["password"]}
    assert body["password"] not in ExternalCall.objects.get().request_body


def test_a_member_without_a_phone_is_refused_when_their_provisioning_is_asked_for(account, member, http):
    member.phone = ""
    member.save()

    with pytest.raises(services.InvalidRequest) as refused:
        request("provision", account)

    assert refused.value.code == "member_incomplete"
    assert refused.value.field_errors == {}  # no field of a provisioning asked for on its own
    assert refused.value.message == "No phone number: Xhoppe registers people by phone. Add the phone number, then provision."
    assert not Operation.objects.exists() and len(http.calls) == 0


def test_a_member_whose_phone_went_since_the_request_fails_before_anything_is_sent(account, member, http):
    operation = request("provision", account)
    Member.objects.filter(pk=member.pk).update(phone="")

    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    account.refresh_from_db()

    assert operation.status == OperationStatus.FAILED and operation.error_code == "member_incomplete"
    assert operation.error["retryable"] is False and len(http.calls) == 0
    assert account.status == AccountStatus.FAILED
    assert explain.operation_error_sentence(operation) == (
        "The member lacks what Xhoppe needs, so nothing was sent: complete the member, then retry. No phone "
        "number: Xhoppe registers people by phone. Add the phone number, then provision."
    )


def test_a_taken_msisdn_is_shown_to_staff_as_a_field_error(account, http):
    http.post(f"{BASE}/users", status=422, json=invalid(msisdn=["has already been taken"]))

    operation = run("provision", account)

    assert operation.status == OperationStatus.FAILED and operation.error["code"] == "invalid_input"
    assert "msisdn: has already been taken" in operation.error["message"]
    assert operation.result == {"field_errors": {"msisdn": ["has already been taken"]}}
    assert account.status == AccountStatus.FAILED
    assert "msisdn: has already been taken" in account.last_error["message"]


def test_a_retry_after_a_lost_answer_recognises_its_own_registration(account, http):
    http.post(f"{BASE}/users", body=requests.exceptions.ReadTimeout("lost"))
    operation = run("provision", account)
    assert operation.status == OperationStatus.WAITING_RETRY and operation.error_code == "unknown_outcome"
    http.replace("POST", f"{BASE}/users", status=422, json=invalid(msisdn=["has already been taken"]))
    http.post(f"{BASE}/login", json={"msisdn": "6591234567", "authentication_token": TOKEN,
                                     "valid_for_authentication": False})

    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    account.refresh_from_db()
    first, second, login = (json.loads(c.request.body) for c in http.calls)
    assert first["password"] == second["password"] == login["password"]  # one password per operation
    assert operation.status == OperationStatus.SUCCEEDED and operation.result["recovered"] is True
    assert account.status == AccountStatus.AWAITING_VERIFICATION
    assert account.secrets == {"password": first["password"]}


def test_a_retry_that_cannot_log_in_leaves_the_msisdn_taken(account, http):
    http.post(f"{BASE}/users", body=requests.exceptions.ReadTimeout("lost"))
    operation = run("provision", account)
    http.replace("POST", f"{BASE}/users", status=422, json=invalid(msisdn=["has already been taken"]))
    http.post(f"{BASE}/login", status=401, json={"error": "Invalid msisdn or password."})

    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    assert "msisdn: has already been taken" in operation.error["message"]
    connection = Connection.objects.get()
    assert connection.health_status != "error"  # a refused login is not a configuration problem


def test_verify_stores_the_token_and_activates_the_account(waiting, http):
    http.post(f"{BASE}/users/verify", json={"msisdn": "6591234567", "authentication_token": TOKEN,
                                            "valid_for_authentication": True})

    operation = run("verify", waiting, code=" r4j835 ")

    assert json.loads(http.calls[0].request.body) == {"code": "r4j835"}
    assert operation.status == OperationStatus.SUCCEEDED and operation.result == {"msisdn": "6591234567",
                                                                                  "verified": True}
    assert waiting.status == AccountStatus.ACTIVE
    assert waiting.secrets == {"password": "Pw-1234567890-abcdE", "authentication_token": TOKEN}
    assert waiting.details["valid_for_authentication"] is True


def test_verify_needs_a_code(waiting):
    with pytest.raises(services.InvalidRequest) as err:
        request("verify", waiting)
    assert err.value.field_errors == {"code": ["Enter the code from the SMS."]}
    with pytest.raises(services.InvalidRequest):
        request("verify", waiting, code="12-34")


def test_spaces_typed_in_a_code_are_dropped(waiting):
    operation = request("verify", waiting, code=" 12 34 ")
    assert operation.secret_input == {"code": "1234"}


def new_code_button(account):
    return XhoppeProvider.operation_label(OperationKind.RESET_PASSWORD, account.status)


@pytest.mark.parametrize(("reason", "says"), [("is invalid", "not valid"), ("is expired", "expired")])
def test_a_wrong_or_expired_code_keeps_the_account_waiting_and_says_why(waiting, http, reason, says):
    http.post(f"{BASE}/users/verify", status=422, json=invalid(code=[reason]))

    operation = run("verify", waiting, code="R4J835")

    assert operation.status == OperationStatus.FAILED and operation.error["retryable"] is False
    assert says in operation.error["message"] and f"code: {reason}" in operation.error["message"]
    # what staff read: the next step, then Xhoppe's refusal in sentences, not parentheses in parentheses
    sentence = explain.operation_error_sentence(operation)
    assert sentence.startswith("Xhoppe refused this SMS code") and sentence.endswith(
        f"What the provider refused: code: {reason}.")
    assert "(" not in sentence.replace("(mistyped, or an older code)", "")
    assert waiting.status == AccountStatus.AWAITING_VERIFICATION
    assert "authentication_token" not in waiting.secrets
    if reason == "is expired":  # what to do, in the words of the button the account's page shows
        assert f"{new_code_button(waiting)} from the account's page" in operation.error["message"]
        assert "Reset password" not in operation.error["message"]


def test_a_locked_account_is_not_shown_as_active(waiting, http):
    http.post(f"{BASE}/users/verify", json={"msisdn": "6591234567", "authentication_token": TOKEN,
                                            "valid_for_authentication": False})

    operation = run("verify", waiting, code="R4J835")

    assert operation.status == OperationStatus.FAILED and operation.error["code"] == "account_locked"
    assert waiting.status == AccountStatus.AWAITING_VERIFICATION
    assert "locked" in waiting.attention
    assert "authentication_token" not in waiting.secrets
    assert f"{new_code_button(waiting).lower()} from the account's page" in operation.error["message"]
    assert "Reset password" not in operation.error["message"]


def test_a_code_of_another_phone_number_is_refused(waiting, http):
    http.post(f"{BASE}/users/verify", json={"msisdn": "6599999999", "authentication_token": TOKEN,
                                            "valid_for_authentication": True})

    operation = run("verify", waiting, code="R4J835")

    assert operation.status == OperationStatus.FAILED and operation.error["code"] == "code_for_another_user"
    assert waiting.status == AccountStatus.AWAITING_VERIFICATION and "authentication_token" not in waiting.secrets


def test_reset_password_asks_xhoppe_to_send_an_sms(waiting, http):
    http.put(f"{BASE}/users/forget_password", json={})

    operation = run("reset_password", waiting)

    assert json.loads(http.calls[0].request.body) == {"msisdn": "6591234567"}
    assert operation.status == OperationStatus.SUCCEEDED and operation.result == {"msisdn": "6591234567",
                                                                                  "sms_sent": True}
    assert waiting.status == AccountStatus.AWAITING_VERIFICATION


def test_xhoppe_has_no_delete_so_deprovision_is_refused(waiting):
    with pytest.raises(services.Conflict) as err:
        request("deprovision", waiting)
    assert err.value.code == "not_supported"
