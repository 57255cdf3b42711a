"""Xhoppe end to end: register -> SMS code from the sandbox outbox -> verify, with a real worker."""

import pytest

from provisioning import services
from provisioning.models import Member
from provisioning.states import AccountStatus, OperationStatus
from tests.integration.support import STAFF, wait_until_finished

pytestmark = pytest.mark.integration

PHONE, MSISDN = "+6591234567", "6591234567"


@pytest.fixture
def xhoppe(sandbox_connection):
    return sandbox_connection("xhoppe")


def register(connection, email: str, phone: str = PHONE):
    member = Member.objects.create(email=email, phone=phone, country="SG")
    return services.account_create(member=member, connection=connection, requested_by=STAFF)


def verify(account, code: str):
    operation = services.operation_request(kind="verify", account=account, input={"code": code},
                                           requested_by=STAFF)
    return wait_until_finished(operation)


def test_register_then_the_code_from_the_outbox_then_verify_makes_the_account_active(
    xhoppe, sandbox_process, celery_worker_process
):
    celery_worker_process()
    account, operation = register(xhoppe, "jane@example.org")

    assert wait_until_finished(operation).status == OperationStatus.SUCCEEDED, operation.error
    account.refresh_from_db()
    assert account.status == AccountStatus.AWAITING_VERIFICATION and account.external_id == MSISDN
    [sms] = sandbox_process.outbox(simulator="xhoppe", to=MSISDN)
    assert sms["channel"] == "sms"

    wrong = verify(account, "WRONG1")
    account.refresh_from_db()
    assert wrong.status == OperationStatus.FAILED and "code: is invalid" in wrong.error["message"]
    assert account.status == AccountStatus.AWAITING_VERIFICATION

    verified = verify(account, sms["data"]["code"].lower())  # codes are case-insensitive

    assert verified.status == OperationStatus.SUCCEEDED, verified.error
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert set(account.secrets) == {"password", "authentication_token"}
    assert len(account.secrets["authentication_token"]) == 20
    assert sandbox_process.state("xhoppe")["verified"] == [MSISDN]

    # Xhoppe cannot close it: once its support has, staff record it, and the member may go
    calls_before = sandbox_process.state("xhoppe")
    closed = wait_until_finished(services.operation_request(
        kind="record_closed", account=account, input={"how_it_was_closed": "Xhoppe support, ticket 8812"},
        requested_by=STAFF))
    assert closed.status == OperationStatus.SUCCEEDED, closed.error
    account.refresh_from_db()
    assert account.status == AccountStatus.DEPROVISIONED and account.secrets == {}
    assert sandbox_process.state("xhoppe") == calls_before and not closed.calls.exists()  # nothing was sent
    services.member_delete(member=account.member)
    assert not Member.objects.exists()


def test_an_expired_code_keeps_the_account_waiting_until_a_new_one_is_sent(
    xhoppe, sandbox_process, celery_worker_process
):
    celery_worker_process()
    account, operation = register(xhoppe, "jane@example.org")
    wait_until_finished(operation)
    old_code = sandbox_process.outbox(simulator="xhoppe", to=MSISDN)[-1]["data"]["code"]
    sandbox_process.clock(advance_seconds=11 * 60)

    expired = verify(account, old_code)
    account.refresh_from_db()
    assert expired.status == OperationStatus.FAILED and "expired" in expired.error["message"]
    assert account.status == AccountStatus.AWAITING_VERIFICATION

    reset = wait_until_finished(
        services.operation_request(kind="reset_password", account=account, requested_by=STAFF)
    )
    assert reset.status == OperationStatus.SUCCEEDED
    new_code = sandbox_process.outbox(simulator="xhoppe", to=MSISDN)[-1]["data"]["code"]

    assert verify(account, new_code).status == OperationStatus.SUCCEEDED
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_a_duplicate_msisdn_is_shown_as_a_field_error(xhoppe, sandbox_process, celery_worker_process):
    celery_worker_process()
    _, first = register(xhoppe, "jane@example.org")
    assert wait_until_finished(first).status == OperationStatus.SUCCEEDED

    account, second = register(xhoppe, "jane.again@example.org")  # another member, the same phone

    failed = wait_until_finished(second)
    assert failed.status == OperationStatus.FAILED and failed.attempts == 1
    assert failed.error["code"] == "invalid_input" and failed.error["retryable"] is False
    assert "msisdn: has already been taken" in failed.error["message"]
    assert failed.result == {"field_errors": {"msisdn": ["has already been taken"]}}
    account.refresh_from_db()
    assert account.status == AccountStatus.FAILED
    assert sandbox_process.state("xhoppe")["users"] == [MSISDN]
