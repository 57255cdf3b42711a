"""The SnapTrade client maps every answer onto the error taxonomy.

SnapTrade's errors look like ``{"detail", "status_code", "code"}``; the detail is what staff see.
"""

import pytest
import requests

from provisioning.models import Connection
from provisioning.providers import exceptions as e
from provisioning.providers.snaptrade import SnapTradeClient

BASE = "https://api.snaptrade.com"
USERS = f"{BASE}/snapTrade/listUsers"
REGISTER = f"{BASE}/snapTrade/registerUser"
LOGIN = f"{BASE}/snapTrade/login"
RESET = f"{BASE}/snapTrade/resetUserSecret"
DELETE = f"{BASE}/snapTrade/deleteUser"


def snaptrade_error(status, detail, code=None):
    return {"detail": detail, "status_code": status, **({"code": code} if code is not None else {})}


@pytest.fixture
def client():
    connection = Connection(provider="snaptrade", name="t", base_url=BASE,
                            credentials={"client_id": "CLIENT-ID-1", "consumer_key": "CONSUMER-KEY-XYZ"})
    return SnapTradeClient(connection)


def raised(call) -> e.ProviderError:
    with pytest.raises(e.ProviderError) as caught:
        call()
    return caught.value


def test_a_refused_signature_is_a_configuration_error_with_snaptrades_detail(client, http):
    http.get(USERS, status=401, json=snaptrade_error(401, "Unable to verify signature sent", "1076"))

    error = raised(client.list_users)

    assert type(error) is e.ConfigurationError
    assert "Unable to verify signature sent" in error.message and "1076" in error.message
    assert error.status_code == 401


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, snaptrade_error(401, "Invalid clientId provided")),
        (403, snaptrade_error(403, "User does not have permission to access this resource", "1066")),
        (401, {"unexpected": "shape"}),
    ],
)
def test_other_authentication_refusals_are_configuration_errors(client, http, status, body):
    http.get(USERS, status=status, json=body)

    assert type(raised(client.list_users)) is e.ConfigurationError


def test_a_refused_user_secret_flags_the_account_not_the_connection(client, http):
    http.post(LOGIN, status=401, json=snaptrade_error(401, "Invalid userID or userSecret provided", "1083"))

    error = raised(lambda: client.login("portal-test-m1-c1", "stored-secret-value"))

    assert type(error) is e.NeedsAttention
    assert "Invalid userID or userSecret provided" in error.message
    assert not isinstance(error, e.ConfigurationError)


def test_a_user_secret_refusal_is_recognised_by_its_detail_too(client, http):
    http.post(RESET, status=403, json=snaptrade_error(403, "The userSecret is not valid for this user", "9999"))

    assert type(raised(lambda: client.reset_user_secret("u", "old-secret-1"))) is e.NeedsAttention


def test_an_error_detail_that_echoes_a_secret_is_masked(client, http):
    http.post(LOGIN, status=400, json=snaptrade_error(400, "bad userSecret stored-secret-value for u", "1001"))

    error = raised(lambda: client.login("u", "stored-secret-value"))

    assert "stored-secret-value" not in error.message and "***" in error.message


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"X-RateLimit-Reset": "12", "X-RateLimit-Remaining": "0"}, 12.0),
        ({"X-RateLimit-Account-Reset": "30"}, 30.0),
        ({"Retry-After": "3", "X-RateLimit-Reset": "40"}, 3.0),
        ({}, None),
    ],
)
def test_throttling_is_rate_limited_with_the_wait_snaptrade_asks_for(client, http, headers, wait):
    http.get(USERS, status=429, headers=headers,
             json=snaptrade_error(429, "Request was throttled. Expected available in 7 seconds.", "0000"))

    error = raised(client.list_users)

    assert type(error) is e.RateLimited
    assert error.retry_after == wait
    assert error.retryable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(client, http, status):
    http.get(USERS, status=status, json=snaptrade_error(status, "Encountered an unexpected exception.", "1000"))

    error = raised(client.list_users)

    assert type(error) is e.TransientError and error.retryable


