"""Bulk work is a batch: one rule (``selectors.batch_preview``) says what is sent, before it is
sent; the batch page follows the progress and retries the failed ones."""

import re

import pytest

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from playwright.sync_api import expect

from provisioning import explain, selectors, services
from provisioning.models import Account, Batch, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationStatus

MEMBERS = reverse("admin:provisioning_member_changelist")
ADMIN = services.Requester("admin:test")


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def people(n, prefix="p"):
    return [Member.objects.create(email=f"{prefix}{i}@example.org", first_name=f"{prefix.title()}{i}") for i in range(n)]


def a_mixed_selection(connection):
    """2 without an account, 1 failed, 1 deprovisioned, 1 active, 1 awaiting verification, 1 pending
    whose provisioning is queued (busy); 6 more active accounts outside the selection. Quota 12:
    8 used (active and awaiting), 1 requested and not started: 3 left for 4 candidates."""
    connection.max_accounts = 12
    connection.save()
    new = people(2, "new")
    failed, gone, active, awaiting, busy = people(5, "old")
    Account.objects.create(member=failed, connection=connection, status=AccountStatus.FAILED)
    Account.objects.create(member=gone, connection=connection, status=AccountStatus.DEPROVISIONED)
    Account.objects.create(member=active, connection=connection, status=AccountStatus.ACTIVE)
    Account.objects.create(member=awaiting, connection=connection, status=AccountStatus.AWAITING_VERIFICATION)
    pending = Account.objects.create(member=busy, connection=connection, status=AccountStatus.PENDING)
    Operation.objects.create(kind="provision", account=pending, connection=connection, requested_by="test")
    for other in people(6, "other"):
        Account.objects.create(member=other, connection=connection, status=AccountStatus.ACTIVE)
    return [*new, failed, gone, active, awaiting, busy], new, failed, gone


def test_batch_preview_counts_new_existing_by_state_and_the_quota_left(connection):
    selection, new, failed, gone = a_mixed_selection(connection)
    preview = selectors.batch_preview(connection, selection)
    assert preview.selected == 7
    assert preview.create_count == len(new) == 2
    assert preview.reprovision_count == 2 and preview.again_names == [str(failed), str(gone)]
    assert preview.existing == {"active": 1, "awaiting_verification": 1, "pending": 1}
    assert preview.busy == 1
    assert selectors.connection_quota_used(connection) == 8
    assert preview.quota_left == 3
    assert preview.send_count == 3 and (preview.new_count, preview.again_count) == (2, 1)
    assert preview.over_quota_count == 1
    assert preview.over_quota_names == [str(gone)]  # the last candidate is the one left out


def test_only_what_the_quota_allows_is_sent_and_failed_and_deprovisioned_are_provisioned_again(connection):
    selection, new, failed, gone = a_mixed_selection(connection)
    connection.max_accounts = 13  # 4 left: every candidate fits
    connection.save()
    accounts_before = Account.objects.count()
    batch = services.batch_create(connection=connection, members=selection, requested_by=ADMIN)
    sent = batch.operations.order_by("pk")
    assert sent.count() == 4 and {op.kind for op in sent} == {"provision"}
    assert Account.objects.count() == accounts_before + 2  # the failed and deprovisioned ones are reused
    assert {op.account.member for op in sent} == {*new, failed, gone}
    # the quota is now full (4 requested, not started yet): a second batch cannot take more places
    more = people(2, "late")
    try:
        services.batch_create(connection=connection, members=more, requested_by=ADMIN)
    except services.Conflict as exc:
        assert exc.code == "quota_exceeded"
    else:
        raise AssertionError("the quota was exceeded")
    assert Batch.objects.count() == 1


def test_a_batch_over_the_quota_sends_only_the_first_ones(connection):
    selection, new, failed, gone = a_mixed_selection(connection)
    batch = services.batch_create(connection=connection, members=selection, requested_by=ADMIN)
    assert batch.operations.count() == 3
    assert not Operation.objects.filter(account__member=gone).exists()


