"""What staff see and do in the admin when a provider fails: a quarantined connection says so
everywhere (list, its page, its accounts' and operations' pages), staff quarantine and lift by
hand, retry now, and confirm what the mass-deletion guard held."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationStatus

STAFF = services.Requester("test:staff")


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def quarantined(connection):
    """The connection, quarantined by the breaker at 10:42 today with a probe due at 10:50."""
    today = timezone.now().replace(hour=10, minute=42, second=0, microsecond=0)
    Connection.objects.filter(pk=connection.pk).update(
        quarantined_since=today,
        quarantine_reason="5 calls failed in a row: SnapTrade answered 503",
        next_probe_at=today + timedelta(minutes=8),
        probe_interval_seconds=80,
    )
    connection.refresh_from_db()
    return connection


SENTENCE = (
    "Everything sandbox is quarantined since 10:42:00 UTC (5 calls failed in a row: SnapTrade answered 503); "
    "next probe at 10:50:00 UTC"
)


def test_the_connection_list_and_page_show_the_quarantine(admin_client, quarantined):
    listing = admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()
    assert "quarantined" in listing and SENTENCE in listing

    page = admin_client.get(reverse("admin:provisioning_connection_change", args=[quarantined.pk])).content.decode()
    assert SENTENCE in page
    assert reverse("admin:provisioning_connection_lift_quarantine", args=[quarantined.pk]) in page


def test_a_pause_the_provider_asked_for_is_shown_with_its_end(admin_client, admin_api, connection):
    resume = timezone.now() + timedelta(minutes=2)
    Connection.objects.filter(pk=connection.pk).update(paused_until=resume)
    words = f"calls resume at {resume:%H:%M:%S} UTC"
    listing = admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()
    assert f"paused until {resume:%H:%M:%S} UTC" in listing and words in listing
    page = admin_client.get(reverse("admin:provisioning_connection_change", args=[connection.pk])).content.decode()
    assert "The provider asked for a pause (too many requests): " + words in page
    assert admin_api.get(f"/api/v1/connections/{connection.pk}/").json()["paused_until"] is not None

    Connection.objects.filter(pk=connection.pk).update(paused_until=timezone.now() - timedelta(seconds=1))
    assert "paused until" not in admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()


def test_held_operations_and_their_accounts_say_why_they_wait(admin_client, quarantined, make_account):
    account = make_account(AccountStatus.PENDING)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    assert operation.status == OperationStatus.HELD

    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert f"Waiting: {SENTENCE}." in page
    assert "Retry now" in page and reverse("admin:provisioning_operation_cancel", args=[operation.pk]) in page

    page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert f"Waiting: {SENTENCE}." in page


def test_a_waiting_retry_shows_its_next_try_in_the_list_and_on_its_page(admin_client, make_account):
    account = make_account(AccountStatus.PENDING)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    next_try = timezone.now().replace(microsecond=0) + timedelta(minutes=7)
    Operation.objects.filter(pk=operation.pk).update(
        status=OperationStatus.WAITING_RETRY, next_attempt_at=next_try, error_code="transient",
        error_message="SnapTrade answered 503",
    )

    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert "Waiting to retry (last try: SnapTrade answered 503); next try at" in page
    assert "transient" not in page.split('id="waiting"')[1].split("</p>")[0]  # words, not its code
    assert f"{next_try:%H:%M:%S}" in page
    listing = admin_client.get(reverse("admin:provisioning_operation_changelist")).content.decode()
    assert "next try at" in listing  # in the outcome column: "Waiting to retry (last try: …); next try at …"

    response = admin_client.post(reverse("admin:provisioning_operation_retry", args=[operation.pk]))
    assert response.status_code == 302
    assert Operation.objects.get(pk=operation.pk).next_attempt_at <= timezone.now()


def test_staff_quarantine_and_lift_by_hand(admin_client, connection):
    url = reverse("admin:provisioning_connection_quarantine", args=[connection.pk])
    assert "Quarantine" in admin_client.get(url).content.decode()

    admin_client.post(url, {"reason": "provider maintenance until 14:00"})

    connection.refresh_from_db()
    assert connection.state == "quarantined"
    assert connection.quarantine_reason == "Quarantined by admin:admin: provider maintenance until 14:00"
    page = admin_client.get(reverse("admin:provisioning_connection_change", args=[connection.pk])).content.decode()
    assert "until a person lifts it" in page

    admin_client.post(reverse("admin:provisioning_connection_lift_quarantine", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.state == "active"


def test_quarantining_by_hand_needs_manage_connection(staff_client, grant, connection):
    grant("view_connection", "change_connection")
    response = staff_client.post(reverse("admin:provisioning_connection_quarantine", args=[connection.pk]), {})
    assert response.status_code == 403
    assert Connection.objects.get(pk=connection.pk).state == "active"


@pytest.fixture
def small_guard(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "MASS_DELETION_MIN_ACCOUNTS": 2, "MASS_DELETION_FRACTION": 0.1}


def active_accounts(connection, n):
    return [
        Account.objects.create(member=Member.objects.create(email=f"a{i}@example.org"), connection=connection,
                               status=AccountStatus.ACTIVE)
        for i in range(n)
    ]


def test_a_bulk_deprovision_beyond_the_threshold_waits_for_a_confirmation(admin_client, connection, small_guard):
    accounts = active_accounts(connection, 4)

    response = admin_client.post(
        reverse("admin:provisioning_account_changelist"),
        {"action": "request_deprovision", ACTION_CHECKBOX_NAME: [a.pk for a in accounts], "confirmed": "yes"},
    )

    operations = list(Operation.objects.filter(kind="deprovision").order_by("id"))
    assert [op.status for op in operations] == ["queued", "queued", "held", "held"]
    assert any("2 of them wait for a person's confirmation (awaiting confirmation: 3 deprovisions at "
               "Everything sandbox in the last hour is more than the 2 allowed" in t for t in texts(response))
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operations[3].pk])).content.decode()
    assert "Waiting for a person: awaiting confirmation: 4 deprovisions at Everything sandbox" in page
    assert reverse("admin:provisioning_operation_confirm", args=[operations[3].pk]) in page

    admin_client.post(reverse("admin:provisioning_operation_confirm", args=[operations[3].pk]))
    confirmed = Operation.objects.get(pk=operations[3].pk)
    assert (confirmed.status, confirmed.confirmed_by) == (OperationStatus.QUEUED, "admin:admin")

    admin_client.post(
        reverse("admin:provisioning_operation_changelist"),
        {"action": "confirm_operations", ACTION_CHECKBOX_NAME: [operations[2].pk]},
    )
    assert Operation.objects.get(pk=operations[2].pk).status == OperationStatus.QUEUED


def test_confirming_a_deprovision_needs_the_deprovision_permission(staff_client, grant, connection, small_guard):
    for account in active_accounts(connection, 3):
        operation = services.operation_request(kind="deprovision", account=account, requested_by=STAFF)
    grant("view_operation", "provision_account")

    response = staff_client.post(reverse("admin:provisioning_operation_confirm", args=[operation.pk]))

    assert response.status_code == 403
    assert Operation.objects.get(pk=operation.pk).needs_confirmation


def test_a_person_who_may_only_deprovision_confirms_from_the_operation_list(
    staff_client, grant, connection, small_guard
):
    for account in active_accounts(connection, 3):
        operation = services.operation_request(kind="deprovision", account=account, requested_by=STAFF)
    grant("view_operation", "deprovision_account")

    staff_client.post(
        reverse("admin:provisioning_operation_changelist"),
        {"action": "confirm_operations", ACTION_CHECKBOX_NAME: [operation.pk]},
    )

    assert Operation.objects.get(pk=operation.pk).status == OperationStatus.QUEUED


def test_an_operation_waiting_for_a_slot_says_what_it_waits_for(admin_client, make_account):
    account = make_account(AccountStatus.PENDING)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    turn = timezone.now().replace(microsecond=0) + timedelta(minutes=3)
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=turn)  # queued, kept back from full slots

    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert "Queued behind other operations of its connection: it runs when one of them ends" in page
    assert f"{turn:%H:%M:%S}" in page
    # waiting is the portal's own business: said in the waiting colours, not in a red error note
    assert re.search(r'<p class="provisioning-waiting" id="waiting">Queued behind', page)
    assert 'class="errornote"' not in page
    account_page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert re.search(r'<p class="provisioning-waiting" id="waiting">Queued behind', account_page)


def test_why_an_operation_waits_is_said_once_on_its_page_and_on_its_account(admin_client, make_account):
    account = make_account(AccountStatus.PENDING)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    Operation.objects.filter(pk=operation.pk).update(
        status=OperationStatus.WAITING_RETRY, next_attempt_at=timezone.now() + timedelta(minutes=7),
        error_code="transient", error_message="SnapTrade answered 503",
    )

    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert page.count("Waiting to retry (last try: SnapTrade answered 503)") == 1  # in the box at the top
    assert "Not finished yet: why it waits, and until when, is at the top of this page." in page
    assert "waiting_retry" not in page  # nor its status's code, in its title
    account_page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert account_page.count("Waiting to retry (last try: SnapTrade answered 503)") == 1
    assert "waiting_retry" not in account_page
