"""An operator provisions 20 members at the SnapTrade sandbox from the member list, in headless
Chromium, with a real Celery worker, PostgreSQL, Redis and the sandbox process: the confirmation
says what will be sent, the message leads to the batch page, which refreshes itself until 100 %."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from provisioning.models import Account, Batch, Member
from provisioning.states import AccountStatus

pytestmark = pytest.mark.integration

RESULTS = Path(__file__).resolve().parents[2] / "test-results"
OPERATOR_PERMISSIONS = ("view_member", "view_account", "view_batch", "view_operation", "view_connection", "provision_account")


@pytest.fixture
def operator(transactional_db, django_user_model):
    user = django_user_model.objects.create_user("operator", password="a-long-password", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="provisioning", codename__in=OPERATOR_PERMISSIONS)
    )
    return user


def test_operator_bulk_provisions_20_members_and_follows_the_batch(
    page, live_server, operator, snaptrade, celery_worker_process
):
    celery_worker_process(concurrency=4)
    for i in range(20):
        Member.objects.create(email=f"member{i:02}@example.org", first_name=f"Member{i:02}", last_name="Bulk")
    RESULTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "a-long-password")
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/admin/provisioning/member/")
    page.check("#action-toggle")  # all 20 on the page
    page.select_option("select[name=action]", "provision_at_connection")
    page.click("button[name=index]")
    # no connection is chosen for staff: pick one, see what will be sent there
    page.select_option("select[name=connection]", label=str(snaptrade.connection))
    page.click("button[name=step][value=preview]")

    # before anything is sent: 20 new accounts, nobody left alone, no quota, 20 to send
    expect(page.locator(".provisioning-preview-new")).to_have_text("20")
    expect(page.locator(".provisioning-preview-send")).to_have_text("20")
    assert not Account.objects.exists()
    page.screenshot(path=str(RESULTS / "bulk-provision-confirmation.png"), full_page=True)
    page.click("button[name=step][value=send]")

    expect(page.locator("ul.messagelist")).to_contain_text("Provisioning 20 members at SnapTrade sandbox")
    page.click("ul.messagelist a")  # to the batch page
    batch = Batch.objects.get()
    assert page.url.endswith(f"/admin/provisioning/batch/{batch.pk}/change/")
    # the page refreshes itself (meta refresh, no script) until every operation finished
    expect(page.locator(".provisioning-batch-percent")).to_have_text("100%", timeout=120_000)
    expect(page.locator(".provisioning-batch-summary")).to_contain_text("20 of 20 finished")
    expect(page.locator(".provisioning-batch-counts")).to_contain_text("Done: 20")  # the admin's word for succeeded
    page.screenshot(path=str(RESULTS / "bulk-provision-batch-done.png"), full_page=True)

    assert Account.objects.filter(status=AccountStatus.ACTIVE).count() == 20
    assert len(snaptrade.users()) == 20