def test_member_action_shows_the_counts_before_anything_is_sent(admin_client, connection):
    selection, new, failed, gone = a_mixed_selection(connection)
    data = {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [m.pk for m in selection]}
    operations_before = Operation.objects.count()
    first = admin_client.post(MEMBERS, data)
    assert first.status_code == 200 and not first.context["previews"]  # no connection chosen for staff
    assert "Choose a connection to see what would be sent there; nothing is sent yet." in first.content.decode()
    page = admin_client.post(MEMBERS, {**data, "step": "preview", "connection": connection.pk})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="provisioning-preview-new">2<' in html
    assert 'class="provisioning-preview-again">2 ' in html
    # in the words of the accounts' badges, not their stored names ("awaiting verification")
    assert "(active: 1, waiting for the SMS code: 1, not provisioned yet: 1)" in html
    assert "3 more of 12" in html
    assert 'class="provisioning-preview-over">1 ' in html
    assert "Send 3 provisionings" in html
    assert "Nothing is sent until you press “Send 3 provisionings” below." in html
    # the members by what they have there, then who is left out, then what remains
    rows = re.findall(r'<th scope="row">([^<]*)</th>', html)
    assert rows == [
        "No account there yet",
        "Failed or deprovisioned there",
        "Already have an account there: left alone",
        "The quota still allows",
        "Not sent: over the quota",
        "Will be sent",
    ]
    assert Operation.objects.count() == operations_before  # nothing sent yet

    response = admin_client.post(MEMBERS, {**data, "step": "send", "connection": connection.pk, "previewed": connection.pk})
    batch = Batch.objects.get()
    assert batch.operations.count() == 3
    messages = texts(response)
    assert any(reverse("admin:provisioning_batch_change", args=[batch.pk]) in t and "1 new account" not in t for t in messages)
    # what was left out, in the words of the API's answer, then who the quota left out
    left_out = [t for t in messages if "were not sent" in t]
    assert len(left_out) == 1 and left_out[0].startswith("4 of the 7 members given were not sent: 1 because the quota")
    assert "3 because they already have an account there (active: 1, " in left_out[0]
    assert left_out[0].endswith(f"Left out for the quota: {gone}.")


def test_members_the_provider_cannot_register_as_they_are_are_shown_and_left_out(admin_client, db):
    shop = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    reachable = Member.objects.create(email="reachable@example.org", phone="+6591230001")
    silent = Member.objects.create(email="silent@example.org", first_name="Silent")
    data = {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [reachable.pk, silent.pk]}
    html = admin_client.post(MEMBERS, {**data, "step": "preview", "connection": shop.pk}).content.decode()
    assert 'class="provisioning-preview-incomplete">1 <span class="provisioning-note">(Silent' in html
    # both are counted by what they have there before one is left out ("No account there yet: 1"
    # above "Not sent: ...: 1" read as if the other member had an account)
    assert 'class="provisioning-preview-new">2<' in html
    assert "Not sent: Shop cannot register them as they are" in html
    assert "No phone number: Xhoppe registers people by phone" in html
    assert "Send 1 provisioning<" in html

    response = admin_client.post(MEMBERS, {**data, "step": "send", "connection": shop.pk, "previewed": shop.pk})
    assert [op.account.member for op in Batch.objects.get().operations.all()] == [reachable]
    left_out = [t for t in texts(response) if "1 of the 2 members given was not sent" in t]
    assert len(left_out) == 1 and left_out[0].endswith(f"Left out as they are: {silent}.")

    # its provisioning failed, then the member's phone went: "Retry the failed ones" says so too
    batch = Batch.objects.get()
    batch.operations.update(status=OperationStatus.FAILED)
    Member.objects.filter(pk=reachable.pk).update(phone="")
    response = admin_client.post(reverse("admin:provisioning_batch_retry_failed", args=[batch.pk]))
    assert batch.operations.count() == 1
    said = texts(response)
    assert "Nothing to retry: no failed provisioning that can start again." in said
    assert any("cannot register them as they are" in t and t.endswith("Left out as they are: reachable@example.org.")
               for t in said), said


