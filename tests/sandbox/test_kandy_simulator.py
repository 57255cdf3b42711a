"""The Kandy v1.2 simulator: the documented contract, envelope, quota, tokens, faults."""

import re

import pytest
import requests

from provisioning.models import Connection
from provisioning.providers.exceptions import QuotaExceeded
from provisioning.providers.kandy import KandyClient


class Kandy:
    """Plain HTTP against ``/kandy/v1.2`` with the simulator's domain key and secret."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.api = sandbox.url + "/kandy/v1.2"
        self.key = sandbox.app["kandy"].settings["api_key"]
        self.secret = sandbox.app["kandy"].settings["api_secret"]

    def call(self, method, path, *, params=None, json=None):
        return requests.request(method, self.api + path, params=params, json=json, timeout=5)

    def token(self) -> str:
        answer = self.call("GET", "/domains/accesstokens", params={"key": self.key, "domain_api_secret": self.secret})
        return answer.json()["result"]["domain_access_token"]

    def create(self, token, user_id, **fields):
        return self.call("POST", "/domains/users/user_id", params={"key": token}, json={"user_id": user_id, **fields})


@pytest.fixture
def kandy(sandbox):
    return Kandy(sandbox)


@pytest.fixture
def token(kandy):
    return kandy.token()


def test_domain_key_and_secret_give_an_opaque_token(kandy):
    answer = kandy.call("GET", "/domains/accesstokens", params={"key": kandy.key, "domain_api_secret": kandy.secret})

    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["message"]) == (0, "success")
    assert re.fullmatch(r"DAT[0-9a-f]{32}", body["result"]["domain_access_token"])


def test_a_wrong_secret_is_refused_in_the_envelope_with_http_200(kandy):
    answer = kandy.call("GET", "/domains/accesstokens", params={"key": kandy.key, "domain_api_secret": "nope"})

    assert answer.status_code == 200
    assert answer.json() == {"status": 1, "message": "invalid key"}


def test_create_user_answers_the_documented_fields(kandy, token):
    answer = kandy.create(token, "alice", user_country_code="US", user_first_name="Alice", user_email="a@x.org")

    body = answer.json()
    assert answer.status_code == 200 and (body["status"], body["message"]) == (0, "success")
    result = body["result"]
    assert set(result) == {"user_id", "user_password", "full_user_id", "domain_name", "user_api_key",
                           "user_api_secret"}
    assert result["full_user_id"] == f"alice@{result['domain_name']}"
    assert re.fullmatch(r"[0-9a-f]{14}", result["user_password"])  # generated when absent, like the seed's
    assert result["user_api_key"].startswith("UAK") and result["user_api_secret"].startswith("UAS")


def test_a_given_password_is_kept_and_checked_against_the_documented_rule(kandy, token):
    assert kandy.create(token, "alice", user_password="abc12-xyz").json()["result"]["user_password"] == "abc12-xyz"
    assert kandy.create(token, "bob", user_password="short1").json()["status"] == 1


@pytest.mark.parametrize("country", ["US", "+1"])
def test_both_country_code_styles_are_accepted(kandy, token, country):
    assert kandy.create(token, "alice", user_country_code=country).json()["status"] == 0


def test_the_quota_of_five_users_answers_the_exact_message(kandy, token):
    for n in range(5):
        assert kandy.create(token, f"user{n}").json()["status"] == 0

    sixth = kandy.create(token, "user5")

    assert sixth.status_code == 200
    assert sixth.json() == {"status": 1, "message": "failed to register user on compass"}
    assert kandy.sandbox.state("kandy")["number_of_users"] == 5


def test_the_quota_and_the_http_status_of_errors_are_settings(kandy, token):
    kandy.sandbox.control("POST", "kandy/settings", {"quota": 1, "error_http_status": 403})
    kandy.create(token, "alice")

    second = kandy.create(token, "bob")

    assert second.status_code == 403
    assert second.json() == {"status": 1, "message": "failed to register user on compass"}


def test_user_ids_are_unique_in_the_domain(kandy, token):
    kandy.create(token, "alice")

    again = kandy.create(token, "alice").json()

    assert again["status"] == 1 and "already exists" in again["message"]


def test_missing_parameters_answer_status_3(kandy, token):
    assert kandy.call("POST", "/domains/users/user_id", params={"key": token}, json={}).json()["status"] == 3
    assert kandy.call("GET", "/domains/users").json()["status"] == 3


def test_the_user_list_carries_what_the_official_plugin_syncs(kandy, token):
    kandy.create(token, "alice", user_first_name="Alice", user_last_name="L", user_email="a@x.org")

    users = kandy.call("GET", "/domains/users", params={"key": token}).json()["result"]["users"]

    assert [u["user_id"] for u in users] == ["alice"]
    assert {"user_id", "user_first_name", "user_last_name", "user_email", "domain_name", "user_api_key",
            "user_api_secret", "user_password"} <= set(users[0])
    kandy.sandbox.control("POST", "kandy/settings", {"list_includes_password": False})
    users = kandy.call("GET", "/domains/users", params={"key": token}).json()["result"]["users"]
    assert "user_password" not in users[0]


def test_delete_user_answers_user_deleted_then_not_found(kandy, token):
    kandy.create(token, "alice")

    first = kandy.call("DELETE", "/domains/users", params={"key": token, "user_id": "alice"}).json()
    second = kandy.call("DELETE", "/domains/users", params={"key": token, "user_id": "alice"}).json()

    assert first == {"status": 0, "message": "User Deleted"}
    assert second == {"status": 1, "message": "user not found"}
    assert kandy.sandbox.state("kandy")["users"] == []


def test_domain_details_count_the_users(kandy, token):
    kandy.create(token, "alice")

    domain = kandy.call("GET", "/accounts/domains/details",
                        params={"key": token, "domain_api_key": kandy.key}).json()["result"]["domain"]

    assert domain["number_of_users"] == 1 and domain["domain_api_key"] == kandy.key
    assert {"domain_name", "project_name"} <= set(domain)


def test_invalidated_and_revoked_tokens_stop_working(kandy, sandbox):
    first, second = kandy.token(), kandy.token()

    assert requests.post(sandbox.url + "/kandy/_sandbox/invalidate-tokens", timeout=5).json() == {"invalidated": 2}
    assert kandy.call("GET", "/domains/users", params={"key": first}).json() == {"status": 1, "message": "invalid key"}

    third = kandy.token()
    assert kandy.call("GET", "/domains/users", params={"key": third}).json()["status"] == 0
    kandy.call("DELETE", "/domains/accesstokens",
               params={"key": kandy.key, "domain_api_secret": kandy.secret, "domain_access_token": third})
    assert kandy.call("GET", "/domains/users", params={"key": third}).json()["status"] == 1
    assert second != third


def test_sms_verification_codes_go_to_the_outbox(kandy, token, sandbox):
    sent = kandy.call("POST", "/domains/verifications/smss", params={"key": token},
                      json={"user_phone_number": "5550001", "user_country_code": "US"})
    assert sent.json() == {"status": 0, "message": "success"}

    message = sandbox.control("GET", "outbox?simulator=kandy")[-1]
    assert (message["channel"], message["to"]) == ("sms", "5550001")
    code = message["data"]["code"]
    check = {"key": token, "validation_code": code}
    assert kandy.call("GET", "/domains/verifications/codes", params=check).json()["status"] == 0
    assert kandy.call("GET", "/domains/verifications/codes", params=check).json()["status"] == 1  # used once


def test_injected_faults_keep_the_envelope_and_are_counted(kandy, token, sandbox):
    sandbox.faults("kandy", fail_next=[{"status": 503}])

    failed = kandy.call("GET", "/domains/users", params={"key": token})

    assert failed.status_code == 503 and failed.json()["status"] == 1
    assert kandy.call("GET", "/domains/users", params={"key": token}).status_code == 200
    assert sandbox.state("kandy")["counters"]["GET /v1.2/domains/users"] == {"200": 1, "503": 1}


def test_the_state_shows_no_secret(kandy, token, sandbox):
    user = kandy.create(token, "alice").json()["result"]

    snapshot = str(sandbox.state("kandy"))

    assert "alice" in snapshot and sandbox.state("kandy")["settings"]["api_secret"] == "***"
    for secret in (token, kandy.secret, user["user_password"], user["user_api_secret"]):
        assert secret not in snapshot


def test_the_portals_client_speaks_the_simulators_contract(kandy, sandbox):
    connection = Connection(provider="kandy", name="k", base_url=kandy.api,
                            credentials={"api_key": kandy.key, "api_secret": kandy.secret})
    client = KandyClient(connection)
    sandbox.control("POST", "kandy/settings", {"quota": 1})

    created = client.create_user(user_id="alice", user_country_code="SG")
    requests.post(sandbox.url + "/kandy/_sandbox/invalidate-tokens", timeout=5)  # renewed transparently
    assert [u["user_id"] for u in client.list_users()] == ["alice"]
    with pytest.raises(QuotaExceeded):
        client.create_user(user_id="bob")
    client.delete_user("alice")

    assert created["full_user_id"].startswith("alice@")
    assert client.domain_details()["number_of_users"] == 0
