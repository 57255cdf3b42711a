"""Plain helpers of the integration tests: who requests, the API as staff see it, and waiting for
what the real processes (a Celery worker, the sandbox) do. The fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from provisioning import services
from provisioning.models import Connection, Operation

STAFF = services.Requester("test:staff")
FINISHED = ("succeeded", "failed", "cancelled")
PATIENCE_SECONDS = 90.0  # an upper bound for waiting, never an assertion on timing


def wait_for(condition: Callable[[], object], what: str, timeout: float = PATIENCE_SECONDS, *,
             interval: float = 0.1):
    """Poll ``condition`` every ``interval`` seconds until it returns something truthy (and return that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"gave up waiting for {what}", pytrace=False)


def wait_until_finished(operation: Operation | int) -> Operation:
    """The operation's row once a worker finished it. An Operation given is refreshed in place."""
    row = operation if isinstance(operation, Operation) else Operation.objects.get(pk=operation)

    def finished() -> bool:
        row.refresh_from_db()
        return row.status in FINISHED

    wait_for(finished, f"operation {row.pk} ({row.kind}) to finish")
    return row


class StaffApi:
    """The REST API as a staff member with a DRF token sees it (the ``api`` fixture)."""

    def __init__(self, client):
        self.client = client

    def call(self, method: str, path: str, data=None, expect=(200, 201, 202)) -> dict:
        response = getattr(self.client, method.lower())(f"/api/v1/{path.lstrip('/')}", data, format="json")
        assert response.status_code in expect, f"{method} {path}: {response.status_code} {response.content[:500]!r}"
        return response.json() if response.content else {}

    def operation(self, operation_id: int, *, finished: bool = True) -> dict:
        """The operation, once a worker finished it (or as it is, with ``finished=False``)."""
        if finished:
            wait_until_finished(operation_id)
        return self.call("GET", f"operations/{operation_id}/")

    def provision(self, member_email: str, connection: Connection) -> tuple[dict, dict]:
        """Create a member and its account through the API; returns (account, operation) as accepted."""
        member = self.call("POST", "members/", {"email": member_email, "first_name": "Test"})
        created = self.call("POST", "accounts/", {"member": member["id"], "connection": connection.pk})
        return created["account"], created["operation"]
