"""Broken answers, end to end: each HTTP provider (SnapTrade, Kandy, Xhoppe, Flyve) answers every
request of an operation with the same broken answer, and the operation runs through the services
(``operation_request`` + ``operation_execute``, HTTP faked with ``responses``), once for
``provision`` and once for another operation of that provider.

Whatever the answer, the operation ends with the documented error (the shared client's one rule,
``ProviderClient.broken_answer``: a gateway's 502 page is a ``transient`` error, an unreadable 2xx
a ``transient`` one for a request safe to repeat and an ``unknown_outcome`` for a create; a 200
whose body is an error is the provider's own mapping; a 200 to a request whose success has no
body to read is a success), never ``internal_error``; a retryable error
leaves it ``waiting_retry``, a permanent one ``failed`` with a sentence; the account is never left
``provisioning`` without an unfinished operation; and every exchange is recorded. Last, the API
never answers 500 for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, Member
from provisioning.states import UNFINISHED_OPERATION_STATUSES, AccountStatus, OperationStatus
from tests.providers.flyve_support import flyve_connection

STAFF = services.Requester("test:staff")
GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
MAX_BYTES = 300


@dataclass(frozen=True)
class Provider:
    name: str
    other: str  # the other operation: an account-level kind, or a connection-level one
    error_body: object  # a 200 whose body is an error, in the provider's shape

    def connection(self, name: str = "") -> Connection:
        if self.name == "flyve":
            return flyve_connection()
        fields = {
            "snaptrade": {"base_url": "https://api.snaptrade.test",
                          "credentials": {"client_id": "CLIENT-42", "consumer_key": "CONSUMER-KEY-1"}},
            "kandy": {"base_url": "https://api.kandy.test/v1.2",
                      "credentials": {"api_key": "DAKkey0001", "api_secret": "DASsecret0001"},
                      "secret_state": {"domain_access_token": "DAT-token-1"}},
            "xhoppe": {"base_url": "http://xhoppe.test/api/v1", "credentials": {}},
        }[self.name]
        return Connection.objects.create(provider=self.name, name=name or self.name, **fields)


PROVIDERS = {
    p.name: p
    for p in [
        Provider("snaptrade", "login_link", {"detail": "Internal error", "status_code": 500, "code": "1000"}),
        Provider("kandy", "sync", {"status": 1, "message": "Internal server error", "result": None}),
        Provider("xhoppe", "reset_password", {"error": "Something went wrong."}),
        Provider("flyve", "health_check", ["ERROR", "Something went wrong."]),
    ]
}
ANSWERS = {
    "gateway 502 page": {"status": 502, "body": GATEWAY_PAGE, "content_type": "text/html"},
    "empty 200": {"status": 200, "body": "", "content_type": "application/json"},
    "truncated JSON 200": {"status": 200, "body": '{"status": 0, "result": {"user', "content_type": "application/json"},
    "non-JSON 200": {"status": 200, "body": "OK, done.", "content_type": "text/plain"},
    "error body 200": None,  # the provider's error_body
    "huge 200": {"status": 200, "json": {"padding": "x" * (MAX_BYTES * 20)}},
}
# a 200 whose body is an error, as each provider's client reads it: (status, error code) per operation
ERROR_BODY = {
    ("snaptrade", "provision"): ("failed", "rejected"),
    ("snaptrade", "login_link"): ("failed", "rejected"),
    ("kandy", "provision"): ("failed", "rejected"),
    ("kandy", "sync"): ("failed", "rejected"),
    ("xhoppe", "provision"): ("waiting_retry", "unknown_outcome"),  # a create: it may have happened
    ("xhoppe", "reset_password"): ("waiting_retry", "transient"),
    # GLPI's error list ["ERROR_...", "message"] where an object is expected: a broken answer
    ("flyve", "provision"): ("waiting_retry", "transient"),
    ("flyve", "health_check"): ("waiting_retry", "transient"),
}
RETRIED = {"transient", "unknown_outcome"}
# operations whose success has no body to read (Xhoppe's forget_password: "HTTP 200; body not
# specified"): a 200 that is not JSON is their success; one holding the provider's error is not
NO_BODY_NEEDED = {("xhoppe", "reset_password")}


def answer_everything(http, base_url: str, answer: dict) -> None:
    every_path = re.compile(re.escape(base_url.rstrip("/")) + r"(/.*)?(\?.*)?$")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        http.add(method, every_path, **answer)


def setup(provider: Provider, kind: str):
    """The connection, and the account the operation runs on (None for a connection-level one)."""
    connection = provider.connection()
    if kind == "health_check":
        return connection, None
    member = Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe",
                                   country="SG", phone="+6591234567")
    account = Account.objects.create(member=member, connection=connection)
    if kind != "provision":
        Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE)
        account.refresh_from_db()
        account.external_id = "6591234567" if provider.name == "xhoppe" else "portal-test-remote-1"
        account.secrets = {"user_secret": "USER-SECRET-1"} if provider.name == "snaptrade" else {}
        account.save()
    return connection, account


@pytest.mark.parametrize("answer_name", ANSWERS)
@pytest.mark.parametrize("which", ["provision", "other"])
@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_broken_answer_ends_in_the_documented_error(db, http, settings, provider_name, which, answer_name):
    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_RESPONSE_BYTES": MAX_BYTES}
    provider = PROVIDERS[provider_name]
    kind = "provision" if which == "provision" else provider.other
    connection, account = setup(provider, kind)
    answer = ANSWERS[answer_name] or {"status": 200, "json": provider.error_body}
    answer_everything(http, connection.base_url, answer)

    operation = services.operation_request(kind=kind, account=account, connection=connection, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()

    outcome = (operation.status, operation.error_code)
    assert operation.error_code != "internal_error", operation.error_message
    if answer_name == "error body 200":
        assert outcome == ERROR_BODY[(provider_name, kind)], operation.error_message
    elif answer_name == "gateway 502 page":
        assert outcome == ("waiting_retry", "transient"), operation.error_message
    elif (provider_name, kind) in NO_BODY_NEEDED and answer_name != "huge 200":
        assert outcome == ("succeeded", ""), operation.error_message
    else:
        assert operation.status == "waiting_retry" and operation.error_code in RETRIED, (outcome, operation.error_message)
    if operation.status == OperationStatus.WAITING_RETRY:
        assert operation.error_retryable is True
    elif operation.status == OperationStatus.SUCCEEDED:
        assert operation.error_retryable is None and not operation.error_message
    else:
        assert operation.error_retryable is False
        assert len(operation.error_message.split()) >= 4 and operation.error_message[0].isupper()  # a sentence
    if answer_name == "huge 200":
        assert f"larger than {MAX_BYTES} bytes" in operation.error_message

    if account is not None:
        account.refresh_from_db()
        unfinished = account.operations.filter(status__in=UNFINISHED_OPERATION_STATUSES).exists()
        assert account.status != AccountStatus.PROVISIONING or unfinished
        if kind != "provision":
            assert account.status == AccountStatus.ACTIVE  # a failed login link or sync changes nothing
    calls = list(ExternalCall.objects.filter(operation=operation))
    assert len(calls) == len(http.calls) >= 1  # every exchange, recorded
    assert calls[-1].status_code == answer["status"]
    if answer_name != "error body 200":  # well-formed JSON, read as the provider's error after recording
        assert calls[-1].error.startswith(operation.error_code)


def test_the_api_answers_a_broken_provider_without_a_500(transactional_db, http, eager, admin_client, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_RESPONSE_BYTES": MAX_BYTES}
    member = Member.objects.create(email="api@example.org", first_name="Api", country="SG")
    for name, answer in ANSWERS.items():
        # a connection each: five transient failures in a row at one would quarantine it, and a
        # quarantine's probe and lift (run at once by the eager tasks) made later answers depend
        # on timing
        connection = PROVIDERS["snaptrade"].connection(name=f"snaptrade {name}")
        http.reset()
        answer_everything(http, connection.base_url, answer or {"status": 200, "json": PROVIDERS["snaptrade"].error_body})

        # the task ran when the request committed: ?wait= only exercises the waiting answer
        response = admin_client.post("/api/v1/accounts/?wait=1", {"member": member.pk, "connection": connection.pk},
                                     content_type="application/json")

        assert response.status_code < 500, (name, response.status_code, response.content[:300])
        operation = response.json()["operation"]
        assert operation["status"] in ("waiting_retry", "failed"), (name, operation)
        assert (operation["error"] or {}).get("code") != "internal_error", (name, operation)
