"""The Xhoppe simulator: the seed's contract (1aa0a58), SMS codes in the outbox, Spree errors."""

import re

import pytest
import requests

INVALID_RESOURCE = "Invalid resource. Please fix errors and try again."
MSISDN = "6591234567"


class Xhoppe:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.api = sandbox.url + "/xhoppe/api/v1"

    def call(self, method, path, body=None, headers=None):
        return requests.request(method, self.api + path, json=body, headers=headers, timeout=5)

    def register(self, msisdn=MSISDN, password="Secret-123", confirmation=None, **kwargs):
        body = {"msisdn": msisdn, "password": password,
                "password_confirmation": password if confirmation is None else confirmation}
        return self.call("POST", "/users", body, **kwargs)

    def code(self, msisdn=MSISDN) -> str:
        return self.sandbox.control("GET", f"outbox?simulator=xhoppe&to={msisdn}")[-1]["data"]["code"]


@pytest.fixture
def xhoppe(sandbox):
    return Xhoppe(sandbox)


def test_register_answers_201_unverified_and_texts_a_code(xhoppe, sandbox):
    answer = xhoppe.register()

    assert answer.status_code == 201
    assert answer.json() == {"msisdn": MSISDN, "valid_for_authentication": False}
    [message] = sandbox.control("GET", "outbox?simulator=xhoppe")
    assert (message["channel"], message["to"]) == ("sms", MSISDN)
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", message["data"]["code"])
    assert message["data"]["code"] in message["body"]


def test_a_taken_msisdn_answers_422_with_spree_s_envelope(xhoppe):
    xhoppe.register()

    again = xhoppe.register()

    assert again.status_code == 422
    assert again.json() == {"error": INVALID_RESOURCE, "errors": {"msisdn": ["has already been taken"]}}


@pytest.mark.parametrize(("body", "errors"), [
    ({"msisdn": "", "password": "Secret-123", "password_confirmation": "Secret-123"}, {"msisdn": ["can't be blank"]}),
    ({"msisdn": "12ab", "password": "Secret-123", "password_confirmation": "Secret-123"}, {"msisdn": ["is invalid"]}),
    ({"msisdn": MSISDN, "password": "abc", "password_confirmation": "abc"},
     {"password": ["is too short (minimum is 6 characters)"]}),
    ({"msisdn": MSISDN, "password": "Secret-123", "password_confirmation": "other"},
     {"password_confirmation": ["doesn't match Password"]}),
])
def test_registration_is_validated_rails_style(xhoppe, body, errors):
    answer = xhoppe.call("POST", "/users", body)

    assert answer.status_code == 422 and answer.json()["errors"] == errors


def test_the_code_verifies_case_insensitively_once_and_returns_a_devise_token(xhoppe):
    xhoppe.register()

    verified = xhoppe.call("POST", "/users/verify", {"code": xhoppe.code().lower()})
    again = xhoppe.call("POST", "/users/verify", {"code": xhoppe.code()})

    assert verified.status_code == 200
    body = verified.json()
    assert body["msisdn"] == MSISDN and body["valid_for_authentication"] is True
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", body["authentication_token"])
    assert again.status_code == 422 and again.json()["errors"] == {"code": ["is invalid"]}


def test_a_code_is_valid_ten_minutes_on_the_sandbox_clock(xhoppe, sandbox):
    xhoppe.register()
    code = xhoppe.code()

    sandbox.control("POST", "clock", {"advance_seconds": 601})
    expired = xhoppe.call("POST", "/users/verify", {"code": code})

    assert expired.status_code == 422
    assert expired.json() == {"error": INVALID_RESOURCE, "errors": {"code": ["is expired"]}}
    assert sandbox.state("xhoppe")["verified"] == []


def test_a_code_just_inside_ten_minutes_still_works(xhoppe, sandbox):
    xhoppe.register()
    sandbox.control("POST", "clock", {"advance_seconds": 590})

    assert xhoppe.call("POST", "/users/verify", {"code": xhoppe.code()}).status_code == 200


def test_forget_password_texts_a_new_code_that_replaces_the_old_one(xhoppe, sandbox):
    xhoppe.register()
    first = xhoppe.code()

    answer = xhoppe.call("PUT", "/users/forget_password", {"msisdn": MSISDN})

    assert answer.status_code == 200
    second = xhoppe.code()
    assert len(sandbox.control("GET", "outbox?simulator=xhoppe")) == 2 and second != first
    assert xhoppe.call("POST", "/users/verify", {"code": first}).status_code == 422
    assert xhoppe.call("POST", "/users/verify", {"code": second}).status_code == 200


def test_forget_password_of_an_unknown_msisdn_is_404(xhoppe):
    answer = xhoppe.call("PUT", "/users/forget_password", {"msisdn": MSISDN})

    assert answer.status_code == 404 and "could not be found" in answer.json()["error"]


def test_login_reports_whether_the_user_may_authenticate(xhoppe, sandbox):
    xhoppe.register()

    before = xhoppe.call("POST", "/login", {"msisdn": MSISDN, "password": "Secret-123"})
    wrong = xhoppe.call("POST", "/login", {"msisdn": MSISDN, "password": "nope-nope"})

    assert before.status_code == 200 and before.json()["valid_for_authentication"] is False
    assert wrong.status_code == 401 and wrong.json() == {"error": "Invalid msisdn or password."}


def test_a_locked_user_verifies_but_is_not_valid_for_authentication(xhoppe, sandbox):
    xhoppe.register()
    requests.post(sandbox.url + "/xhoppe/_sandbox/lock", json={"msisdn": MSISDN}, timeout=5)

    verified = xhoppe.call("POST", "/users/verify", {"code": xhoppe.code()})

    assert verified.status_code == 200 and verified.json()["valid_for_authentication"] is False
    assert sandbox.state("xhoppe")["locked"] == [MSISDN]


def test_status_codes_are_settings(xhoppe, sandbox):
    sandbox.control("POST", "xhoppe/settings", {"create_status": 200, "validation_status": 400})

    assert xhoppe.register().status_code == 200
    assert xhoppe.register().status_code == 400


def test_an_api_token_setting_makes_every_call_need_x_xhoppe_token(xhoppe, sandbox):
    sandbox.control("POST", "xhoppe/settings", {"api_token": "t0ken-123"})

    missing = xhoppe.register()
    wrong = xhoppe.register(headers={"X-Xhoppe-Token": "bad"})
    right = xhoppe.register(headers={"X-Xhoppe-Token": "t0ken-123"})

    assert (missing.status_code, missing.json()) == (401, {"error": "You must specify an API key."})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid API key (bad) specified."})
    assert right.status_code == 201
    assert sandbox.state("xhoppe")["settings"]["api_token"] == "***"


def test_injected_faults_answer_in_spree_s_shape_and_are_counted(xhoppe, sandbox):
    sandbox.faults("xhoppe", fail_next=[{"status": 503}])

    failed = xhoppe.register()

    assert failed.status_code == 503 and "error" in failed.json()
    assert sandbox.state("xhoppe")["users"] == []
    assert xhoppe.register().status_code == 201
    assert sandbox.state("xhoppe")["counters"]["POST /api/v1/users"] == {"201": 1, "503": 1}


def test_the_state_shows_no_password_token_or_code(xhoppe, sandbox):
    xhoppe.register()
    code = xhoppe.code()
    token = xhoppe.call("POST", "/login", {"msisdn": MSISDN, "password": "Secret-123"}).json()["authentication_token"]

    snapshot = str(sandbox.state("xhoppe"))

    assert MSISDN in snapshot
    assert "Secret-123" not in snapshot and token not in snapshot and code not in snapshot
