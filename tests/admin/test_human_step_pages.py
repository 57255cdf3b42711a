"""The pages of the human steps and of what cannot be undone: the captcha large with a "New
image" button, the validation link alone, deprovision confirmations in danger style, and forms
that preselect no connection."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from provisioning import services
from provisioning.admin.accounts import deprovision_warning
from provisioning.models import Account, Connection, Member, Operation
from provisioning.providers.base import Provider
from provisioning.providers.flyve import FlyveProvider
from provisioning.providers.scim import ScimProvider
from provisioning.providers.snaptrade import SnapTradeProvider
from provisioning.states import AccountStatus
from tests.admin.conftest import JPEG

TOKEN = "a" * 64


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def request_url(account, kind):
    return reverse("admin:provisioning_account_request", args=[account.pk, kind])


def test_the_captcha_is_shown_large_and_crisp_with_a_new_image_button(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG, details={"captcha_id": 3})

    page = text(admin_client.get(request_url(account, "answer_captcha")))

    assert 'class="provisioning-captcha-large"' in page
    assert re.search(rf'<form method="post" action="{re.escape(request_url(account, "refresh_captcha"))}">.*?'
                     r'<input type="submit" id="new-captcha" value="New captcha">', page)
    assert "provisioning/human-steps.css" in page
    assert " style=" not in page.split("<body", 1)[1] and "<script>" not in page.split("<body", 1)[1]


def test_the_stylesheet_scales_the_captcha_three_times_with_nearest_neighbour():
    from django.contrib.staticfiles import finders

    css = open(finders.find("provisioning/human-steps.css")).read()
    rule = re.search(r"img\.provisioning-captcha-large \{(.*?)\}", css, re.S).group(1)
    assert "width: 606px" in rule and "image-rendering: pixelated" in rule


def test_new_image_requests_a_new_captcha(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG)
    response = admin_client.post(request_url(account, "refresh_captcha"))
    operation = Operation.objects.get(account=account)
    assert operation.kind == "refresh_captcha"
    assert response["Location"] == reverse("admin:provisioning_operation_change", args=[operation.pk])


def test_the_new_image_button_needs_the_permission(staff_client, grant, make_account):
    grant("view_account", "provision_account")
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG)
    assert "New captcha" in text(staff_client.get(request_url(account, "answer_captcha")))


def test_the_validation_form_asks_for_the_link_and_folds_the_id_and_token(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VALIDATION)

    page = text(admin_client.get(request_url(account, "validate")))

    assert "the link alone is enough" in page
    before, folded = page.split('<details class="provisioning-alternative">', 1)
    assert 'name="link"' in before and 'name="token"' not in before and 'name="validation_id"' not in before
    assert "<summary>Or type the id and the token</summary>" in folded
    assert 'name="validation_id"' in folded.split("</details>")[0] and 'name="token"' in folded.split("</details>")[0]


def test_the_link_alone_validates_and_the_folded_inputs_open_after_a_mistake_in_them(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VALIDATION)
    mistake = admin_client.post(request_url(account, "validate"), {"validation_id": "4", "token": "xyz"})
    assert '<details class="provisioning-alternative" open>' in text(mistake)

    admin_client.post(request_url(account, "validate"), {"link": f"https://x/#!/account/42/validation/{TOKEN}"})
    assert Operation.objects.get(account=account).input == {"validation_id": 42}


# --- deprovision: danger style, the accounts and the provider named, what cannot be undone -----

def test_providers_declare_what_a_deprovision_cannot_undo():
    assert "cannot be recovered" in SnapTradeProvider.deprovision_warning
    assert "has no deprovision" in FlyveProvider.deprovision_warning
    assert Provider.deprovision_warning  # a generic default
    delete = Connection(provider="scim", settings={"deprovision_mode": "delete"})
    deactivate = Connection(provider="scim", settings={})
    assert "deletes the user for good" in ScimProvider.deprovision_warning_for(delete)
    assert "deactivates" in ScimProvider.deprovision_warning_for(deactivate)


def test_the_bulk_deprovision_confirmation_is_a_danger_page_naming_accounts_and_provider(admin_client, make_account):
    jane = make_account(AccountStatus.ACTIVE)
    joe = make_account(AccountStatus.ACTIVE, member=Member.objects.create(email="joe@example.org"))

    response = admin_client.post(
        reverse("admin:provisioning_account_changelist"),
        {"action": "request_deprovision", ACTION_CHECKBOX_NAME: [jane.pk, joe.pk]},
    )

    page = text(response)
    assert 'class="provisioning-danger-box"' in page
    assert 'class="default provisioning-danger-button" value="Yes, deprovision"' in page
    assert "Deprovision 2 accounts?" in page
    # what cannot be undone, if anything, is the provider's to say: SCIM's deactivation can be
    assert "cannot be undone." not in page.replace(Provider.deprovision_warning, "")
    assert "jane@example.org" in page and "joe@example.org" in page
    # the connection, and its provider where its name does not say it ("Everything sandbox (Everything)")
    assert "<strong>Everything sandbox</strong>:" in page and "(Everything)" not in page
    assert Provider.deprovision_warning in page
    assert not Operation.objects.exists()


def test_the_account_deprovision_page_is_a_danger_page(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    page = text(admin_client.get(request_url(account, "deprovision")))
    assert 'class="provisioning-danger-box"' in page and "provisioning-danger-button" in page
    assert "Deprovision Jane Doe &lt;jane@example.org&gt; @ Everything sandbox?" in page and "jane@example.org" in page
    assert "at Everything sandbox — " in page and "(Everything)" not in page  # the name says the provider
    assert Provider.deprovision_warning in page


def test_the_danger_pages_name_each_accounts_state_in_words(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VERIFICATION)

    page = text(admin_client.get(request_url(account, "deprovision")))
    assert "Everything sandbox — Waiting for the SMS code</li>" in page and "awaiting_verification" not in page
    page = text(admin_client.post(reverse("admin:provisioning_account_changelist"),
                                  {"action": "request_deprovision", ACTION_CHECKBOX_NAME: [account.pk]}))
    assert "Everything sandbox — Waiting for the SMS code</li>" in page and "awaiting_verification" not in page


@pytest.mark.parametrize(
    ("provider", "connection_settings", "expected"),
    [
        ("snaptrade", {}, "its user secret cannot be recovered"),
        ("scim", {"deprovision_mode": "delete"}, "deletes the user for good"),
        ("flyve", {}, "Flyve MDM has no deprovision"),
    ],
)
def test_the_confirmation_says_what_each_real_provider_cannot_undo(
    admin_client, member, provider, connection_settings, expected, install_providers
):
    install_providers(SnapTradeProvider)  # the real one, not the stand-in of these tests
    connection = Connection.objects.create(provider=provider, name=f"{provider} one", base_url="http://x.test",
                                           credentials={}, settings=connection_settings)
    account = Account.objects.create(member=member, connection=connection, status=AccountStatus.ACTIVE)
    assert expected in deprovision_warning(account)
    response = admin_client.post(
        reverse("admin:provisioning_account_changelist"),
        {"action": "request_deprovision", ACTION_CHECKBOX_NAME: [account.pk]},
    )
    assert expected in text(response)


def test_the_confirmation_counts_only_what_will_be_deprovisioned(admin_client, make_account, member):
    # a Flyve account has no deprovision: it used to be counted, with "Yes, deprovision" for it alone
    flyve = Connection.objects.create(provider="flyve", name="Flyve one", base_url="http://x.test", credentials={})
    left = Account.objects.create(member=member, connection=flyve, status=AccountStatus.ACTIVE)
    joe = make_account(AccountStatus.ACTIVE, member=Member.objects.create(email="joe@example.org"))
    changelist = reverse("admin:provisioning_account_changelist")

    both = text(admin_client.post(changelist, {"action": "request_deprovision", ACTION_CHECKBOX_NAME: [left.pk, joe.pk]}))
    assert "Deprovision 1 account?" in both
    assert 'id="left-alone">Left as they are' in both and "at Flyve one" in both
    assert f'value="{joe.pk}"' in both and f'value="{left.pk}"' not in both

    alone = text(admin_client.post(changelist, {"action": "request_deprovision", ACTION_CHECKBOX_NAME: [left.pk]}))
    assert "Nothing to deprovision among the 1 selected account." in alone
    assert "Flyve MDM has no deprovision" in alone and "Yes, deprovision" not in alone
    assert not Operation.objects.exists()


# --- no preselected connection --------------------------------------------------------------

def test_the_add_account_form_preselects_no_connection(admin_client, member, connection):
    response = admin_client.get(reverse("admin:provisioning_account_add") + f"?member={member.pk}")
    page = text(response)
    assert '<option value="" selected>— choose a connection —</option>' in page
    refused = admin_client.post(reverse("admin:provisioning_account_add"), {"member": member.pk})
    assert refused.status_code == 200 and "This field is required" in text(refused)
    assert not Account.objects.exists()


def test_provision_at_a_connection_preselects_no_connection(admin_client, member, connection):
    response = admin_client.post(
        reverse("admin:provisioning_member_changelist"),
        {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [member.pk]},
    )
    assert '<option value="" selected>— choose a connection —</option>' in text(response)
    refused = admin_client.post(
        reverse("admin:provisioning_member_changelist"),
        {"action": "provision_at_connection", ACTION_CHECKBOX_NAME: [member.pk], "step": "preview"},
    )
    assert "This field is required" in text(refused)
    assert not Account.objects.exists()


def test_the_login_link_options_read_as_words(admin_client, make_account):
    """Labels a person reads, SnapTrade's names kept in the help for those who know them; an
    optional yes-or-no left alone is the provider's default, not "Unknown"."""
    account = make_account(AccountStatus.ACTIVE)
    page = text(admin_client.get(request_url(account, "login_link")))
    assert ">Go straight to the brokerage:</label>" in page and "(immediateRedirect)" in page
    assert ">Access:</label>" in page and "read: see the accounts" in page
    assert ">immediateRedirect:</label>" not in page and ">connectionType:</label>" not in page
    assert "the provider&#x27;s default)</option>" in page and ">Unknown</option>" not in page


