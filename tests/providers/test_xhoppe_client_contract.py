"""The Xhoppe client against the seed's contract (doc version 1aa0a58).

Golden request and answer bodies, any 2xx is success, the Spree error envelope's ``errors`` map
becomes field errors on any 4xx, 401 is a configuration error.
"""

import json

import pytest

from provisioning.models import Connection
from provisioning.providers.exceptions import (
    ConfigurationError,
    InvalidInput,
    NotFound,
    RateLimited,
    TransientError,
)
from provisioning.providers.xhoppe import XhoppeClient, derived_password

BASE = "http://test.xhop.pe/api/v1"
INVALID_RESOURCE = "Invalid resource. Please fix errors and try again."
# the provider's documented contract, "Example shapes"
GOLDEN_REGISTERED = {"msisdn": "6591234567", "valid_for_authentication": False}
GOLDEN_VERIFIED = {
    "msisdn": "6591234567", "authentication_token": "Zq3-x9KpL2mN7bV4cR1t", "valid_for_authentication": True
}
GOLDEN_TAKEN = {"error": INVALID_RESOURCE, "errors": {"msisdn": ["has already been taken"]}}


@pytest.fixture
def http(strict_http):
    return strict_http


@pytest.fixture
def log(log):
    yield log
    assert log.states == [], "Xhoppe keeps no connection state"


def make_client(log, **credentials):
    return XhoppeClient(Connection(provider="xhoppe", name="x", base_url=BASE, credentials=credentials), log)


@pytest.fixture
def client(log):
    return make_client(log)


@pytest.mark.parametrize("status", [200, 201])
def test_register_sends_msisdn_password_and_confirmation_and_accepts_any_2xx(http, client, status):
    http.post(f"{BASE}/users", status=status, json=GOLDEN_REGISTERED)

    assert client.register(msisdn="6591234567", password="Pw-123456") == GOLDEN_REGISTERED

    request = http.calls[0].request
    assert json.loads(request.body) == {"msisdn": "6591234567", "password": "Pw-123456",
                                        "password_confirmation": "Pw-123456"}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert "X-Xhoppe-Token" not in request.headers


def test_the_optional_api_token_travels_as_x_xhoppe_token_and_is_masked(http, log):
    http.post(f"{BASE}/users", status=201, json=GOLDEN_REGISTERED)

    make_client(log, api_token="conn-token-123").register(msisdn="6591234567", password="Pw-123456")

    assert http.calls[0].request.headers["X-Xhoppe-Token"] == "conn-token-123"
    assert "conn-token-123" not in json.dumps(log.calls[0].request_headers)


@pytest.mark.parametrize("status", [422, 400])
def test_a_taken_msisdn_is_invalid_input_with_the_field_message(http, client, status):
    http.post(f"{BASE}/users", status=status, json=GOLDEN_TAKEN)

    with pytest.raises(InvalidInput) as err:
        client.register(msisdn="6591234567", password="Pw-123456")

    assert err.value.field_errors == {"msisdn": ["has already been taken"]}
    assert err.value.message == INVALID_RESOURCE and not err.value.retryable


def test_verify_sends_the_code_alone_and_returns_the_token(http, client, log):
    http.post(f"{BASE}/users/verify", json=GOLDEN_VERIFIED)

    assert client.verify(code="R4J835") == GOLDEN_VERIFIED

    assert json.loads(http.calls[0].request.body) == {"code": "R4J835"}
    recorded = f"{log.calls[0].request_body} {log.calls[0].response_body}"
    assert "R4J835" not in recorded and "Zq3-x9KpL2mN7bV4cR1t" not in recorded


@pytest.mark.parametrize("message", ["is invalid", "is expired", "not valid"])
def test_a_refused_code_carries_the_reason(http, client, message):
    http.post(f"{BASE}/users/verify", status=422, json={"error": INVALID_RESOURCE, "errors": {"code": [message]}})

    with pytest.raises(InvalidInput) as err:
        client.verify(code="R4J835")
    assert err.value.field_errors == {"code": [message]}


@pytest.mark.parametrize(("status", "body"), [(200, '{"msisdn": "6591234567"}'), (200, ""), (200, "OK"), (204, "")])
def test_forget_password_is_a_put_with_the_msisdn_and_any_success_is_one(http, client, log, status, body):
    # the contract: "HTTP 200; body not specified"
    http.put(f"{BASE}/users/forget_password", status=status, body=body)

    assert client.forget_password(msisdn="6591234567") is None
    assert json.loads(http.calls[0].request.body) == {"msisdn": "6591234567"}
    assert len(http.calls) == 1 and not log.calls[0].error


def test_an_empty_answer_is_a_broken_answer_not_an_empty_user(http, client):
    # the base client's one rule (tests/providers/test_broken_answers_are_read_one_way.py)
    http.post(f"{BASE}/login", status=200, body="")

    with pytest.raises(TransientError, match="empty body"):
        client.login(msisdn="6591234567", password="Pw-123456")


def test_login_sends_msisdn_and_password(http, client, log):
    http.post(f"{BASE}/login", json={**GOLDEN_VERIFIED, "valid_for_authentication": False})

    assert client.login(msisdn="6591234567", password="Pw-123456")["valid_for_authentication"] is False
    assert "Pw-123456" not in log.calls[0].request_body


@pytest.mark.parametrize(
    "body", [{"error": "You must specify an API key."}, {"error": "Invalid API key (x) specified."}]
)
def test_401_is_a_configuration_error_with_spree_s_message(http, client, body):
    http.post(f"{BASE}/users", status=401, json=body)

    with pytest.raises(ConfigurationError, match="API key"):
        client.register(msisdn="6591234567", password="Pw-123456")


def test_404_is_not_found(http, client):
    http.put(f"{BASE}/users/forget_password", status=404,
             json={"error": "The resource you were looking for could not be found."})

    with pytest.raises(NotFound):
        client.forget_password(msisdn="6591234567")


def test_5xx_is_transient_and_429_waits(http, client):
    http.post(f"{BASE}/users", status=503, body="down")
    http.post(f"{BASE}/users", status=429, json={"error": "slow"}, headers={"Retry-After": "4"})

    with pytest.raises(TransientError):
        client.register(msisdn="6591234567", password="Pw-123456")
    with pytest.raises(RateLimited) as err:
        client.register(msisdn="6591234567", password="Pw-123456")
    assert err.value.retry_after == 4


def test_derived_passwords_are_strong_stable_per_operation_and_differ_between_operations(settings):
    first = derived_password(connection_id=1, account_id=2, operation_id=3)

    assert first == derived_password(connection_id=1, account_id=2, operation_id=3)
    assert first != derived_password(connection_id=1, account_id=2, operation_id=4)
    assert len(first) == 20
    assert any(c.islower() for c in first) and any(c.isupper() for c in first)
    assert any(c.isdigit() for c in first) and any(not c.isalnum() for c in first)
    settings.FIELD_ENCRYPTION_KEYS = ["another-key", *settings.FIELD_ENCRYPTION_KEYS]
    assert derived_password(connection_id=1, account_id=2, operation_id=3) != first
