"""At-least-once delivery: the lease, the sweeper and the concurrency cap."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import services
from provisioning.models import Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

pytestmark = pytest.mark.usefixtures("caps_count_operations")

STAFF = services.Requester("test:staff")


def test_a_running_operation_is_not_claimed_twice(account):
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    first = services.operation_claim(operation_id=operation.pk)
    second = services.operation_claim(operation_id=operation.pk)

    assert first is not None and first.status == OperationStatus.RUNNING
    assert second is None
    account.refresh_from_db()
    assert account.status == AccountStatus.PROVISIONING


def test_an_expired_lease_lets_another_worker_finish_the_operation(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    services.operation_claim(operation_id=operation.pk)  # a worker took it, then died
    Operation.objects.filter(pk=operation.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.attempts == 2


def test_a_lease_lost_too_often_fails_the_operation(account):
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    services.operation_claim(operation_id=operation.pk)
    Operation.objects.filter(pk=operation.pk).update(
        max_attempts=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert services.operation_claim(operation_id=operation.pk) is None

    operation.refresh_from_db()
    account.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.error_code == "worker_lost"
    assert account.status == AccountStatus.FAILED


def test_sweeper_resends_lost_and_expired_work_only(account, member, connection, django_capture_on_commit_callbacks):
    lost = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    long_ago = timezone.now() - timedelta(minutes=5)
    Operation.objects.filter(pk=lost.pk).update(dispatched_at=long_ago)

    with django_capture_on_commit_callbacks() as callbacks:
        assert services.operations_sweep() == 1
    assert len(callbacks) == 1

    # just dispatched again: not re-sent on the next sweep
    assert services.operations_sweep() == 0


def test_concurrency_cap_defers_the_claim(account, member, connection):
    from provisioning.models import Account, Member

    connection.max_concurrency = 1
    connection.save()
    other = Account.objects.create(member=Member.objects.create(email="b@example.org"), connection=connection)
    first = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    second = services.operation_request(kind="provision", account=other, requested_by=STAFF)
    assert services.operation_claim(operation_id=first.pk) is not None

    assert services.operation_claim(operation_id=second.pk) is None

    second.refresh_from_db()
    other.refresh_from_db()
    assert second.status == OperationStatus.QUEUED and second.next_attempt_at > timezone.now()
    assert second.attempts == 0
    assert other.status == "pending"  # the refused claim changed nothing


def test_a_finished_operation_wakes_the_one_waiting_longest_for_its_slot(
    account, connection, http, django_capture_on_commit_callbacks
):
    from provisioning.models import Account, Member

    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    connection.max_concurrency = 1
    connection.save()
    others = [
        Account.objects.create(member=Member.objects.create(email=f"{n}@example.org"), connection=connection)
        for n in ("b", "c")
    ]
    first = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    waiting = [services.operation_request(kind="provision", account=a, requested_by=STAFF) for a in others]
    services.operation_claim(operation_id=first.pk)
    for operation in waiting:
        assert services.operation_claim(operation_id=operation.pk) is None  # refused a slot
    longest = min(waiting, key=lambda op: Operation.objects.get(pk=op.pk).next_attempt_at)
    Operation.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks() as callbacks:
        services.operation_execute(operation_id=first.pk)

    woken = [op for op in Operation.objects.filter(pk__in=[w.pk for w in waiting]) if op.next_attempt_at <= timezone.now()]
    assert [op.pk for op in woken] == [longest.pk]  # one slot freed, one operation sent
    assert len(callbacks) == 1


def test_the_portals_own_rate_limit_defers_without_using_an_attempt(account, connection, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    connection.requests_per_minute = 1
    connection.save()
    first = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    services.operation_execute(operation_id=first.pk)  # one call this minute
    login = services.operation_request(kind="login_link", account=account, requested_by=STAFF)

    services.operation_execute(operation_id=login.pk)

    login.refresh_from_db()
    assert login.status == OperationStatus.WAITING_RETRY and login.error_code == "local_rate_limit"
    assert login.attempts == 0 and login.next_attempt_at > timezone.now()
    assert len([c for c in http.calls if c.request.url.endswith("/login")]) == 0