def test_a_request_at_a_failing_connection_says_so_before_it_is_sent(admin_client, make_account, connection):
    """Retrying a provisioning while the connection's credentials are refused fails again: the
    confirmation says so, and where to look, before the button."""
    account = make_account(AccountStatus.FAILED)
    assert 'id="connection-trouble"' not in text(admin_client.get(request_url(account, "provision")))

    connection.health_status, connection.health_detail = "error", "SnapTrade refused the consumer key."
    connection.save()
    page = text(admin_client.get(request_url(account, "provision")))
    assert ("Everything sandbox&#x27;s last health check failed (SnapTrade refused the consumer key): fix the "
            "connection first") in page

    from django.utils import timezone

    connection.quarantined_since, connection.quarantine_reason = timezone.now(), "5 calls failed in a row: HTTP 503"
    connection.save()
    page = text(admin_client.get(request_url(account, "provision")))
    assert "is quarantined since" in page and "the operation will wait until the quarantine ends" in page


def test_xhoppes_reset_password_reads_as_a_new_sms_code_for_a_member_still_waiting_for_one(admin_client, db):
    # the account waiting for its SMS code offered "Reset password": at Xhoppe that sends a new code
    from provisioning.models import Account, Connection, Member

    shop = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    waiting = Account.objects.create(member=Member.objects.create(email="w@example.org", phone="+6591230001"),
                                     connection=shop, status="awaiting_verification")
    active = Account.objects.create(member=Member.objects.create(email="a@example.org", phone="+6591230002"),
                                    connection=shop, status="active")
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[waiting.pk])).content.decode()
    assert ">Send a new SMS code</a>" in page and ">Reset password</a>" not in page
    request_page = admin_client.get(
        reverse("admin:provisioning_account_request", args=[waiting.pk, "reset_password"])).content.decode()
    assert "<title>Send a new SMS code:" in request_page and 'value="Send a new SMS code"' in request_page
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[active.pk])).content.decode()
    assert ">Reset password</a>" in page and "Send a new SMS code" not in page


