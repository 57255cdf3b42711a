"""A database that goes away for a moment (a restart, a failover) in the middle of an attempt:
the provider's answer is kept (the write is tried again), and an error from the database is never
an ``internal_error`` that ends the operation for good."""

import pytest
from django.db import OperationalError

from provisioning import services
from provisioning.models import ExternalCall
from provisioning.services import execution
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

STAFF = services.Requester("test:staff")
pytestmark = pytest.mark.django_db(transaction=True)  # retries happen only outside a transaction


def fail_once(monkeypatch, owner, name):
    real = getattr(owner, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


def test_an_answer_is_kept_when_the_first_write_of_the_outcome_fails(account, http, monkeypatch):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "only-copy-of-the-secret"})
    calls = fail_once(monkeypatch, execution, "_operations_succeed")
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    account.refresh_from_db()
    assert len(calls) == 2
    assert operation.status == OperationStatus.SUCCEEDED
    assert (account.status, account.secrets) == (AccountStatus.ACTIVE, {"user_secret": "only-copy-of-the-secret"})


def test_a_call_is_recorded_once_when_the_first_try_to_record_it_fails(account, http, monkeypatch):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t"})
    calls = fail_once(monkeypatch, execution.DatabaseCallLog, "records")
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert len(calls) == 2
    assert operation.status == OperationStatus.SUCCEEDED
    assert ExternalCall.objects.filter(operation=operation).count() == 1


def test_a_database_error_during_the_attempt_is_retried_not_an_internal_error(account, monkeypatch, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "LEASE_SECONDS": 0.2}  # no time to wait it out

    def down(*args, **kwargs):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(execution.DatabaseCallLog, "before_request", down)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    from tests.services.conftest import FakeProvider

    monkeypatch.setattr(FakeProvider, "provision", lambda self, ctx: self.client.call_log.before_request())

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    account.refresh_from_db()
    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "database_unavailable")
    assert account.status == AccountStatus.PROVISIONING  # its operation is not finished


def test_a_deferred_attempt_is_given_back_once_when_its_first_write_fails(account, monkeypatch):
    from provisioning.providers.exceptions import Deferred
    from tests.services.conftest import FakeProvider

    def deferred(self, ctx):
        raise Deferred("Wait for a slot.", retry_after=5)

    monkeypatch.setattr(FakeProvider, "provision", deferred)
    real, calls = execution._operation_fail_or_retry, []

    def commit_lost(*args, **kwargs):  # the first try changes the operation, then its commit fails
        calls.append(1)
        real(*args, **kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(execution, "_operation_fail_or_retry", commit_lost)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert len(calls) == 2
    assert (operation.status, operation.attempts) == (OperationStatus.WAITING_RETRY, 0)
