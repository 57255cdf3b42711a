"""The one path of every operation: request -> claim -> provider -> outcome or error."""

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from provisioning import services
from provisioning.models import ExternalCall, Operation
from provisioning.services import execution
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

STAFF = services.Requester("test:staff")


def request_provision(account):
    return services.operation_request(kind="provision", account=account, requested_by=STAFF)


def test_request_records_a_queued_operation_and_chooses_the_remote_id_first(account):
    operation = request_provision(account)

    account.refresh_from_db()
    assert operation.status == OperationStatus.QUEUED
    assert account.external_id == f"portal-test-m{account.member_id}-c{account.connection_id}"
    assert account.status == AccountStatus.PENDING  # moves only when a worker starts it


def test_request_dispatches_only_after_commit(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        request_provision(account)
    assert len(callbacks) == 1


def test_success_applies_the_outcome_and_encrypts_the_secret(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    operation = request_provision(account)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    account.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.result == {"created": "remote-1"}
    assert account.status == AccountStatus.ACTIVE
    assert account.secrets == {"user_secret": "s3cr3t-value-42"}
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM provisioning_account WHERE id = %s", [account.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("gAAAA") and "s3cr3t" not in raw


def test_every_exchange_is_recorded_without_secrets(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    operation = request_provision(account)
    services.operation_execute(operation_id=operation.pk)

    call = ExternalCall.objects.get(operation=operation)
    recorded = f"{call.url} {call.request_headers} {call.request_body} {call.response_body}"
    assert call.status_code == 200 and call.method == "POST"
    assert "KEY-1234-SECRET" not in recorded
    assert "s3cr3t-value-42" not in recorded
    assert "***" in recorded


def test_a_second_operation_on_a_busy_account_is_a_conflict(account):
    request_provision(account)
    with pytest.raises(services.Conflict) as exc:
        services.operation_request(kind="deprovision", account=account, requested_by=STAFF)
    assert exc.value.code in ("busy", "invalid_state")


def test_an_operation_the_state_does_not_allow_is_a_conflict(account):
    with pytest.raises(services.Conflict) as exc:
        services.operation_request(kind="login_link", account=account, requested_by=STAFF)
    assert exc.value.code == "invalid_state"


def test_an_operation_the_provider_lacks_is_a_conflict(account):
    with pytest.raises(services.Conflict) as exc:
        services.operation_request(kind="rotate_secret", account=account, requested_by=STAFF)
    assert exc.value.code == "not_supported"


def test_quota_refuses_provisioning_before_any_call(account, member, connection, http):
    connection.max_accounts = 0
    connection.save()
    with pytest.raises(services.Conflict) as exc:
        request_provision(account)
    assert exc.value.code == "quota_exceeded"
    assert len(http.calls) == 0


def test_transient_error_waits_then_retries_to_success(account, http, monkeypatch):
    # a wait of a minute keeps "not due yet" true while the test runs (full jitter draws from zero)
    monkeypatch.setattr(execution, "backoff_seconds", lambda attempt: 60.0)
    http.post(f"{BASE}/users", status=503, json={"detail": "down"})
    operation = request_provision(account)

    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.WAITING_RETRY
    assert operation.error_code == "transient" and operation.next_attempt_at > timezone.now()
    account.refresh_from_db()
    assert account.status == AccountStatus.PROVISIONING

    # not due yet: a duplicate message does nothing
    assert services.operation_execute(operation_id=operation.pk) is None

    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
    http.replace("POST", f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED and operation.attempts == 2


def test_retry_honours_retry_after(account, http):
    http.post(f"{BASE}/users", status=429, json={"detail": "slow down"}, headers={"Retry-After": "120"})
    operation = request_provision(account)
    before = timezone.now()

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.WAITING_RETRY
    assert operation.error_code == "rate_limited"
    assert operation.next_attempt_at >= before + timedelta(seconds=120)


def test_transient_errors_give_up_at_the_horizon_not_after_a_number_of_attempts(account, http):
    http.post(f"{BASE}/users", status=502, json={"detail": "bad gateway"})
    operation = request_provision(account)
    Operation.objects.filter(pk=operation.pk).update(max_attempts=2)  # only a crash-loop guard now

    for _ in range(3):
        Operation.objects.filter(pk=operation.pk).update(next_attempt_at=None)
        services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.WAITING_RETRY and operation.attempts == 3

    Operation.objects.filter(pk=operation.pk).update(
        next_attempt_at=None, retry_deadline=timezone.now() - timedelta(seconds=1)
    )
    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    account.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.attempts == 4
    assert operation.error_code == "transient" and operation.error_retryable is True
    assert account.status == AccountStatus.FAILED
    assert account.attention.startswith("Gave up after retrying for 24 h")
    assert "Last error: bad gateway" in account.attention
    assert account.last_error["code"] == "transient"


def test_permanent_error_fails_at_once_with_a_readable_message(account, http):
    http.post(f"{BASE}/users", status=422, json={"detail": "email is invalid"})
    operation = request_provision(account)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.attempts == 1
    assert operation.error_code == "invalid_input" and operation.error_message == "email is invalid"


def test_authentication_error_flags_the_connection(account, connection, http):
    http.post(f"{BASE}/users", status=401, json={"detail": "bad key"})
    operation = request_provision(account)

    services.operation_execute(operation_id=operation.pk)

    connection.refresh_from_db()
    assert connection.health_status == "error" and connection.health_detail == "bad key"


def test_a_failed_non_moving_operation_leaves_the_account_as_it_was(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    services.operation_execute(operation_id=request_provision(account).pk)
    http.post(f"{BASE}/login", status=400, json={"detail": "nope"})

    operation = services.operation_request(kind="login_link", account=account, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)

    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert account.last_error == {"code": "invalid_input", "message": account.last_error["message"],
                                  "operation": operation.pk, "kind": "login_link"}


def test_an_unexpected_exception_fails_the_operation_without_a_traceback(account, http):
    http.post(f"{BASE}/users", json={"unexpected": "shape"})  # KeyError in the provider
    operation = request_provision(account)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.error_code == "internal_error"
    assert "Traceback" not in operation.error_message and "KeyError" not in operation.error_message


def test_cancel_puts_the_account_back(account, http):
    http.post(f"{BASE}/users", status=503, json={"detail": "down"})
    operation = request_provision(account)
    services.operation_execute(operation_id=operation.pk)

    services.operation_cancel(operation=operation, requested_by=STAFF)

    operation.refresh_from_db()
    account.refresh_from_db()
    assert operation.status == OperationStatus.CANCELLED
    assert account.status == AccountStatus.PENDING


def test_only_queued_or_waiting_operations_can_be_cancelled(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    operation = request_provision(account)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    with pytest.raises(services.Conflict):
        services.operation_cancel(operation=operation, requested_by=STAFF)


def test_retry_of_a_failed_operation_is_a_new_operation_with_the_same_input(account, http):
    http.post(f"{BASE}/users", status=422, json={"detail": "email is invalid"})
    failed = request_provision(account)
    services.operation_execute(operation_id=failed.pk)
    failed.refresh_from_db()

    again = services.operation_retry(operation=failed, requested_by=STAFF)

    assert again.pk != failed.pk and again.kind == "provision" and again.status == OperationStatus.QUEUED


def test_a_connection_level_outcome_flags_only_that_connections_accounts(account, connection, fake_provider):
    from provisioning.models import Account, Connection, Member
    from provisioning.providers.base import Outcome
    from provisioning.services.execution import DatabaseCallLog, _Attempt, _operations_succeed

    elsewhere = Account.objects.create(
        member=Member.objects.create(email="x@example.org"),
        connection=Connection.objects.create(provider=connection.provider, name="other", base_url=BASE),
    )
    operation = Operation.objects.create(kind="reconcile", connection=connection, requested_by="schedule")

    outcome = Outcome(account_attention={account.pk: "missing remotely", elsewhere.pk: "no"})
    _operations_succeed([_Attempt(operation, DatabaseCallLog(operation), outcome=outcome)])

    account.refresh_from_db()
    elsewhere.refresh_from_db()
    assert account.attention == "missing remotely" and elsewhere.attention == ""


def test_secret_inputs_and_account_secrets_never_reach_the_records(account, http):
    http.post(f"{BASE}/users", json={"id": "remote-1", "user_secret": "s3cr3t-value-42"})
    services.operation_execute(operation_id=request_provision(account).pk)
    # the fake echoes what it is sent, under a key that is not secret by name
    http.post(f"{BASE}/login", json={"uri": "https://x.test/?echo=s3cr3t-value-42&code=typed-answer"})
    operation = services.operation_request(
        kind="login_link", account=account, input={"answer": "typed-answer"}, requested_by=STAFF
    )

    services.operation_execute(operation_id=operation.pk)

    call = ExternalCall.objects.filter(operation=operation).get()
    assert "typed-answer" not in call.response_body
    assert "s3cr3t-value-42" not in call.response_body