def test_changing_the_connection_shows_its_preview_before_sending(admin_client, connection, member):
    other = type(connection).objects.create(
        provider=connection.provider, name="Other", base_url="http://sandbox.test/other", credentials=connection.credentials
    )
    data = {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [member.pk], "step": "send", "connection": other.pk}
    page = admin_client.post(MEMBERS, {**data, "previewed": connection.pk})  # previewed another one
    assert page.status_code == 200 and not Operation.objects.exists()
    assert page.context["previews"][0]["preview"].connection == other


def make_batch(connection, statuses):
    batch = Batch.objects.create(connection=connection, requested_by="admin:test")
    for i, status in enumerate(statuses):
        member = Member.objects.create(email=f"b{i}@example.org")
        account_status = AccountStatus.FAILED if status == "failed" else AccountStatus.ACTIVE
        account = Account.objects.create(member=member, connection=connection, status=account_status)
        Operation.objects.create(
            kind="provision", account=account, connection=connection, batch=batch, status=status, requested_by="test"
        )
    return batch


def test_batch_page_shows_progress_failures_and_the_retry_button(admin_client, connection):
    batch = make_batch(connection, ["succeeded", "succeeded", "failed", "queued"])
    page = admin_client.get(reverse("admin:provisioning_batch_change", args=[batch.pk]))
    html = page.content.decode()
    assert "75%</strong>:" in html and "3 of 4 finished" in html
    assert "<progress" not in html  # one bar, not two saying the same
    assert "provisioning-bar-succeeded provisioning-w-50" in html and "provisioning-bar-failed provisioning-w-25" in html
    assert "status__exact=failed" in html and "See the failures" in html
    assert "Retry the failed ones" in html
    assert '<meta http-equiv="refresh"' in html  # one is still queued
    assert ' style="' not in html.split('id="batch-progress"')[1].split("</div>")[0]


def test_retry_the_failed_ones_requests_them_again_in_the_same_batch(admin_client, connection):
    batch = make_batch(connection, ["succeeded", "failed", "failed"])
    response = admin_client.post(reverse("admin:provisioning_batch_retry_failed", args=[batch.pk]))
    assert response.status_code == 302
    again = batch.operations.filter(status=OperationStatus.QUEUED)
    assert again.count() == 2 and {op.account.status for op in again} == {AccountStatus.FAILED}
    progress = selectors.batch_progress(batch)
    assert progress["total"] == 3 and progress["counts"] == {"queued": 2, "succeeded": 1}  # each account once
    # nothing failed is left to retry: the page offers no button, a second POST requests nothing
    page = admin_client.get(reverse("admin:provisioning_batch_change", args=[batch.pk]))
    assert b"Retry the failed ones" not in page.content
    admin_client.post(reverse("admin:provisioning_batch_retry_failed", args=[batch.pk]))
    assert batch.operations.count() == 5


def test_retry_failed_needs_the_provision_permission(staff_client, grant, connection):
    batch = make_batch(connection, ["failed"])
    grant("view_batch")
    url = reverse("admin:provisioning_batch_retry_failed", args=[batch.pk])
    assert b"Retry the failed ones" not in staff_client.get(reverse("admin:provisioning_batch_change", args=[batch.pk])).content
    assert staff_client.post(url).status_code == 403
    grant("provision_account")
    assert staff_client.post(url).status_code == 302
    assert batch.operations.count() == 2


def test_batches_are_not_added_or_changed_by_hand(admin_client, connection):
    assert admin_client.get(reverse("admin:provisioning_batch_add")).status_code == 403
    batch = make_batch(connection, ["succeeded"])
    admin_client.post(reverse("admin:provisioning_batch_change", args=[batch.pk]), {"requested_by": "x"})
    batch.refresh_from_db()
    assert batch.requested_by == "admin:test"


