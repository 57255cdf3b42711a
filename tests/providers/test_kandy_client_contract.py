"""The Kandy client against the golden bodies of the provider's documented contract (HTTP faked with ``responses``).

Query parameter names, JSON bodies, the envelope check (``status == 0`` and a success message,
whatever the HTTP status), the error mapping of every case §1 lists, and the domain access token:
fetched once, cached as connection secret state, fetched again once when Kandy calls it invalid.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from provisioning.models import Connection
from provisioning.providers.inputs import InputErrors
from provisioning.providers.exceptions import (
    AlreadyExists,
    ConfigurationError,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Rejected,
    TransientError,
)
from provisioning.providers.kandy import KandyClient, KandyProvider

BASE = "https://api.kandy.test/v1.2"
API_KEY, API_SECRET = "DAKkey000000000000000000000000001", "DASsecret0000000000000000000000001"
TOKEN = "DAT0f3c9a2b7d6e4c1a8b5e2d9c6f3a0b7e"
NEW_TOKEN = "DAT11111111111111111111111111111111"

# the provider's documented contract, "Example shapes"
GOLDEN_TOKEN = {"status": 0, "message": "success", "result": {"domain_access_token": TOKEN}}
GOLDEN_CREATED = {
    "status": 0,
    "message": "success",
    "result": {
        "user_id": "alice",
        "user_password": "5f2a9c1e7b3d40",
        "full_user_id": "alice@example.portal",
        "domain_name": "example.portal",
        "user_api_key": "UAK00000000000000000000000000000001",
        "user_api_secret": "UAS00000000000000000000000000000001",
    },
}
GOLDEN_QUOTA = {"status": 1, "message": "failed to register user on compass"}
# the user-list fields the official plugin syncs [K2], plus those [K3] shows
GOLDEN_LIST = {
    "status": 0,
    "message": "success",
    "result": {
        "users": [
            {
                "user_id": "alice",
                "user_first_name": "Alice",
                "user_last_name": "Liddell",
                "user_email": "alice@example.org",
                "domain_name": "example.portal",
                "user_api_key": "UAK00000000000000000000000000000001",
                "user_api_secret": "UAS00000000000000000000000000000001",
                "user_password": "5f2a9c1e7b3d40",
                "user_phone_number": "",
                "user_country_code": "US",
            }
        ]
    },
}
GOLDEN_DOMAIN = {
    "status": 0,
    "message": "success",
    "result": {
        "domain": {
            "domain_name": "example.portal",
            "domain_api_key": API_KEY,
            "project_name": "Portal",
            "number_of_users": 3,
        }
    },
}
INVALID_KEY = {"status": 1, "message": "invalid key"}


@pytest.fixture
def http(strict_http):
    return strict_http


def make_client(log, *, token=TOKEN, **credentials):
    connection = Connection(
        provider="kandy",
        name="kandy",
        base_url=BASE,
        credentials={"api_key": API_KEY, "api_secret": API_SECRET, **credentials},
        secret_state={"domain_access_token": token} if token else {},
    )
    return KandyClient(connection, log)


@pytest.fixture
def client(log):
    return make_client(log)


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_token_is_fetched_with_key_and_secret_and_kept_as_connection_secret_state(http, log):
    http.get(f"{BASE}/domains/accesstokens", json=GOLDEN_TOKEN)
    client = make_client(log, token=None)

    assert client.fetch_domain_access_token() == TOKEN

    assert query(http.calls[0]) == {"key": API_KEY, "domain_api_secret": API_SECRET}
    assert client.connection.secret_state == {"domain_access_token": TOKEN}
    assert log.states == [{"domain_access_token": TOKEN}]


def test_a_call_without_a_cached_token_fetches_one_first(http, log):
    http.get(f"{BASE}/domains/accesstokens", json=GOLDEN_TOKEN)
    http.get(f"{BASE}/domains/users", json=GOLDEN_LIST)

    users = make_client(log, token=None).list_users()

    assert [u["user_id"] for u in users] == ["alice"]
    assert query(http.calls[1]) == {"key": TOKEN}


def test_a_pre_issued_access_token_credential_is_used_before_fetching_one(http, log):
    http.get(f"{BASE}/domains/users", json=GOLDEN_LIST)

    make_client(log, token=None, access_token="DATpreissued0000000000000000000001").list_users()

    assert query(http.calls[0]) == {"key": "DATpreissued0000000000000000000001"}


def test_create_user_sends_the_token_as_key_and_a_json_body(http, client):
    http.post(f"{BASE}/domains/users/user_id", json=GOLDEN_CREATED)

    result = client.create_user(
        user_id="alice", user_country_code="US", user_first_name="Alice", user_last_name="", user_email="a@x.org"
    )

    request = http.calls[0].request
    assert query(http.calls[0]) == {"key": TOKEN}
    assert request.headers["Content-Type"] == "application/json"
    # empty fields are left out: Kandy generates what it is not given
    assert json.loads(request.body) == {
        "user_id": "alice", "user_country_code": "US", "user_first_name": "Alice", "user_email": "a@x.org"
    }
    assert result == GOLDEN_CREATED["result"]


def test_an_invalid_token_is_fetched_again_once_and_the_call_repeated(http, client, log):
    http.post(f"{BASE}/domains/users/user_id", json=INVALID_KEY)
    http.get(f"{BASE}/domains/accesstokens", json={**GOLDEN_TOKEN, "result": {"domain_access_token": NEW_TOKEN}})
    http.post(f"{BASE}/domains/users/user_id", json=GOLDEN_CREATED)

    assert client.create_user(user_id="alice")["user_id"] == "alice"

    assert [query(c)["key"] for c in http.calls] == [TOKEN, API_KEY, NEW_TOKEN]
    assert client.connection.secret_state["domain_access_token"] == NEW_TOKEN
    assert log.states == [{"domain_access_token": NEW_TOKEN}]


def test_a_fresh_token_refused_again_is_a_configuration_error_not_a_loop(http, client):
    http.get(f"{BASE}/domains/users", json=INVALID_KEY)
    http.get(f"{BASE}/domains/accesstokens", json=GOLDEN_TOKEN)
    http.get(f"{BASE}/domains/users", json=INVALID_KEY)

    with pytest.raises(ConfigurationError, match="freshly issued"):
        client.list_users()
    assert len(http.calls) == 3


def test_wrong_key_or_secret_is_a_configuration_error(http, log):
    http.get(f"{BASE}/domains/accesstokens", json=INVALID_KEY)

    with pytest.raises(ConfigurationError, match="key and secret"):
        make_client(log, token=None).fetch_domain_access_token()


def test_full_quota_is_quota_exceeded_never_retried(http, client):
    http.post(f"{BASE}/domains/users/user_id", json=GOLDEN_QUOTA)

    with pytest.raises(QuotaExceeded) as err:
        client.create_user(user_id="alice")
    assert err.value.code == "quota_exceeded" and not err.value.retryable
    assert "failed to register user on compass" in err.value.message


def test_quota_message_on_a_non_2xx_answer_is_still_quota_exceeded(http, client):
    # [K7]: errors may come back as non-2xx with the same envelope
    http.post(f"{BASE}/domains/users/user_id", status=500, json=GOLDEN_QUOTA)

    with pytest.raises(QuotaExceeded):
        client.create_user(user_id="alice")


def test_http_200_with_a_failed_envelope_is_an_error(http, client):
    http.get(f"{BASE}/domains/users", json={"status": 1, "message": "internal error"})

    with pytest.raises(Rejected) as err:
        client.list_users()
    # Kandy's words first: its status is 1 for any failure, which says nothing to a person
    assert err.value.message == "Kandy answered: internal error (Kandy status 1, HTTP 200)"


def test_a_503_with_an_envelope_says_what_kandy_said(http, client):
    http.get(f"{BASE}/domains/users", status=503, json={"status": 1, "message": "Service unavailable"})

    with pytest.raises(TransientError) as err:
        client.list_users()
    assert err.value.message == "Kandy answered: Service unavailable (Kandy status 1, HTTP 503)"


def test_status_0_without_the_success_message_is_not_success(http, client):
    http.get(f"{BASE}/domains/users", json={"status": 0, "message": "pending", "result": {"users": []}})

    with pytest.raises(Rejected, match="without a success message"):
        client.list_users()


def test_success_message_with_a_nonzero_status_is_not_success(http, client):
    http.get(f"{BASE}/domains/users", json={"status": 1, "message": "success"})

    with pytest.raises(Rejected):
        client.list_users()


def test_missing_parameters_status_3_is_invalid_input(http, client):
    http.post(f"{BASE}/domains/users/user_id", json={"status": 3, "message": "missing parameters"})

    with pytest.raises(InvalidInput):
        client.create_user(user_id="alice")


def test_duplicate_user_id_is_already_exists(http, client):
    http.post(f"{BASE}/domains/users/user_id", json={"status": 1, "message": "user_id alice already exists"})

    with pytest.raises(AlreadyExists):
        client.create_user(user_id="alice")


def test_delete_accepts_kandys_user_deleted_message(http, client):
    http.delete(f"{BASE}/domains/users", json={"status": 0, "message": "User Deleted"})

    client.delete_user("alice")

    assert query(http.calls[0]) == {"key": TOKEN, "user_id": "alice"}


def test_delete_of_an_unknown_user_is_not_found(http, client):
    http.delete(f"{BASE}/domains/users", json={"status": 701, "message": "user not found"})

    with pytest.raises(NotFound):
        client.delete_user("alice")


def test_domain_details_send_the_domain_api_key(http, client):
    http.get(f"{BASE}/accounts/domains/details", json=GOLDEN_DOMAIN)

    assert client.domain_details()["number_of_users"] == 3
    assert query(http.calls[0]) == {"key": TOKEN, "domain_api_key": API_KEY}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_without_an_envelope_are_transient(http, client, status):
    http.get(f"{BASE}/domains/users", status=status, body="<html>bad gateway</html>")

    with pytest.raises(TransientError):
        client.list_users()


def test_429_is_rate_limited_with_retry_after(http, client):
    http.get(f"{BASE}/domains/users", status=429, body="slow down", headers={"Retry-After": "7"})

    with pytest.raises(RateLimited) as err:
        client.list_users()
    assert err.value.retry_after == 7


def test_401_with_an_envelope_renews_the_token_like_an_invalid_key(http, client):
    http.get(f"{BASE}/domains/users", status=401, json={"status": 1, "message": "unauthorized"})
    http.get(f"{BASE}/domains/accesstokens", json=GOLDEN_TOKEN)
    http.get(f"{BASE}/domains/users", json=GOLDEN_LIST)

    assert len(client.list_users()) == 1


@pytest.mark.parametrize("message", ["Authentication failed", "unauthorized request", "Access denied"])
def test_other_words_for_a_refused_token_renew_it_too(http, client, message):
    http.get(f"{BASE}/domains/users", json={"status": 1, "message": message})
    http.get(f"{BASE}/domains/accesstokens", json={**GOLDEN_TOKEN, "result": {"domain_access_token": NEW_TOKEN}})
    http.get(f"{BASE}/domains/users", json=GOLDEN_LIST)

    assert len(client.list_users()) == 1
    assert [query(c)["key"] for c in http.calls] == [TOKEN, API_KEY, NEW_TOKEN]


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_without_an_envelope_renews_the_token_too(http, client, status):
    http.get(f"{BASE}/domains/users", status=status, body="<html>Unauthorized</html>", content_type="text/html")
    http.get(f"{BASE}/domains/accesstokens", json={**GOLDEN_TOKEN, "result": {"domain_access_token": NEW_TOKEN}})
    http.get(f"{BASE}/domains/users", json=GOLDEN_LIST)

    assert len(client.list_users()) == 1
    assert [query(c)["key"] for c in http.calls] == [TOKEN, API_KEY, NEW_TOKEN]


def test_no_token_key_or_user_secret_reaches_the_records(http, client, log):
    http.post(f"{BASE}/domains/users/user_id", json=INVALID_KEY)
    http.get(f"{BASE}/domains/accesstokens", json={**GOLDEN_TOKEN, "result": {"domain_access_token": NEW_TOKEN}})
    http.post(f"{BASE}/domains/users/user_id", json=GOLDEN_CREATED)
    http.get(f"{BASE}/domains/users", json=GOLDEN_LIST)

    client.create_user(user_id="alice")
    client.list_users()

    recorded = " ".join(f"{c.url} {c.request_headers} {c.request_body} {c.response_body} {c.error}" for c in log.calls)
    secrets = [TOKEN, NEW_TOKEN, API_KEY, API_SECRET, *(GOLDEN_CREATED["result"][k] for k in
               ("user_password", "user_api_key", "user_api_secret"))]
    assert len(log.calls) == 4
    assert not [s for s in secrets if s in recorded]
    assert "alice" in recorded  # what is not secret stays readable


def test_credentials_can_come_from_the_seeds_environment_variables():
    environ = {"PROJECT_API_KEY": "DAK1", "PROJECT_API_SECRET": "DAS1", "PROJECT_ACCESS_TOKEN": "DAT1", "OTHER": "x"}

    credentials = KandyProvider.credentials_from_environment(environ)

    assert credentials == {"api_key": "DAK1", "api_secret": "DAS1", "access_token": "DAT1"}
    assert KandyProvider.clean_credentials(credentials) == credentials
    with pytest.raises(InputErrors) as refused:
        KandyProvider.clean_credentials({"api_key": "DAK1"})
    assert refused.value.errors == {"api_secret": ["This field is required."]}
