"""Bulk actions on the account list request operations through services, and explain refusals."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from provisioning.models import Account, Batch, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationStatus

CHANGELIST = reverse("admin:provisioning_account_changelist")


def run_action(client, action, accounts, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [a.pk for a in accounts], **extra}
    return client.post(CHANGELIST, data)


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_provision_action_says_what_will_be_sent_then_sends_a_batch(admin_client, make_account, admin_user):
    account = make_account(AccountStatus.PENDING)
    page = run_action(admin_client, "request_provision", [account])
    assert page.status_code == 200 and b"Send 1 provisioning" in page.content
    assert not Operation.objects.exists()  # nothing is sent before the confirmation
    response = run_action(admin_client, "request_provision", [account], step="send")
    operation = Operation.objects.get(account=account)
    assert operation.kind == "provision" and operation.status == OperationStatus.QUEUED
    assert operation.requested_by == "admin:admin" and operation.requested_by_user == admin_user
    assert operation.batch is not None
    assert response.status_code == 302
    assert any(reverse("admin:provisioning_batch_change", args=[operation.batch_id]) in text for text in texts(response))
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING  # the admin never changes an account itself


def test_action_not_allowed_by_state_is_a_message_not_an_error(admin_client, make_account):
    account = make_account(AccountStatus.PENDING)
    response = run_action(admin_client, "request_login_link", [account])
    assert response.status_code == 302
    assert not Operation.objects.exists()
    # why, in the services' words: it said "the provider does not offer it or the account's state
    # does not allow it", whichever it was
    assert any(text.startswith(f"Not requested for {account}:") and "Login link is not possible for an account "
               "that is pending: only for one that is active." in text for text in texts(response))


def test_an_action_a_provider_does_not_offer_says_so_apart_from_the_others(admin_client, make_account, db):
    ann = Member.objects.create(email="ann@example.org")
    xhoppe = Connection.objects.create(provider="xhoppe", name="Xhoppe", base_url="http://x.test", credentials={})
    at_xhoppe = Account.objects.create(member=ann, connection=xhoppe, status=AccountStatus.ACTIVE)
    pending = make_account(AccountStatus.PENDING)
    messages = texts(run_action(admin_client, "request_login_link", [at_xhoppe, pending]))
    assert any(text == f"Not requested for {at_xhoppe}: Xhoppe does not support 'Login link'." for text in messages)
    assert any(text.startswith(f"Not requested for {pending}: Login link is not possible") for text in messages)


def test_busy_account_is_reported_per_account(admin_client, make_account, connection):
    busy = make_account(AccountStatus.ACTIVE)
    other_member = Member.objects.create(email="joe@example.org")
    free = make_account(AccountStatus.ACTIVE, member=other_member)
    Operation.objects.create(kind="sync", account=busy, connection=connection, requested_by="test")
    response = run_action(admin_client, "request_rotate_secret", [busy, free])
    assert Operation.objects.filter(kind="rotate_secret").get().account == free
    messages = texts(response)
    assert any("Another operation on this account is not finished yet" in text and "jane@example.org" in text for text in messages)
    assert any("Requested rotate secret" in text for text in messages)


def test_quota_conflict_is_reported(admin_client, make_account, connection):
    connection.max_accounts = 1
    connection.save()
    make_account(AccountStatus.ACTIVE)
    waiting = make_account(AccountStatus.PENDING, member=Member.objects.create(email="joe@example.org"))
    page = run_action(admin_client, "request_provision", [waiting])
    assert b"Not sent: over the quota" in page.content and b"Send" not in page.content.split(b"submit-row")[-1]
    response = run_action(admin_client, "request_provision", [waiting], step="send")
    assert not Operation.objects.filter(account=waiting).exists()
    assert any("quota" in text for text in texts(response))


def test_deprovision_asks_for_confirmation_first(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    first = run_action(admin_client, "request_deprovision", [account])
    assert first.status_code == 200 and b"Yes, deprovision" in first.content
    assert not Operation.objects.exists()
    run_action(admin_client, "request_deprovision", [account], confirmed="yes")
    assert Operation.objects.get(account=account).kind == "deprovision"


def test_actions_need_their_permission(staff_client, grant, make_account):
    grant("view_account")
    account = make_account(AccountStatus.ACTIVE)
    page = staff_client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action is offered without a permission
    run_action(staff_client, "request_deprovision", [account], confirmed="yes")
    assert not Operation.objects.exists()


def test_provision_permission_does_not_allow_deprovision(staff_client, grant, make_account):
    grant("view_account", "provision_account")
    account = make_account(AccountStatus.ACTIVE)
    run_action(staff_client, "request_deprovision", [account], confirmed="yes")
    assert not Operation.objects.exists()
    run_action(staff_client, "request_sync", [account])
    assert Operation.objects.get().kind == "sync"


def test_many_accounts_are_one_batch_and_the_message_links_to_it(admin_client, make_account, connection):
    accounts = [make_account(member=Member.objects.create(email=f"m{i}@example.org")) for i in range(3)]
    response = run_action(admin_client, "request_provision", accounts, step="send")
    assert response.status_code == 302 and response["Location"].endswith(CHANGELIST)
    batch = Batch.objects.get()
    assert batch.operations.count() == 3
    assert any(reverse("admin:provisioning_batch_change", args=[batch.pk]) in text for text in texts(response))
    assert not any("see the operations" in text for text in texts(response))


def test_connection_actions_request_health_check_and_reconcile(admin_client, connection):
    url = reverse("admin:provisioning_connection_changelist")
    admin_client.post(url, {"action": "request_health_check", ACTION_CHECKBOX_NAME: [connection.pk]})
    admin_client.post(url, {"action": "request_reconcile", ACTION_CHECKBOX_NAME: [connection.pk]})
    assert sorted(Operation.objects.filter(connection=connection, account=None).values_list("kind", flat=True)) == [
        "health_check",
        "reconcile",
    ]


def test_disabled_connection_refuses_reconcile_with_a_message(admin_client, connection):
    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    url = reverse("admin:provisioning_connection_changelist")
    response = admin_client.post(url, {"action": "request_reconcile", ACTION_CHECKBOX_NAME: [connection.pk]})
    assert response.status_code == 302
    assert not Operation.objects.exists()
    assert any("disabled" in text for text in texts(response))


@pytest.mark.parametrize("verb, status, expected", [("cancel", OperationStatus.QUEUED, OperationStatus.CANCELLED)])
def test_operation_can_be_cancelled_from_its_page(admin_client, make_account, connection, verb, status, expected):
    account = make_account(AccountStatus.ACTIVE)
    operation = Operation.objects.create(kind="sync", account=account, connection=connection, requested_by="t", status=status)
    url = reverse(f"admin:provisioning_operation_{verb}", args=[operation.pk])
    assert admin_client.get(url).status_code == 200
    admin_client.post(url)
    operation.refresh_from_db()
    assert operation.status == expected


def test_failed_operation_is_retried_as_a_new_one(admin_client, make_account, connection):
    account = make_account(AccountStatus.ACTIVE)
    failed = Operation.objects.create(
        kind="sync", account=account, connection=connection, requested_by="t", status=OperationStatus.FAILED
    )
    response = admin_client.post(reverse("admin:provisioning_operation_retry", args=[failed.pk]))
    retry = Operation.objects.exclude(pk=failed.pk).get()
    assert retry.kind == "sync" and retry.status == OperationStatus.QUEUED
    assert response["Location"] == reverse("admin:provisioning_operation_change", args=[retry.pk])


def test_retrying_a_succeeded_operation_is_refused_with_a_message(admin_client, make_account, connection):
    account = make_account(AccountStatus.ACTIVE)
    done = Operation.objects.create(
        kind="sync", account=account, connection=connection, requested_by="t", status=OperationStatus.SUCCEEDED
    )
    response = admin_client.post(reverse("admin:provisioning_operation_retry", args=[done.pk]))
    assert response.status_code == 302
    assert Operation.objects.count() == 1
    assert any("Only a failed operation" in text for text in texts(response))


def test_unfinished_operation_page_refreshes_itself_and_finished_does_not(admin_client, make_account, connection):
    account = make_account(AccountStatus.ACTIVE)
    operation = Operation.objects.create(kind="sync", account=account, connection=connection, requested_by="t")
    url = reverse("admin:provisioning_operation_change", args=[operation.pk])
    assert b'http-equiv="refresh"' in admin_client.get(url).content
    Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.SUCCEEDED)
    assert b'http-equiv="refresh"' not in admin_client.get(url).content


def test_accounts_are_never_edited_or_deleted_in_the_admin(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    url = reverse("admin:provisioning_account_change", args=[account.pk])
    admin_client.post(url, {"status": "deprovisioned", "external_id": "x"})
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert admin_client.post(reverse("admin:provisioning_account_delete", args=[account.pk]), {"post": "yes"}).status_code == 403
    assert Account.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("action", ["request_sync", "request_deprovision"])
def test_an_action_on_more_accounts_than_the_bound_requests_nothing_and_says_why(admin_client, make_account,
                                                                                  monkeypatch, action):
    """Each account's request goes through the services on its own: "select all" on a million
    accounts would hold the web server for hours. Beyond the bound, nothing is requested."""
    from provisioning.admin import common

    monkeypatch.setattr(common, "ACTION_MAX_ROWS", 1)
    chosen = [make_account(AccountStatus.ACTIVE),
              make_account(AccountStatus.ACTIVE, member=Member.objects.create(email="joe@example.org"))]

    response = run_action(admin_client, action, chosen, select_across="1")

    assert response.status_code == 302
    (said,) = texts(response)
    assert said.startswith(f"{'Sync remote state' if action == 'request_sync' else 'Deprovision'}: more than 1 "
                           "accounts are selected, the most an action takes at once.")
    assert "narrow the list" in said
    assert not Operation.objects.exists()

    monkeypatch.setattr(common, "ACTION_MAX_ROWS", 2)  # at the bound: requested
    run_action(admin_client, "request_sync", chosen)
    assert Operation.objects.filter(kind="sync").count() == 2
