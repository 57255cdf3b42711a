"""No mass deletion by accident: deprovisions beyond an hourly threshold per connection, and a
reconciliation that would flag many accounts at once, wait for a person's confirmation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, Member, Operation
from provisioning.providers import drift
from provisioning.states import AccountStatus, OperationKind, OperationStatus
from tests.services.conftest import BASE, FakeProvider

STAFF = services.Requester("test:staff")


class ReconcilingProvider(FakeProvider):
    """The stand-in with a reconciliation: ``GET /users`` lists the remote user ids."""

    operations = FakeProvider.operations | {OperationKind.RECONCILE}

    def remote_user_ids(self):
        return set(self.client.request("GET", "/users").json()["ids"])


@pytest.fixture(autouse=True)
def small_guard(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "MASS_DELETION_MIN_ACCOUNTS": 3, "MASS_DELETION_FRACTION": 0.1}


def active_accounts(connection, n):
    return [
        Account.objects.create(member=Member.objects.create(email=f"a{i}@example.org"), connection=connection,
                               status=AccountStatus.ACTIVE, external_id=f"remote-{i}")
        for i in range(n)
    ]


def deprovision(account):
    return services.operation_request(kind="deprovision", account=account, requested_by=STAFF)


def test_deprovisions_beyond_the_hourly_threshold_are_held(connection, django_capture_on_commit_callbacks):
    accounts = active_accounts(connection, 5)

    with django_capture_on_commit_callbacks() as callbacks:
        operations = [deprovision(a) for a in accounts]

    assert [op.status for op in operations] == ["queued"] * 3 + ["held"] * 2
    assert all(op.needs_confirmation for op in operations[3:])
    assert operations[3].hold_reason == (
        "awaiting confirmation: 4 deprovisions at fake in the last hour is more than the 3 allowed without a "
        "person's confirmation"
    )
    assert len(callbacks) == 3  # the held ones are not sent
    assert services.operation_execute(operation_id=operations[4].pk) is None


def test_older_and_cancelled_deprovisions_do_not_count(connection):
    accounts = active_accounts(connection, 6)
    first, second, third = [deprovision(a) for a in accounts[:3]]
    Operation.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    services.operation_cancel(operation=second, requested_by=STAFF)

    assert [deprovision(a).status for a in accounts[3:]] == ["queued", "queued", "held"]


def test_a_confirmed_deprovision_runs(connection, http):
    http.delete(f"{BASE}/users/remote-3", json={})
    accounts = active_accounts(connection, 4)
    held = [deprovision(a) for a in accounts][-1]

    confirmed = services.operation_confirm(operation=held, requested_by=STAFF)
    services.operation_execute(operation_id=confirmed.pk)

    held.refresh_from_db()
    assert (held.status, held.confirmed_by) == (OperationStatus.SUCCEEDED, "test:staff")
    assert Account.objects.get(pk=accounts[3].pk).status == AccountStatus.DEPROVISIONED


@pytest.fixture
def reconciling(install_providers, db):
    install_providers(ReconcilingProvider)
    return Connection.objects.create(
        provider=ReconcilingProvider.kind, name="reconciled", base_url=BASE, credentials={"api_key": "K-1234567"}
    )


def test_a_reconcile_that_would_flag_many_accounts_applies_nothing_until_confirmed(reconciling, http):
    accounts = active_accounts(reconciling, 6)
    http.get(f"{BASE}/users", json={"ids": ["remote-0", "remote-1"]})  # four are gone remotely
    operation = services.operation_request(kind="reconcile", connection=reconciling, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert (operation.status, operation.needs_confirmation) == (OperationStatus.HELD, True)
    assert operation.hold_reason.startswith(
        "awaiting confirmation: this reconciliation would flag 4 accounts at reconciled as gone from the provider, "
        "more than the 3 allowed"
    )
    assert operation.result["missing_remotely"] == ["remote-2", "remote-3", "remote-4", "remote-5"]
    assert not Account.objects.exclude(attention="").exists()  # nothing applied

    services.operation_confirm(operation=operation, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    flagged = sorted(Account.objects.exclude(attention="").values_list("external_id", flat=True))
    assert flagged == ["remote-2", "remote-3", "remote-4", "remote-5"]
    assert Account.objects.get(pk=accounts[2].pk).attention.startswith(drift.DRIFT_PREFIX)


def test_a_reconcile_within_the_threshold_applies_at_once(reconciling, http):
    active_accounts(reconciling, 6)
    http.get(f"{BASE}/users", json={"ids": [f"remote-{i}" for i in range(3)]})
    operation = services.operation_request(kind="reconcile", connection=reconciling, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert Account.objects.exclude(attention="").count() == 3
