"""Provisioning members from the admin: the member action, the account "add" page, deleting."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import escape

from provisioning.models import Account, Connection, Member, Operation
from provisioning.states import AccountStatus, OperationStatus

MEMBERS = reverse("admin:provisioning_member_changelist")


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_provision_at_connection_asks_for_the_connection_then_creates_accounts(admin_client, member, connection):
    other = Member.objects.create(email="joe@example.org")
    selected = {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [member.pk, other.pk]}
    page = admin_client.post(MEMBERS, {**selected, "step": "preview", "connection": connection.pk})
    assert page.status_code == 200 and b"Provision at a connection" in page.content
    assert page.context["previews"][0]["preview"].connection == connection
    assert not Account.objects.exists()

    response = admin_client.post(
        MEMBERS, {**selected, "step": "send", "previewed": connection.pk, "connection": connection.pk}
    )
    assert response.status_code == 302
    accounts = Account.objects.filter(connection=connection)
    assert {a.member for a in accounts} == {member, other}
    assert {(op.kind, op.status) for op in Operation.objects.all()} == {("provision", OperationStatus.QUEUED)}
    assert Operation.objects.count() == 2


def test_provision_at_connection_reports_members_that_already_have_an_account(admin_client, member, connection, make_account):
    make_account(AccountStatus.ACTIVE)
    data = {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [member.pk], "connection": connection.pk}
    page = admin_client.post(MEMBERS, {**data, "step": "preview"})
    assert b"Nothing can be sent" in page.content and b"active: 1" in page.content
    # no button to press: the page did not promise one ("Nothing is sent until you press the button below")
    assert "press" not in page.content.decode()
    response = admin_client.post(MEMBERS, {**data, "step": "send", "previewed": connection.pk})
    assert response.status_code == 302
    assert not Operation.objects.exists()
    assert any("already has an account" in text for text in texts(response))


def test_disabled_connections_are_not_offered(admin_client, member, connection):
    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    data = {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [member.pk]}
    response = admin_client.post(MEMBERS, data)
    assert response.status_code == 302
    assert any("No enabled connection" in text for text in texts(response))


def test_account_add_page_provisions(admin_client, member, connection):
    url = reverse("admin:provisioning_account_add")
    page = admin_client.get(url + f"?member={member.pk}")
    assert page.status_code == 200 and page.context["form"].initial["member"] == str(member.pk)
    response = admin_client.post(url, {"member": member.pk, "connection": connection.pk})
    account = Account.objects.get()
    assert response["Location"] == reverse("admin:provisioning_account_change", args=[account.pk])
    assert Operation.objects.get().account == account


def test_account_add_page_shows_conflicts_on_the_form(admin_client, member, connection, make_account):
    make_account(AccountStatus.ACTIVE)
    response = admin_client.post(reverse("admin:provisioning_account_add"), {"member": member.pk, "connection": connection.pk})
    assert response.status_code == 200
    assert "already has an account" in response.content.decode()


def test_account_add_page_says_what_the_member_lacks_for_the_provider(admin_client, db):
    member = Member.objects.create(email="no.phone@example.org")
    xhoppe = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    response = admin_client.post(reverse("admin:provisioning_account_add"), {"member": member.pk, "connection": xhoppe.pk})
    assert response.status_code == 200
    assert escape("No phone number: Xhoppe registers people by phone") in response.content.decode()
    assert not Account.objects.exists()


def test_member_page_lists_accounts_and_links_provisioning(admin_client, member, make_account):
    account = make_account(AccountStatus.ACTIVE)
    html = admin_client.get(reverse("admin:provisioning_member_change", args=[member.pk])).content.decode()
    assert reverse("admin:provisioning_account_change", args=[account.pk]) in html
    assert reverse("admin:provisioning_account_add") + f"?member={member.pk}" in html


def test_members_can_be_filtered_by_account_status(admin_client, member, make_account):
    make_account(AccountStatus.FAILED)
    Member.objects.create(email="nobody@example.org")
    failed = admin_client.get(MEMBERS + "?account_status=failed")
    assert [m.email for m in failed.context["cl"].result_list] == ["jane@example.org"]
    none = admin_client.get(MEMBERS + "?account_status=none")
    assert [m.email for m in none.context["cl"].result_list] == ["nobody@example.org"]


def test_member_with_open_accounts_cannot_be_deleted(admin_client, member, make_account):
    active = make_account(AccountStatus.ACTIVE)
    url = reverse("admin:provisioning_member_delete", args=[member.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and page.context["protected"]
    # what keeps the member, and what to do, in the words the API answers too
    assert escape(f"may exist at their providers: {active.connection} (active). Deprovision them first.") in (
        page.content.decode()
    )
    admin_client.post(url, {"post": "yes"})
    assert Member.objects.filter(pk=member.pk).exists()


def test_a_pending_account_no_request_went_out_for_does_not_keep_its_member(admin_client, member, make_account):
    """A provisioning cancelled before it was sent left the account pending: nothing exists at the
    provider, and Deprovision is not offered for it, so it must not keep the member forever."""
    from provisioning.models import ExternalCall

    never_sent = make_account(AccountStatus.PENDING)
    Operation.objects.create(kind="provision", account=never_sent, connection=never_sent.connection, status="cancelled")
    url = reverse("admin:provisioning_member_delete", args=[member.pk])
    assert not admin_client.get(url).context["protected"]

    tried = make_account(AccountStatus.PENDING, connection=Connection.objects.create(
        name="Other", provider="snaptrade", base_url="https://api.other.test", credentials={"client_id": "C", "consumer_key": "K"}))
    operation = Operation.objects.create(kind="provision", account=tried, connection=tried.connection, status="cancelled")
    ExternalCall.objects.create(operation=operation, connection=tried.connection, method="POST", url="https://api.other.test/x")
    page = admin_client.get(url)
    assert page.context["protected"] == [f"{tried} (not provisioned yet)"]  # it may have reached its provider
    response = admin_client.post(url, {"post": "yes"})
    assert Member.objects.filter(pk=member.pk).exists()
    assert escape(f"{tried} (not provisioned yet)") in response.content.decode()  # Django's "Cannot delete" page
    assert "A provisioning at Other stopped after a request went out: provision again, then deprovision." in (
        response.content.decode()
    )

    ExternalCall.objects.all().delete()
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Member.objects.exists() and not Account.objects.exists()


def test_member_with_only_deprovisioned_accounts_is_deleted_with_them(admin_client, member, make_account):
    from provisioning.models import ExternalCall

    account = make_account(AccountStatus.DEPROVISIONED)
    for kind in ("provision", "deprovision"):
        operation = Operation.objects.create(kind=kind, account=account, connection=account.connection,
                                             status="succeeded", requested_by="admin:x")
    ExternalCall.objects.create(operation=operation, connection=account.connection, method="DELETE", url="https://x.test/u")
    page = admin_client.get(reverse("admin:provisioning_member_delete", args=[member.pk])).content.decode()
    # what goes with the member, counted, as on a connection's page ("Members: 1" alone said nothing of it)
    for said in ("Members: 1", "Accounts: 1", "Operations: 2", "External calls: 1"):
        assert f"<li>{said}</li>" in page

    response = admin_client.post(reverse("admin:provisioning_member_delete", args=[member.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Member.objects.exists() and not Account.objects.exists()


def test_connection_with_open_accounts_cannot_be_deleted(admin_client, connection, make_account):
    make_account(AccountStatus.ACTIVE)
    for i in range(21):
        make_account(AccountStatus.FAILED, member=Member.objects.create(email=f"m{i}@example.org"))
    url = reverse("admin:provisioning_connection_delete", args=[connection.pk])
    page = admin_client.get(url)
    assert len(page.context["protected"]) == 21 and page.context["protected"][-1] == f"… and 2 more at {connection}"
    assert escape(f"still holds 22 accounts that may exist at the provider (active: 1, failed: 21). Deprovision "
                  "them first, or disable the connection instead.") in page.content.decode()
    admin_client.post(url, {"post": "yes"})
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_a_connection_is_deleted_with_its_batches_and_its_page_says_what_goes_with_it(admin_client, connection,
                                                                                     make_account):
    """A batch is a connection's history like its operations, which go with it: a connection that
    had a batch could not be deleted, ever ("still referenced (by batches of provisioning)")."""
    from provisioning.models import Batch

    batch = Batch.objects.create(connection=connection, requested_by="admin:x")
    for i in range(3):
        account = make_account(AccountStatus.DEPROVISIONED, member=Member.objects.create(email=f"d{i}@example.org"))
        Operation.objects.create(kind="provision", account=account, connection=connection, batch=batch,
                                 status="succeeded", requested_by="admin:x")
    url = reverse("admin:provisioning_connection_delete", args=[connection.pk])
    page = admin_client.get(url).content.decode()
    # what goes with it, counted, where Django would list every row (a million accounts, say)
    for said in ("Connections: 1", "Accounts: 3", "Operations: 3", "Batches: 1"):
        assert f"<li>{said}</li>" in page

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302 and not Connection.objects.filter(pk=connection.pk).exists()
    assert not Batch.objects.exists() and not Operation.objects.exists()


def test_a_connection_with_more_operations_than_a_request_deletes_says_so_on_its_delete_page(
        admin_client, connection, make_account, monkeypatch):
    from provisioning import selectors

    monkeypatch.setattr(selectors, "DELETE_OPERATIONS_LIMIT", 2)
    account = make_account(AccountStatus.DEPROVISIONED)
    for _ in range(3):
        Operation.objects.create(kind="sync", account=account, connection=connection, status="succeeded",
                                 requested_by="admin:x")
    url = reverse("admin:provisioning_connection_delete", args=[connection.pk])
    page = admin_client.get(url)
    assert page.context["protected"] == [f"More than 2 operations at {connection}, with their exchanges with the "
                                         "provider"]
    assert "would take longer than a request may last. Disable the connection instead" in page.content.decode()
    admin_client.post(url, {"post": "yes"})
    assert Connection.objects.filter(pk=connection.pk).exists()