def test_select_all_sends_every_member_the_list_finds_however_many_without_listing_them(admin_client, connection):
    Member.objects.bulk_create(Member(email=f"many{i}@example.org") for i in range(1100))
    Member.objects.create(email="someone-else@example.org")
    url = f"{MEMBERS}?q=many"
    first = Member.objects.filter(email__startswith="many").order_by("pk").first()
    data = {"action": "provision_at_connection", "select_across": "1", ACTION_CHECKBOX_NAME: [first.pk],
            "connection": connection.pk}
    page = admin_client.post(url, {**data, "step": "preview"})
    html = page.content.decode()
    assert page.status_code == 200 and "Selected: 1100 (" in html and "and 1090 more" in html
    assert html.count(f'name="{ACTION_CHECKBOX_NAME}"') == 1 and 'name="select_across" value="1"' in html
    assert "Send 1100 provisionings" in html

    admin_client.post(url, {**data, "step": "send", "previewed": connection.pk})  # what the page posts back
    batch = Batch.objects.get()
    assert batch.operations.count() == 1100
    assert not Account.objects.filter(member__email="someone-else@example.org").exists()


def test_retry_the_failed_ones_works_in_a_browser(transactional_db, page, live_server, django_user_model, connection):
    """The button is clicked, not its URL posted: inside the page's own form it posted that form
    instead (a 403), which a test of the URL alone cannot see."""
    from tests.conftest import browser_sign_in

    batch = make_batch(connection, ["succeeded", "failed"])
    staff = django_user_model.objects.create_superuser("staff", "", "a-long-password")
    browser_sign_in(page, live_server.url, staff, "a-long-password")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{live_server.url}{reverse('admin:provisioning_batch_change', args=[batch.pk])}")
    page.get_by_role("button", name="Retry the failed ones").click()

    expect(page.locator("ul.messagelist")).to_contain_text("Provisioning 1 failed account again in this batch.")
    assert batch.operations.count() == 3


def test_the_batch_page_names_each_status_as_the_rest_of_the_admin_does(admin_client, connection):
    batch = make_batch(connection, ["waiting_retry", "succeeded"])
    html = admin_client.get(reverse("admin:provisioning_batch_change", args=[batch.pk])).content.decode()
    assert ">Waiting to retry: 1</a>" in html and ">Done: 1</a>" in html
    assert 'aria-label="Done: 1, Waiting to retry: 1"' in html


def test_the_batch_page_says_how_many_accounts_now_wait_for_a_person(admin_client, connection):
    """Their provisioning is done (100 %), their registration is not: an SMS code, a captcha..."""
    batch = make_batch(connection, ["succeeded", "succeeded", "succeeded"])
    url = reverse("admin:provisioning_batch_change", args=[batch.pk])
    assert 'id="batch-awaiting"' not in admin_client.get(url).content.decode()

    Account.objects.filter(operations__batch=batch).exclude(member__email="b0@example.org").update(
        status=AccountStatus.AWAITING_VERIFICATION)
    html = admin_client.get(url).content.decode()
    # what they wait for, in the badges' words (it said "a captcha answer, an SMS code or an email
    # validation" whatever they waited for)
    assert "2 of these accounts now wait for a person (waiting for the SMS code: 2)." in html
    assert "needs_person=yes" in html
    Account.objects.filter(member__email="b1@example.org").update(status=AccountStatus.AWAITING_CAPTCHA)
    html = admin_client.get(url).content.decode()
    assert "2 of these accounts now wait for a person (needs a captcha answer: 1, waiting for the SMS code: 1)." in html


@pytest.mark.parametrize(
    "selected, existing, sentence",
    [
        (1, 1, "The member given was not sent, because they already have an account there (active: 1), left as it is."),
        (7, 1, "1 of the 7 members given was not sent: 1 because they already have an account there (active: 1), "
               "left as it is."),
        (7, 2, "2 of the 7 members given were not sent: 2 because they already have an account there (active: 2), "
               "left as it is."),
    ],
)
def test_the_left_out_sentence_agrees_with_its_numbers(connection, selected, existing, sentence):
    # it read "1 of the 1 members given were not sent: 1 because ..."
    preview = selectors.BatchPreview(connection=connection, selected=selected, existing={AccountStatus.ACTIVE: existing})
    assert explain.batch_left_out_sentence(preview) == sentence
