"""Shared pieces of the SnapTrade integration tests: the API as a staff client, the connection to
the sandbox process, and waiting for what a real worker does.

Import the fixtures into a test module by name (``from tests.integration.snaptrade_support import
api, snaptrade``); they build on ``sandbox_process`` and ``transactional_db`` (the worker is
another process and sees committed rows only).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from provisioning.models import Connection, Member, Operation
from provisioning.providers.snaptrade import SnapTradeClient, SnapTradeProvider
from provisioning.sandbox.defaults import sandbox_credentials

FINISHED = ("succeeded", "failed", "cancelled")
PATIENCE_SECONDS = 90.0  # an upper bound for waiting, never an assertion on timing


def wait_for(condition: Callable[[], object], what: str, timeout: float = PATIENCE_SECONDS):
    """Poll ``condition`` until it returns something truthy (and return that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}", pytrace=False)


class StaffApi:
    """The REST API as a staff member with a DRF token sees it."""

    def __init__(self, client):
        self.client = client

    def call(self, method: str, path: str, data=None, expect=(200, 201, 202)) -> dict:
        response = getattr(self.client, method.lower())(f"/api/v1/{path.lstrip('/')}", data, format="json")
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.content[:500]!r}"
        return response.json() if response.content else {}

    def operation(self, operation_id: int, *, finished: bool = True) -> dict:
        """The operation, once a worker finished it (or as it is, with ``finished=False``)."""
        if not finished:
            return self.call("GET", f"operations/{operation_id}/")
        return wait_for(
            lambda: (op := self.call("GET", f"operations/{operation_id}/"))["status"] in FINISHED and op,
            f"operation {operation_id} to finish",
        )

    def provision(self, member_email: str, connection: Connection) -> tuple[dict, dict]:
        """Create a member and its account through the API; returns (account, operation) as accepted."""
        member = self.call("POST", "members/", {"email": member_email, "first_name": "Test"})
        created = self.call("POST", "accounts/", {"member": member["id"], "connection": connection.pk})
        return created["account"], created["operation"]


@pytest.fixture
def api(transactional_db, django_user_model):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    staff = django_user_model.objects.create_superuser("ops", "ops@example.org", "not-used-0123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return StaffApi(client)


class SnapTradeSandbox:
    """The sandbox process's SnapTrade simulator and a portal connection pointing at it."""

    def __init__(self, control, connection: Connection):
        self.control = control
        self.connection = connection

    def users(self) -> list[str]:
        return self.control.state("snaptrade")["users"]

    def counter(self, route: str) -> dict[str, int]:
        """Answers by HTTP status of one route, e.g. ``counter("POST /snapTrade/registerUser")``."""
        return self.control.state("snaptrade")["counters"].get(route, {})

    def listed_by_snaptrade(self) -> list[str]:
        """``listUsers`` as our own client asks it (signed, over HTTP)."""
        return SnapTradeClient(self.connection).list_users()


@pytest.fixture
def snaptrade(sandbox_process, transactional_db) -> SnapTradeSandbox:
    fields = SnapTradeProvider.sandbox_connection(
        sandbox_url=sandbox_process.url, credentials=sandbox_credentials()["snaptrade"]
    )
    connection = Connection.objects.create(provider="snaptrade", name="SnapTrade sandbox", **fields)
    return SnapTradeSandbox(sandbox_process, connection)


def new_member(email: str) -> Member:
    return Member.objects.create(email=email)


def operation_row(operation_id: int) -> Operation:
    return Operation.objects.get(pk=operation_id)
