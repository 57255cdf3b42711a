"""When a provider fails: retries bounded by time, the quarantine of a connection, held
operations, probes, a release without a burst, and the emails staff get.

The stand-in provider of conftest.py (no health check: its probe is a held operation) and one
with a health check (``HealthyProvider``), HTTP faked with ``responses``.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, Member, Operation
from provisioning.providers.base import Outcome
from provisioning.models import HealthStatus
from provisioning.services import execution
from provisioning.states import AccountStatus, OperationKind, OperationStatus
from tests.services.conftest import BASE, FakeProvider

STAFF = services.Requester("test:staff")


class HealthyProvider(FakeProvider):
    """The stand-in with a health check (``GET /health``)."""

    operations = FakeProvider.operations | {OperationKind.HEALTH_CHECK}

    def health_check(self, ctx):
        self.client.request("GET", "/health")
        return Outcome(health=(HealthStatus.OK, "up"))


@pytest.fixture
def quick_quarantine(settings):
    settings.PROVISIONING = {
        **settings.PROVISIONING,
        "QUARANTINE_AFTER_FAILURES": 3,
        "QUARANTINE_PROBE_MIN_SECONDS": 10.0,
        "QUARANTINE_PROBE_MAX_SECONDS": 120.0,
        "QUARANTINE_RELEASE_AT_ONCE": 2,
    }


def accounts(connection, n):
    return [
        Account.objects.create(member=Member.objects.create(email=f"m{i}@example.org"), connection=connection)
        for i in range(n)
    ]


def provision(account):
    return services.operation_request(kind="provision", account=account, requested_by=STAFF)


def run_due(operation):
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=None)
    return services.operation_execute(operation_id=operation.pk)


def refreshed(obj):
    obj.refresh_from_db()
    return obj


def outage(http):
    http.post(f"{BASE}/users", status=503, json={"detail": "down for maintenance"})


def recovery(http):
    http.replace("POST", f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})


def quarantined_connection(connection, http, n=3):
    """Three operations fail once each: the connection is quarantined (threshold 3)."""
    outage(http)
    operations = [provision(a) for a in accounts(connection, n)]
    for operation in operations:
        services.operation_execute(operation_id=operation.pk)
    return operations


# --- retries bounded by time -----------------------------------------------------------------------

def test_backoff_is_exponential_with_full_jitter_and_capped(settings, monkeypatch):
    settings.PROVISIONING = {**settings.PROVISIONING, "BACKOFF_BASE_SECONDS": 2.0, "BACKOFF_MAX_SECONDS": 600.0}
    bounds = []
    monkeypatch.setattr(execution.random, "uniform", lambda low, high: bounds.append((low, high)) or high)

    delays = [execution.backoff_seconds(attempt) for attempt in (1, 2, 3, 9, 10, 50, 500)]

    assert delays == [2, 4, 8, 512, 600, 600, 600]
    assert all(low == 0 for low, _ in bounds)  # full jitter: anywhere from 0 to the ceiling


def test_the_first_attempt_sets_the_horizon_from_the_connections_hours(account, connection, http):
    connection.retry_horizon_hours = 2
    connection.save()
    outage(http)
    operation = provision(account)
    before = timezone.now()

    services.operation_execute(operation_id=operation.pk)

    operation = refreshed(operation)
    assert operation.status == OperationStatus.WAITING_RETRY
    assert before + timedelta(hours=2) <= operation.retry_deadline <= timezone.now() + timedelta(hours=2)
    assert operation.next_attempt_at <= operation.retry_deadline


def test_new_connections_take_the_horizon_from_the_setting(settings, fake_provider, db):
    settings.PROVISIONING = {**settings.PROVISIONING, "RETRY_HORIZON_HOURS": 6}
    connection = services.connection_create(
        provider=FakeProvider.kind, name="six", base_url=BASE, credentials={"api_key": "K-123456"}
    )
    assert connection.retry_horizon_hours == 6


def test_a_permanent_error_is_never_retried(account, http):
    http.post(f"{BASE}/users", status=422, json={"detail": "email is invalid"})
    operation = provision(account)

    services.operation_execute(operation_id=operation.pk)

    assert refreshed(operation).status == OperationStatus.FAILED and operation.attempts == 1


# --- quarantine ------------------------------------------------------------------------------------

def test_consecutive_transient_failures_quarantine_the_connection(connection, http, quick_quarantine):
    outage(http)
    operations = [provision(a) for a in accounts(connection, 4)]

    for operation in operations[:2]:
        services.operation_execute(operation_id=operation.pk)
    assert refreshed(connection).quarantined_since is None and connection.consecutive_failures == 2

    services.operation_execute(operation_id=operations[2].pk)

    connection = refreshed(connection)
    assert connection.state == "quarantined"
    assert connection.quarantine_reason == "3 calls failed in a row: down for maintenance"
    assert connection.next_probe_at > timezone.now()
    # what failed and what had not run yet are held; nothing more is sent
    assert {refreshed(op).status for op in operations} == {OperationStatus.HELD}
    calls = len(http.calls)
    assert services.operation_execute(operation_id=operations[3].pk) is None
    assert len(http.calls) == calls


def test_a_success_resets_the_count(connection, http, quick_quarantine):
    outage(http)
    first, second, third = [provision(a) for a in accounts(connection, 3)]
    services.operation_execute(operation_id=first.pk)
    services.operation_execute(operation_id=second.pk)
    recovery(http)

    services.operation_execute(operation_id=third.pk)

    assert refreshed(connection).consecutive_failures == 0 and connection.quarantined_since is None


def test_a_429_is_not_an_outage(connection, http, quick_quarantine):
    http.post(f"{BASE}/users", status=429, json={"detail": "slow down"}, headers={"Retry-After": "1"})
    for operation in [provision(a) for a in accounts(connection, 4)]:
        services.operation_execute(operation_id=operation.pk)
    assert refreshed(connection).quarantined_since is None


def test_operations_requested_while_quarantined_are_held_at_once(connection, http, quick_quarantine,
                                                                  django_capture_on_commit_callbacks):
    quarantined_connection(connection, http)
    late = Account.objects.create(member=Member.objects.create(email="late@example.org"), connection=connection)

    with django_capture_on_commit_callbacks() as callbacks:
        operation = provision(late)

    assert operation.status == OperationStatus.HELD and operation.hold_reason
    assert callbacks == []  # nothing dispatched


def test_held_operations_use_up_neither_attempts_nor_their_horizon(connection, http, quick_quarantine):
    operations = quarantined_connection(connection, http)
    operation = refreshed(operations[0])
    attempts, deadline = operation.attempts, operation.retry_deadline
    # held for an hour: the sweeper and duplicate messages do not run it
    Operation.objects.filter(pk=operation.pk).update(held_since=timezone.now() - timedelta(hours=1))
    services.operations_sweep()
    assert services.operation_execute(operation_id=operation.pk) is None
    assert refreshed(operation).attempts == attempts

    services.connection_quarantine_lift(connection=connection, requested_by=STAFF)

    operation = refreshed(operation)
    assert operation.status == OperationStatus.QUEUED and operation.attempts == attempts
    assert operation.retry_deadline >= deadline + timedelta(hours=1)  # the hour held is given back


def test_a_probe_is_let_through_at_growing_intervals(connection, http, quick_quarantine):
    operations = quarantined_connection(connection, http)
    connection = refreshed(connection)
    assert services.connection_probe(connection_id=connection.pk) is None  # not due yet

    gaps, probes = [], []
    for _ in range(6):
        Connection.objects.filter(pk=connection.pk).update(next_probe_at=timezone.now())
        before = timezone.now()
        probe = services.connection_probe(connection_id=connection.pk)
        assert probe is not None and probe.pk in {op.pk for op in operations}  # a held one
        assert services.connection_probe(connection_id=connection.pk) is None  # one at a time
        gaps.append(round((refreshed(connection).next_probe_at - before).total_seconds()))
        probes.append(probe.pk)
        services.operation_execute(operation_id=probe.pk)  # fails: held again, at the back
        assert refreshed(probe).status == OperationStatus.HELD

    assert gaps == [20, 40, 80, 120, 120, 120]
    assert probes[:3] == [op.pk for op in operations]  # held operations take turns
    assert refreshed(connection).state == "quarantined"


def test_a_provider_with_a_health_check_is_probed_with_one(install_providers, db, http, quick_quarantine):
    install_providers(HealthyProvider)
    connection = Connection.objects.create(
        provider=HealthyProvider.kind, name="healthy", base_url=BASE, credentials={"api_key": "K-1234567"}
    )
    quarantined_connection(connection, http)
    http.get(f"{BASE}/health", status=503, json={"detail": "still down"})
    Connection.objects.filter(pk=connection.pk).update(next_probe_at=timezone.now())

    probe = services.connection_probe(connection_id=connection.pk)
    assert probe.kind == OperationKind.HEALTH_CHECK and refreshed(probe).probe
    services.operation_execute(operation_id=probe.pk)
    assert refreshed(probe).status == OperationStatus.FAILED  # a failed probe is not retried
    assert refreshed(connection).state == "quarantined"

    http.replace("GET", f"{BASE}/health", json={})
    Connection.objects.filter(pk=connection.pk).update(next_probe_at=timezone.now())
    probe = services.connection_probe(connection_id=connection.pk)
    services.operation_execute(operation_id=probe.pk)

    assert refreshed(probe).status == OperationStatus.SUCCEEDED
    assert refreshed(connection).state == "active"


def test_the_sweeper_sends_due_probes(connection, http, quick_quarantine):
    operations = quarantined_connection(connection, http)
    Connection.objects.filter(pk=connection.pk).update(next_probe_at=timezone.now() - timedelta(seconds=1))

    services.operations_sweep()

    assert refreshed(operations[0]).status == OperationStatus.QUEUED and operations[0].probe


def test_the_first_success_lifts_and_releases_without_a_burst(connection, http, quick_quarantine,
                                                             django_capture_on_commit_callbacks):
    operations = quarantined_connection(connection, http, n=6)
    recovery(http)
    Connection.objects.filter(pk=connection.pk).update(next_probe_at=timezone.now())
    probe = services.connection_probe(connection_id=connection.pk)

    with django_capture_on_commit_callbacks() as callbacks:
        services.operation_execute(operation_id=probe.pk)

    assert refreshed(connection).state == "active" and connection.consecutive_failures == 0
    rest = [refreshed(op) for op in operations if op.pk != probe.pk]
    assert {op.status for op in rest} == {OperationStatus.QUEUED}
    now = timezone.now()
    sent_now = [op.pk for op in rest if op.next_attempt_at is None or op.next_attempt_at <= now]
    assert sent_now == [op.pk for op in rest[:2]]  # at most QUARANTINE_RELEASE_AT_ONCE, in order
    dispatches = [c for c in callbacks if c.__qualname__.startswith("operation_dispatch")]
    assert len(dispatches) == 2
    # each operation that finishes wakes the next one, in order
    services.operation_execute(operation_id=rest[0].pk)
    woken = [op.pk for op in rest[2:] if refreshed(op).next_attempt_at <= timezone.now()]
    assert woken == [rest[2].pk]


def test_a_released_operation_runs_to_success(connection, http, quick_quarantine):
    operations = quarantined_connection(connection, http)
    recovery(http)
    services.connection_quarantine_lift(connection=connection, requested_by=STAFF)

    for operation in operations:
        run_due(operation)

    assert {refreshed(op).status for op in operations} == {OperationStatus.SUCCEEDED}
    assert Account.objects.filter(connection=connection, status=AccountStatus.ACTIVE).count() == 3


# --- by hand ---------------------------------------------------------------------------------------

def test_staff_quarantine_a_connection_by_hand_and_lift_it(connection, account, http):
    services.connection_quarantine(connection=connection, reason="provider maintenance", requested_by=STAFF)

    connection = refreshed(connection)
    assert connection.state == "quarantined" and connection.quarantine_manual
    assert connection.quarantine_reason == "Quarantined by test:staff: provider maintenance"
    assert connection.next_probe_at is None  # nothing probes a quarantine imposed by hand
    operation = provision(account)
    assert operation.status == OperationStatus.HELD
    with pytest.raises(services.Conflict):
        services.connection_quarantine(connection=connection, reason="again", requested_by=STAFF)

    services.connection_quarantine_lift(connection=connection, requested_by=STAFF)

    assert refreshed(connection).state == "active"
    assert refreshed(operation).status == OperationStatus.QUEUED
    with pytest.raises(services.Conflict):
        services.connection_quarantine_lift(connection=connection, requested_by=STAFF)


def test_retry_now_sends_a_held_operation_through_as_the_probe(connection, http, quick_quarantine):
    operations = quarantined_connection(connection, http)
    recovery(http)

    retried = services.operation_retry(operation=operations[1], requested_by=STAFF)

    assert retried.pk == operations[1].pk and retried.status == OperationStatus.QUEUED and retried.probe
    services.operation_execute(operation_id=retried.pk)
    assert refreshed(retried).status == OperationStatus.SUCCEEDED
    assert refreshed(connection).state == "active"


def test_retry_now_makes_a_waiting_retry_due(account, http, monkeypatch):
    # a wait of a minute: full jitter draws from zero, and once drew one shorter than this test
    monkeypatch.setattr(execution, "backoff_seconds", lambda attempt: 60.0)
    outage(http)
    operation = provision(account)
    services.operation_execute(operation_id=operation.pk)
    assert refreshed(operation).next_attempt_at > timezone.now()

    services.operation_retry(operation=operation, requested_by=STAFF)

    assert refreshed(operation).status == OperationStatus.WAITING_RETRY
    assert operation.next_attempt_at <= timezone.now()


def test_a_held_operation_can_be_cancelled(connection, http, quick_quarantine):
    operation = quarantined_connection(connection, http)[0]

    services.operation_cancel(operation=operation, requested_by=STAFF)

    assert refreshed(operation).status == OperationStatus.CANCELLED
    assert refreshed(operation.account).status == AccountStatus.PENDING


# --- emails --------------------------------------------------------------------------------------

@pytest.fixture
def staff_to_tell(db):
    keeper = User.objects.create_user("keeper", "keeper@example.org", is_staff=True)
    keeper.user_permissions.add(Permission.objects.get(codename="manage_connection"))
    User.objects.create_user("clerk", "clerk@example.org", is_staff=True)  # no manage_connection
    User.objects.create_superuser("root", "root@example.org", "pw")
    User.objects.create_superuser("gone", "gone@example.org", "pw", is_active=False)
    return ["keeper@example.org", "root@example.org"]


def test_staff_are_told_once_when_a_quarantine_starts_and_once_when_it_ends(
    connection, http, quick_quarantine, staff_to_tell, mailoutbox, eager, django_capture_on_commit_callbacks
):
    outage(http)
    operations = [provision(a) for a in accounts(connection, 5)]
    with django_capture_on_commit_callbacks(execute=True):
        for operation in operations:
            services.operation_execute(operation_id=operation.pk)
            run_due(operation)

    assert [m.subject for m in mailoutbox] == ["[portal] fake is quarantined"]
    assert sorted(mailoutbox[0].to) == staff_to_tell
    assert "3 calls failed in a row: down for maintenance" in mailoutbox[0].body

    recovery(http)
    with django_capture_on_commit_callbacks(execute=True):
        Connection.objects.filter(pk=connection.pk).update(next_probe_at=timezone.now())
        probe = services.connection_probe(connection_id=connection.pk)
        services.operation_execute(operation_id=probe.pk)
        for operation in operations:
            run_due(operation)

    assert [m.subject for m in mailoutbox] == ["[portal] fake is quarantined", "[portal] fake is back"]
    assert "an operation succeeded again" in mailoutbox[1].body