# --- record as closed: a provider without a delete API -----------------------------------------

def test_an_account_xhoppe_cannot_close_is_recorded_as_closed_from_its_page(admin_client, grant, db):
    shop = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    member = Member.objects.create(email="gone@example.org", phone="+6591230003")
    account = Account.objects.create(member=member, connection=shop, status="active")
    page = text(admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])))
    assert ">Record as closed at the provider</a>" in page

    request_page = text(admin_client.get(request_url(account, "record_closed")))
    assert ("Record this only once the account is closed at Xhoppe: the portal sends nothing there. The account "
            "becomes deprovisioned, this operation keeps who recorded it, when and how, and the member may then be "
            "deleted.") in request_page
    assert 'name="how_it_was_closed"' in request_page
    without_how = text(admin_client.post(request_url(account, "record_closed"), {"how_it_was_closed": ""}))
    assert "Say how the account was closed at the provider" in without_how and not Operation.objects.exists()

    how = {"how_it_was_closed": "Ticket 8812 at Xhoppe's support"}
    response = admin_client.post(request_url(account, "record_closed"), how)
    operation = Operation.objects.get(account=account)
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:provisioning_operation_change", args=[operation.pk])
    assert operation.kind == "record_closed" and operation.input == how and operation.requested_by == "admin:admin"
    services.operation_execute(operation_id=operation.pk)
    page = text(admin_client.get(response["Location"]))
    assert "how it was closed: Ticket 8812 at Xhoppe&#x27;s support." in page
    assert "Done: recorded as closed at the provider (nothing was sent to it); the account is deprovisioned." in page
    assert "HTTP exchanges" not in page  # none: nothing was sent

    # staff who may provision but not deprovision are not offered it
    staff_client = Client()
    staff_client.force_login(grant("view_account", "provision_account"))
    other = Account.objects.create(member=Member.objects.create(email="o@example.org", phone="+6591230004"),
                                   connection=shop, status="active")
    assert "Record as closed" not in text(staff_client.get(reverse("admin:provisioning_account_change",
                                                                   args=[other.pk])))


