"""Every provider reads a broken answer the same way: the base client's one rule (providers/http.py).

A gateway's HTML page, an empty or cut-off body where JSON is expected, a body over the size cap:
a 5xx or 429 is the status's usual error, a 4xx the default status mapping, a 2xx an
``UnknownOutcome`` for a create (it may have happened) and a ``TransientError`` for a call that
is safe to repeat. A redirect is a configuration error. Each exchange is still recorded, with its
error. The table gives, per provider, a client on its connection, one create-like call and one
idempotent call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import pytest

from provisioning.models import Connection
from provisioning.providers import exceptions as e
from provisioning.providers.flyve import GlpiClient
from provisioning.providers.http import ProviderClient
from provisioning.providers.kandy import KandyClient
from provisioning.providers.snaptrade import SnapTradeClient
from provisioning.providers.xhoppe import XhoppeClient

GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
NOT_JSON = {
    "html page": GATEWAY_PAGE,
    "empty body": "",
    "truncated JSON": '{"status": 0, "message": "success", "result": {"user',
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    run: Callable[[ProviderClient], object]


@dataclass(frozen=True)
class Row:
    name: str
    connection: Callable[[], Connection]
    client_class: type[ProviderClient]
    create: Call
    read: Call

    def client(self, log) -> ProviderClient:
        return self.client_class(self.connection(), log)

    def url(self, call: Call) -> str:
        return self.connection().base_url + call.path


def connection(provider: str, base_url: str, credentials: dict, secret_state: dict | None = None):
    return lambda: Connection(
        provider=provider, name=provider, base_url=base_url, credentials=credentials, secret_state=secret_state or {}
    )


PROVIDERS = [
    Row(
        "snaptrade",
        connection("snaptrade", "https://api.snaptrade.test", {"client_id": "CLIENT-ID-1", "consumer_key": "CONSUMER-KEY-1"}),
        SnapTradeClient,
        create=Call("POST", "/snapTrade/registerUser", lambda c: c.register_user("portal-m1")),
        read=Call("GET", "/snapTrade/listUsers", lambda c: c.list_users()),
    ),
    Row(
        "kandy",
        connection("kandy", "https://api.kandy.test/v1.2", {"api_key": "DAK-key-1", "api_secret": "DAS-secret-1"},
                   {"domain_access_token": "DAT-token-1"}),
        KandyClient,
        create=Call("POST", "/domains/users/user_id", lambda c: c.create_user(user_id="alice")),
        read=Call("GET", "/domains/users", lambda c: c.list_users()),
    ),
    Row(
        "xhoppe",
        connection("xhoppe", "http://xhoppe.test/api/v1", {}),
        XhoppeClient,
        create=Call("POST", "/users", lambda c: c.register(msisdn="6591234567", password="Pw-123456")),
        read=Call("POST", "/login", lambda c: c.login(msisdn="6591234567", password="Pw-123456")),
    ),
    Row(
        "flyve",
        connection("flyve", "http://glpi.test/apirest.php", {"user_token": "USER-TOKEN-1"}),
        GlpiClient,
        create=Call("POST", "/PluginFlyvemdmdemoUser", lambda c: c.create_user({"name": "jane@example.org"})),
        read=Call("GET", "/getGlpiConfig", lambda c: c.glpi_config()),
    ),
]


@pytest.fixture(params=PROVIDERS, ids=[row.name for row in PROVIDERS])
def row(request) -> Row:
    return request.param


@pytest.fixture
def client(row, log) -> ProviderClient:
    return row.client(log)


def answer(http, row: Row, call: Call, **response) -> None:
    http.add(call.method, row.url(call), **response)


def raised(call: Call, client) -> e.ProviderError:
    with pytest.raises(e.ProviderError) as caught:
        call.run(client)
    return caught.value


def assert_recorded(log, error: e.ProviderError, status: int) -> None:
    """The exchange reached the call log, with its status and its error."""
    assert len(log.calls) == 1
    recorded = log.calls[0]
    assert recorded.status_code == status
    assert recorded.error.startswith(f"{error.code}: ")


@pytest.mark.parametrize("which", ["create", "read"])
def test_a_gateways_html_502_is_transient_even_for_a_create(http, row, client, log, which):
    call = getattr(row, which)
    answer(http, row, call, status=502, body=GATEWAY_PAGE, content_type="text/html")

    error = raised(call, client)

    assert type(error) is e.TransientError and error.status_code == 502
    assert "502" in error.message and "not JSON" in error.message
    assert_recorded(log, error, 502)


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_an_unreadable_200_to_a_create_is_an_unknown_outcome(http, row, client, log, body):
    answer(http, row, row.create, status=200, body=body, content_type="text/html" if body.startswith("<") else "application/json")

    error = raised(row.create, client)

    assert type(error) is e.UnknownOutcome and error.retryable
    assert_recorded(log, error, 200)


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_an_unreadable_200_to_a_read_is_transient(http, row, client, log, body):
    answer(http, row, row.read, status=200, body=body, content_type="text/html" if body.startswith("<") else "application/json")

    error = raised(row.read, client)

    assert type(error) is e.TransientError
    assert_recorded(log, error, 200)


@pytest.mark.parametrize(("which", "expected"), [("create", e.UnknownOutcome), ("read", e.TransientError)])
def test_a_body_over_the_cap_is_a_broken_answer_that_says_the_size(http, row, client, log, settings, which, expected):
    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_RESPONSE_BYTES": 200}
    call = getattr(row, which)
    answer(http, row, call, status=200, json={"padding": "x" * 5000})

    error = raised(call, client)

    assert type(error) is expected
    assert "larger than 200 bytes" in error.message
    assert_recorded(log, error, 200)
    assert len(log.calls[0].response_body) < 1000  # what was read, no more


def test_a_redirect_is_a_configuration_error_that_points_at_the_base_url(http, row, client, log):
    answer(http, row, row.read, status=302, headers={"Location": "https://login.elsewhere.test/"})

    error = raised(row.read, client)

    assert type(error) is e.ConfigurationError
    assert "login.elsewhere.test" in error.message and "base URL" in error.message
    assert_recorded(log, error, 302)


def test_a_429_without_json_waits_as_asked(http, row, client, log):
    answer(http, row, row.create, status=429, body="slow down", content_type="text/plain", headers={"Retry-After": "9"})

    error = raised(row.create, client)

    assert type(error) is e.RateLimited and error.retry_after == 9
    assert_recorded(log, error, 429)


def test_a_4xx_without_json_is_the_default_status_mapping(http, row, client, log):
    answer(http, row, row.read, status=404, body="<html>Not Found</html>", content_type="text/html")

    error = raised(row.read, client)

    assert type(error) is e.NotFound
    assert "answered HTTP 404 with a body that is not JSON" in error.message
    assert_recorded(log, error, 404)


def test_json_of_the_wrong_shape_is_a_broken_answer(http, row, client, log):
    answer(http, row, row.create, status=200, json="a string")

    error = raised(row.create, client)

    assert type(error) is e.UnknownOutcome
    assert_recorded(log, error, 200)


def test_deeply_nested_json_is_a_broken_answer_not_a_crash(http, row, client, log):
    answer(http, row, row.read, status=200, body="[" * 100_000, content_type="application/json")

    error = raised(row.read, client)

    assert type(error) is e.TransientError
    assert_recorded(log, error, 200)


def test_a_readable_answer_is_parsed_once_into_response_data(http, log):
    row = PROVIDERS[2]  # Xhoppe returns the answer's JSON as it is
    answer(http, row, row.read, status=200, json={"msisdn": "6591234567"})

    assert row.read.run(row.client(log)) == {"msisdn": "6591234567"}
    assert json.loads(log.calls[0].response_body) == {"msisdn": "6591234567"} and not log.calls[0].error
