"""A staff member signs in to the admin in headless Chromium and provisions a member at SnapTrade.

The real SnapTrade provider talks to the sandbox (served from a thread); operations run eagerly in
the web process, so the operation page already shows the outcome (the integration tests run the
same path with a real worker).
"""

import re

import pytest
from playwright.sync_api import expect

from provisioning.models import Account, Connection
from provisioning.providers import registry
from provisioning.sandbox.defaults import sandbox_credentials
from provisioning.states import AccountStatus
from tests.conftest import browser_sign_in


@pytest.fixture
def everything_provider():
    """The real providers here, not the stand-in of the other admin tests."""
    return None


@pytest.fixture
def snaptrade_sandbox(transactional_db, sandbox):
    assert registry.get("snaptrade").label == "SnapTrade"
    return Connection.objects.create(
        provider="snaptrade",
        name="SnapTrade sandbox",
        base_url=f"{sandbox.url}/snaptrade",
        credentials=sandbox_credentials()["snaptrade"],
    )


def test_staff_provision_a_member_at_snaptrade(page, live_server, django_user_model, snaptrade_sandbox, sandbox, eager):
    staff = django_user_model.objects.create_superuser("staff", "", "a-long-password")
    browser_sign_in(page, live_server.url, staff, "a-long-password")

    page.goto(f"{live_server.url}/admin/provisioning/member/add/")
    page.fill("#id_email", "jane@example.org")
    page.fill("#id_first_name", "Jane")
    page.fill("#id_last_name", "Doe")
    page.click("input[name=_save]")

    page.check("input.action-select")
    page.select_option("select[name=action]", "provision_at_connection")
    page.click("button[name=index]")
    page.select_option("select[name=connection]", label="SnapTrade sandbox")
    # the button stands apart from the list it reads (the admin's "form .button" had no margin),
    # measured once the page's stylesheets are in
    page.wait_for_load_state("load")
    gap = page.evaluate("""() => document.querySelector("button[name=step][value=preview]").getBoundingClientRect().left
        - document.querySelector("select[name=connection]").getBoundingClientRect().right""")
    assert gap >= 6
    page.click("button[name=step][value=preview]")
    expect(page.locator(".provisioning-preview-new")).to_have_text("1")  # said before anything is sent
    page.click("button[name=step][value=send]")

    expect(page.locator("ul.messagelist")).to_contain_text("Provisioning 1 member at SnapTrade sandbox")
    page.click("ul.messagelist a")  # the batch's page
    expect(page.locator(".provisioning-batch-percent")).to_have_text("100%")
    page.click(".provisioning-batch-counts a")  # its operations (one, succeeded)
    page.click("#result_list tbody tr th a")  # the operation's page
    expect(page.get_by_role("heading", name=re.compile(r"^Provision #\d+$"))).to_be_visible()
    expect(page.locator(".field-status_badge .readonly")).to_have_text("Done")
    expect(page.locator("text=HTTP exchanges (redacted)")).to_be_visible()

    account = Account.objects.get()
    assert account.status == AccountStatus.ACTIVE
    assert sandbox.state("snaptrade")["users"] == [account.external_id]
    page.goto(f"{live_server.url}/admin/provisioning/account/{account.pk}/change/")
    expect(page.locator("a", has_text="Login link")).to_be_visible()
    assert "User secret" in page.content()  # the secret named in words, its value never shown
    assert account.secrets["user_secret"] not in page.content()
