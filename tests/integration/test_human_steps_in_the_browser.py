"""An operator provisions in the admin, in headless Chromium, with every human step: PostgreSQL,
Redis, a real Celery worker and the sandbox process; the SMS code, the captcha's phrase and the
validation email are read from the sandbox as a person would read their phone, the image and
their mailbox. An auditor sees everything but the secrets and can run nothing.

Each test leaves a screenshot of its last page in ``test-results/``.
"""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection as db_connection
from playwright.sync_api import expect

from provisioning.explain import OPERATION_STATUS_WORDS, account_status_words
from provisioning.models import Account, Member
from provisioning.sandbox import captcha
from provisioning.states import AccountStatus, OperationKind
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.integration

RESULTS = Path(__file__).resolve().parents[2] / "test-results"
PASSWORD = "a-long-password-42"
PATIENCE_MS = 20_000
PHONE, MSISDN = "+6591234567", "6591234567"


def ensure_roles() -> None:
    """The groups of migration 0007 (a transactional test before this one may have flushed them)."""
    roles = import_module("provisioning.migrations.0007_roles")
    if Group.objects.filter(name__in=roles.ROLES).count() < len(roles.ROLES):
        roles.create_roles(apps, SimpleNamespace(connection=db_connection))


@pytest.fixture
def sign_in(page, live_server, django_user_model, settings):
    settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    page.set_viewport_size({"width": 1280, "height": 800})
    ensure_roles()

    def sign_in(username: str, group: str):
        user = django_user_model.objects.create_user(username, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        browser_sign_in(page, live_server.url, user, PASSWORD)  # with a code if the role needs one
        expect(page.locator("#user-tools")).to_contain_text(username)
        return page

    return sign_in


def screenshot(page, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)


def provision_in_the_admin(page, live_server, member: Member, connection_name: str) -> Account:
    """The "add account" form: the member given, the connection chosen (none is preselected)."""
    page.goto(f"{live_server.url}/admin/provisioning/account/add/?member={member.pk}")
    expect(page.locator("select[name=connection]")).to_have_value("")
    page.select_option("select[name=connection]", label=connection_name)
    page.click("input[type=submit][value=Provision]")
    expect(page.locator("ul.messagelist")).to_contain_text("Account created")
    return Account.objects.get(member=member)


def expect_status(page, status: str) -> None:
    """The account's page refreshes itself until its operation finishes."""
    words = account_status_words(status)  # the status badge, in the words the admin uses
    expect(page.locator(".field-status_badge .readonly")).to_have_text(words, timeout=PATIENCE_MS)


def expect_operation(page, kind: str, status: str) -> None:
    """An operation's page (it refreshes itself until the operation finishes): its title, and its
    status badge in the admin's words ("Done", or "Done — " what the account now waits for)."""
    title = OperationKind(kind).label
    expect(page.get_by_role("heading", name=re.compile(rf"^{re.escape(title)} #\d+$"))).to_be_visible(timeout=PATIENCE_MS)
    words = OPERATION_STATUS_WORDS[status][0]
    expect(page.locator(".field-status_badge .readonly")).to_have_text(re.compile(rf"^{re.escape(words)}\b"),
                                                                       timeout=PATIENCE_MS)


@pytest.mark.parametrize("kind", ["snaptrade", "kandy"])
def test_an_operator_provisions_straight_to_active(kind, sign_in, live_server, sandbox_connection,
                                                   celery_worker_process):
    connection = sandbox_connection(kind)
    celery_worker_process()
    page = sign_in("olivia", "Provisioning operators")
    member = Member.objects.create(email=f"jane.{kind}@example.org", first_name="Jane", last_name="Doe")

    account = provision_in_the_admin(page, live_server, member, connection.name)

    expect_status(page, "active")
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.secrets
    expect(page.locator("#content-main .object-tools")).to_contain_text("Deprovision")
    assert "View secrets" not in page.inner_text("#content-main")  # operators do not read secrets
    screenshot(page, f"operator-{kind}-active")


def test_an_operator_verifies_the_sms_code_at_xhoppe(sign_in, live_server, sandbox_connection, sandbox_process,
                                                     celery_worker_process):
    connection = sandbox_connection("xhoppe")
    celery_worker_process()
    page = sign_in("olivia", "Provisioning operators")
    member = Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe", phone=PHONE,
                                   country="SG")

    account = provision_in_the_admin(page, live_server, member, connection.name)
    expect_status(page, "awaiting_verification")
    code = sandbox_process.outbox(simulator="xhoppe", to=MSISDN)[-1]["data"]["code"]
    page.click("a:text-is('Verify SMS code')")
    page.fill("#id_code", code)
    page.click("input[type=submit][value='Verify SMS code']")

    expect_operation(page, "verify", "succeeded")
    page.click(f"a[href$='/account/{account.pk}/change/']")
    expect_status(page, "active")
    account.refresh_from_db()
    assert set(account.secrets) == {"password", "authentication_token"}
    screenshot(page, "operator-xhoppe-active")