@pytest.mark.parametrize("code", ["1011", "1003", None])  # 1011 is only the specification's example
def test_deleting_an_unknown_user_is_not_found_whatever_the_code(client, http, code):
    body = snaptrade_error(404, "The requested resource does not exist.", code) if code else {"detail": "Not found."}
    http.delete(DELETE, status=404, json=body)

    assert type(raised(lambda: client.delete_user("gone"))) is e.NotFound


def test_a_400_on_register_means_the_user_possibly_exists(client, http):
    http.post(REGISTER, status=400, json=snaptrade_error(400, "User with the following userId already exist", "1010"))

    error = raised(lambda: client.register_user("portal-test-m1-c1"))

    assert isinstance(error, e.AlreadyExists) and not error.retryable
    assert "already exist" in error.message


def test_a_personal_key_on_register_is_a_configuration_error(client, http):
    http.post(REGISTER, status=400,
              json=snaptrade_error(400, "registerUser is not available for personal keys", "1012"))

    assert type(raised(lambda: client.register_user("u"))) is e.ConfigurationError


@pytest.mark.parametrize(
    ("method", "url", "status", "expected"),
    [
        ("POST", LOGIN, 400, e.InvalidInput),
        ("GET", USERS, 404, e.Rejected),  # a 404 without SnapTrade's "not found" code
        ("GET", USERS, 409, e.Rejected),
        ("GET", USERS, 418, e.Rejected),
    ],
)
def test_any_other_4xx_is_permanent(client, http, method, url, status, expected):
    http.add(method, url, status=status, json=snaptrade_error(status, "Nope.", "1001"))
    call = (lambda: client.login("u", "secret-1")) if url == LOGIN else client.list_users

    error = raised(call)

    assert type(error) is expected and not error.retryable


def test_an_answer_that_is_not_json_is_a_broken_answer_like_every_providers(client, http):
    # the base client's one rule (tests/providers/test_broken_answers_are_read_one_way.py): a read
    # is tried again; only a redirect points at the base URL
    http.get(USERS, body="<html>hello</html>", content_type="text/html")

    error = raised(client.list_users)

    assert type(error) is e.TransientError and "not JSON" in error.message


def test_json_of_the_wrong_shape_is_a_broken_answer_too(client, http):
    http.get(USERS, json={"users": []})
    http.post(REGISTER, json=["u"])

    assert type(raised(client.list_users)) is e.TransientError
    assert type(raised(lambda: client.register_user("u"))) is e.UnknownOutcome


def test_a_redirect_points_at_the_base_url(client, http):
    http.get(USERS, status=301, headers={"Location": "https://elsewhere.example/"})

    error = raised(client.list_users)

    assert type(error) is e.ConfigurationError and "elsewhere.example" in error.message


@pytest.mark.parametrize(
    ("method", "url", "call", "expected"),
    [
        ("POST", REGISTER, lambda c: c.register_user("u"), e.UnknownOutcome),
        ("POST", RESET, lambda c: c.reset_user_secret("u", "secret-1"), e.UnknownOutcome),
        ("POST", LOGIN, lambda c: c.login("u", "secret-1"), e.TransientError),
        ("GET", USERS, lambda c: c.list_users(), e.TransientError),
        ("DELETE", DELETE, lambda c: c.delete_user("u"), e.TransientError),
    ],
)
def test_a_read_timeout_is_an_unknown_outcome_only_where_repeating_is_unsafe(client, http, method, url, call, expected):
    http.add(method, url, body=requests.ReadTimeout("slow"))

    error = raised(lambda: call(client))

    assert type(error) is expected and error.retryable


def test_an_unreachable_api_is_transient(client, http):
    http.get(USERS, body=requests.ConnectionError("refused"))

    assert type(raised(client.list_users)) is e.TransientError