def test_the_accounts_of_a_retired_xhoppe_connection_are_recorded_as_closed_together(admin_client, db):
    shop = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    kandy = Connection.objects.create(provider="kandy", name="Kandy", base_url="http://k.test/v1.2", credentials={})
    accounts = [Account.objects.create(member=Member.objects.create(email=f"m{n}@example.org", phone=f"+659123000{n}"),
                                       connection=shop, status="active") for n in range(2)]
    elsewhere = Account.objects.create(member=accounts[0].member, connection=kandy, status="active")
    selected = {"action": "request_record_closed", ACTION_CHECKBOX_NAME: [a.pk for a in (*accounts, elsewhere)]}
    changelist = reverse("admin:provisioning_account_changelist")

    page = text(admin_client.post(changelist, selected))
    assert "Record 2 accounts as closed at the provider?" in page
    assert ("<strong>Shop (Xhoppe)</strong>: Record them only once the accounts are closed at Xhoppe: the portal "
            "sends nothing there.") in page
    assert "<strong>Kandy" not in page  # left alone: Kandy deprovisions
    assert "Left as they are (their provider does not offer it, or their state does not allow it): " in page
    assert 'name="how_it_was_closed"' in page

    without_how = text(admin_client.post(changelist, {**selected, "confirmed": "yes", "how_it_was_closed": ""}))
    assert "Say how the account was closed at the provider" in without_how and not Operation.objects.exists()

    admin_client.post(changelist, {**selected, "confirmed": "yes", "how_it_was_closed": "Shop closed: ticket 9"})
    operations = Operation.objects.order_by("pk")
    assert sorted((op.account_id, op.kind, op.input["how_it_was_closed"]) for op in operations) == [
        (account.pk, "record_closed", "Shop closed: ticket 9") for account in accounts]
    assert operations[0].batch_id is not None  # followed on the batch's page