def test_an_operator_answers_the_captcha_wrong_then_right_and_pastes_the_link_at_flyve(
    sign_in, live_server, sandbox_connection, sandbox_process, celery_worker_process
):
    connection = sandbox_connection("flyve")
    celery_worker_process()
    page = sign_in("olivia", "Provisioning operators")
    member = Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe")

    account = provision_in_the_admin(page, live_server, member, connection.name)
    expect_status(page, "awaiting_captcha")

    # a wrong answer: the page says so, and shows the new image
    page.click("a:text-is('Answer captcha')")
    image = page.locator("img.provisioning-captcha-large")
    expect(image).to_be_visible()
    assert image.bounding_box()["width"] >= 450  # shown large (the sandbox's is 150 px wide)
    expect(page.locator("#new-captcha")).to_have_value("New captcha")
    page.fill("#id_answer", "WRONG")
    page.click("input[type=submit][value='Answer captcha']")
    expect_operation(page, "answer_captcha", "failed")
    expect(page.locator(".provisioning-follow-up")).to_have_text("That answer was wrong; the provider gave a new image to answer.")
    assert page.locator("a", has_text=re.compile(r"^Retry")).count() == 0  # retrying cannot help
    screenshot(page, "operator-flyve-wrong-answer")

    page.click("a:text-is('Answer the new captcha')")
    expect(page.locator("#follow-up")).to_have_text("That answer was wrong; the provider gave a new image to answer.")
    account.refresh_from_db()
    phrase = next(c["phrase"] for c in sandbox_process.state("flyve")["captchas"]
                  if c["id"] == account.details["captcha_id"])
    screenshot(page, "operator-flyve-captcha-form")
    page.fill("#id_answer", phrase)
    page.click("input[type=submit][value='Answer captcha']")
    expect_operation(page, "answer_captcha", "succeeded")

    # the validation link from the email: pasted alone
    link = sandbox_process.outbox(simulator="flyve", to="jane@example.org")[-1]["data"]["link"]
    page.click("a:text-is('Validate email')")  # the next step, offered on the operation's page
    expect(page.locator("#request-intro")).to_contain_text("the link alone is enough")
    expect(page.locator("#id_token")).to_be_hidden()  # folded away
    page.fill("#id_link", link)
    page.click("input[type=submit][value='Validate email']")
    expect_operation(page, "validate", "succeeded")
    page.click(f"a[href$='/account/{account.pk}/change/']")
    expect_status(page, "active")
    screenshot(page, "operator-flyve-active")


def test_the_captcha_page_does_not_move_when_the_picture_arrives(sign_in, live_server, sandbox_connection):
    """The picture comes after the page (it is never cached): its box is kept for it, so the
    button an operator is about to press does not jump down when it arrives."""
    connection = sandbox_connection("flyve")
    member = Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe")
    account = Account.objects.create(member=member, connection=connection, status=AccountStatus.AWAITING_CAPTCHA,
                                     challenge_image=captcha.draw("abcde"), details={"captcha_id": 1})
    page = sign_in("olivia", "Provisioning operators")
    held = []
    page.route("**/challenge-image/", lambda route: held.append(route))  # the picture waits for the test

    page.goto(f"{live_server.url}/admin/provisioning/account/{account.pk}/request/answer_captcha/",
              wait_until="domcontentloaded")
    button = page.locator("input[type=submit][value='Answer captcha']")
    expect(button).to_be_visible()
    page.wait_for_function("() => document.fonts.status === 'loaded'"  # all but the picture laid out
                           " && [...document.querySelectorAll('link[rel=stylesheet]')].every(link => link.sheet)")
    before = button.bounding_box()
    for _ in range(100):  # the browser has asked for the picture: the route holds it
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_function("() => document.querySelector('#captcha-image').naturalWidth > 0")
    assert button.bounding_box() == before
    assert page.locator("#captcha-image").bounding_box()["height"] > 150  # 606 px wide, GLPI's shape
    screenshot(page, "operator-captcha-arrived")


def test_an_auditor_reads_but_cannot_run_anything_nor_see_secrets(sign_in, live_server, sandbox_connection):
    connection = sandbox_connection("snaptrade")
    member = Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe")
    account = Account.objects.create(member=member, connection=connection, status=AccountStatus.ACTIVE,
                                     external_id="remote-1", secrets={"user_secret": "VERY-SECRET-VALUE"})
    page = sign_in("audrey", "Auditors")

    page.goto(f"{live_server.url}/admin/provisioning/account/{account.pk}/change/")
    expect(page.locator(".field-status_badge .readonly")).to_have_text(account_status_words("active"))
    tools = page.locator("#content-main .object-tools a")
    assert [t.lower() for t in tools.all_text_contents()] == ["history"]  # no operation, no "View secrets"
    assert "VERY-SECRET-VALUE" not in page.content()

    refused = page.goto(f"{live_server.url}/admin/provisioning/account/{account.pk}/request/deprovision/")
    assert refused.status == 403
    refused = page.goto(f"{live_server.url}/admin/provisioning/account/{account.pk}/secrets/")
    assert refused.status == 403
    page.goto(f"{live_server.url}/admin/provisioning/account/")
    expect(page.locator("select[name=action]")).to_have_count(0)
    screenshot(page, "auditor-accounts")
