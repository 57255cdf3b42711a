"""Xhoppe and Flyve cannot close an account through their API, so such an account "may exist"
for good and kept its member (and connection) from being deleted. Staff who closed it there by
other means record it: an operation that sends nothing, keeps who, when and how, and leaves the
account deprovisioned."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import explain, services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation, WebhookEndpoint, WebhookEvent
from provisioning.states import AccountStatus, OperationKind, OperationStatus

STAFF = services.Requester("admin:alice")
HOW = "Deleted by hand in Xhoppe's console on 4 December (ticket 8812)"


@pytest.fixture
def xhoppe(db):
    return Connection.objects.create(name="Xhoppe shop", provider="xhoppe", base_url="http://xhoppe.test/api/v1")


@pytest.fixture
def closed_outside(member, xhoppe):
    """``member``'s active Xhoppe account, which the API cannot close."""
    return Account.objects.create(member=member, connection=xhoppe, status=AccountStatus.ACTIVE,
                                  external_id="6591234567", secrets={"password": "derived-pw"})


def record(account, how=HOW):
    operation = services.operation_request(kind=OperationKind.RECORD_CLOSED, account=account,
                                           input={"how_it_was_closed": how}, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    account.refresh_from_db()
    return operation


def refusal(delete, **target) -> str:
    """What ``delete`` (a service) refuses ``target`` with."""
    with pytest.raises(services.Conflict) as refused:
        delete(**target)
    return refused.value.message


def test_recording_the_closing_deprovisions_the_account_and_lets_the_member_go(closed_outside, member):
    assert refusal(services.member_delete, member=member)

    operation = record(closed_outside)

    assert operation.status == OperationStatus.SUCCEEDED
    assert operation.input == {"how_it_was_closed": HOW} and operation.requested_by == "admin:alice"
    assert closed_outside.status == AccountStatus.DEPROVISIONED
    assert closed_outside.secrets == {}  # nothing kept of a user that is gone
    assert not ExternalCall.objects.exists()  # nothing was sent
    assert explain.operation_outcome_sentence(operation) == (
        "Done: recorded as closed at the provider (nothing was sent to it); the account is deprovisioned.")
    services.member_delete(member=member)
    assert not Member.objects.filter(pk=member.pk).exists()


def test_it_says_how(closed_outside):
    with pytest.raises(services.InvalidRequest) as refused:
        services.operation_request(kind=OperationKind.RECORD_CLOSED, account=closed_outside,
                                   input={"how_it_was_closed": "  "}, requested_by=STAFF)
    assert refused.value.field_errors == {
        "how_it_was_closed": [
            "Say how the account was closed at the provider: it is kept as the record of its closing."]}


@pytest.mark.parametrize("status", [AccountStatus.PENDING, AccountStatus.FAILED, AccountStatus.AWAITING_VERIFICATION])
def test_an_account_not_yet_active_may_exist_there_too(closed_outside, status):
    Account.objects.filter(pk=closed_outside.pk).update(status=status)
    closed_outside.refresh_from_db()
    assert record(closed_outside).status == OperationStatus.SUCCEEDED
    assert closed_outside.status == AccountStatus.DEPROVISIONED


def test_a_provider_that_can_close_accounts_deprovisions_them_instead(member, db):
    kandy = Connection.objects.create(name="Kandy", provider="kandy", base_url="http://kandy.test/v1.2",
                                      credentials={"api_key": "k"})
    account = Account.objects.create(member=member, connection=kandy, status=AccountStatus.ACTIVE)
    assert services.operation_refusal(kind=OperationKind.RECORD_CLOSED, account=account) == (
        "Kandy (v1.2) does not support 'Record as closed at the provider'.")
    assert OperationKind.RECORD_CLOSED not in {spec.kind for spec in services.operations_offered(account=account)}


def test_it_is_recorded_at_a_disabled_or_quarantined_connection_and_says_nothing_of_its_health(
        closed_outside, xhoppe):
    # it sends nothing: a disabled connection does not refuse it, a quarantine does not hold it
    Connection.objects.filter(pk=xhoppe.pk).update(
        enabled=False, quarantined_since=timezone.now(), consecutive_failures=7, quarantine_reason="down")

    assert record(closed_outside).status == OperationStatus.SUCCEEDED

    xhoppe.refresh_from_db()
    assert xhoppe.quarantined_since is not None and xhoppe.consecutive_failures == 7  # not a sign of health


def test_subscribers_hear_the_account_was_deprovisioned(closed_outside, admin_user):
    WebhookEndpoint.objects.create(owner=admin_user, url="https://hooks.example.org/portal",
                                   events=["account.deprovisioned"])
    record(closed_outside)
    event = WebhookEvent.objects.get(type="account.deprovisioned")
    assert event.payload["id"] == closed_outside.pk and event.payload["status"] == "deprovisioned"


def test_the_refusal_to_delete_the_member_says_how_to_go_on(closed_outside, member):
    assert refusal(services.member_delete, member=member) == (
        "This member still has accounts that may exist at their providers: Xhoppe shop (active). Xhoppe cannot close "
        "an account through its API: once an account is closed there by other means (its support, by hand), record "
        "it with \u201cRecord as closed at the provider\u201d on the account's page; then the member can be deleted.")


def test_two_providers_that_cannot_close_accounts_are_named_together(closed_outside, member):
    flyve = Connection.objects.create(name="Flyve", provider="flyve", base_url="http://flyve.test/apirest.php")
    Account.objects.create(member=member, connection=flyve, status=AccountStatus.AWAITING_CAPTCHA)
    assert "Flyve MDM demo (GLPI) and Xhoppe cannot close an account through their API: " in refusal(
        services.member_delete, member=member)


def test_a_connection_whose_places_are_taken_does_not_keep_it_waiting(closed_outside, xhoppe, caps_count_operations):
    # its one place busy with another member's provisioning: what sends nothing needs no place
    Connection.objects.filter(pk=xhoppe.pk).update(max_concurrency=1)
    busy = Account.objects.create(member=Member.objects.create(email="busy@example.org", phone="+6591230009"),
                                  connection=xhoppe, status=AccountStatus.PROVISIONING)
    Operation.objects.create(kind=OperationKind.PROVISION, status=OperationStatus.RUNNING, account=busy,
                             connection=xhoppe, requested_by="t", attempts=1,
                             lease_expires_at=timezone.now() + timedelta(minutes=5))
    closed_outside.connection.refresh_from_db()

    assert record(closed_outside).status == OperationStatus.SUCCEEDED


def test_the_refusal_to_delete_the_connection_says_how_to_go_on(closed_outside, xhoppe):
    assert refusal(services.connection_delete, connection=xhoppe) == (
        "This connection still holds 1 account that may exist at the provider (active: 1). Xhoppe cannot close an "
        "account through its API: while the connection holds one, it stays; disable it instead. Once its accounts "
        "are closed there by other means (its support, by hand), select them in the list of accounts (filtered by "
        "this connection) and record them with its action \u201cRecord as closed at the provider\u201d.")
    record(closed_outside)
    services.connection_delete(connection=xhoppe)
    assert not Connection.objects.filter(pk=xhoppe.pk).exists()


def test_a_quarantine_that_starts_while_it_waits_does_not_hold_it(closed_outside, xhoppe):
    queued = services.operation_request(kind=OperationKind.RECORD_CLOSED, account=closed_outside,
                                        input={"how_it_was_closed": HOW}, requested_by=STAFF)
    services.connection_quarantine(connection=xhoppe, reason="down", requested_by=STAFF)
    queued.refresh_from_db()
    assert queued.status == OperationStatus.QUEUED  # a quarantine holds what it sends; this sends nothing
