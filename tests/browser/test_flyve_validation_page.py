"""The public validation page ``/validate/flyve/<connection_id>/``.

The first tests post to it with Django's test client (GLPI faked with ``responses``); the last
ones open the real email link in headless Chromium against the portal (``live_server``) and the
sandbox. Operations run eagerly in the web process here; tests/integration/test_flyve_flow.py
runs the same page with a real worker.
"""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.core.cache import cache
from django.test import Client

from provisioning import services
from provisioning.providers import flyve_page as views_public
from provisioning.models import Account, Connection, Member, Operation
from provisioning.sandbox.defaults import sandbox_credentials
from provisioning.states import AccountStatus, OperationStatus
from tests.providers.flyve_support import BASE, STAFF, TOKEN, FakeGlpi, flyve_connection

OTHER_TOKEN = "b" * 64


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture
def glpi(http):
    return FakeGlpi(http)


@pytest.fixture
def connection(transactional_db):
    return flyve_connection()


def awaiting_account(connection, email="jane@example.org") -> Account:
    member = Member.objects.create(email=email, first_name="Jane", last_name="Doe")
    return Account.objects.create(
        member=member, connection=connection, status=AccountStatus.AWAITING_VALIDATION, external_id=email,
        details={"glpi_user_id": 42},
    )


def post(client, connection, *, validation_id="7", token=TOKEN, email="jane@example.org", **extra):
    return client.post(
        f"/validate/flyve/{connection.pk}/",
        {"validation_id": validation_id, "token": token, "email": email},
        REMOTE_ADDR=extra.get("ip", "127.0.0.1"),
    )


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- the page over HTTP ----------------------------------------------------------------------------

def test_the_page_needs_no_login_and_sets_the_csrf_cookie(client, connection):
    response = client.get(f"/validate/flyve/{connection.pk}/")

    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert 'id="validate-form"' in text(response)
    assert response["Referrer-Policy"] == "same-origin"


def test_an_unknown_connection_gets_a_clear_page(client, connection):
    response = client.get(f"/validate/flyve/{connection.pk + 100}/")
    assert response.status_code == 404
    assert "This activation page does not exist" in text(response)


def test_posting_the_link_validates_the_matching_account(client, connection, glpi, eager):
    account = awaiting_account(connection)

    response = post(client, connection, email="Jane@Example.org")

    account.refresh_from_db()
    assert response.status_code == 200
    assert "Your account is active" in text(response)
    assert account.status == AccountStatus.ACTIVE
    operation = Operation.objects.get(account=account, kind="validate")
    assert operation.requested_by == "public:validation-page"
    assert operation.input == {"validation_id": 7}
    assert operation.secret_input == {"token": TOKEN}
    assert glpi.body("PUT", "PluginFlyvemdmdemoAccountvalidation/7") == {"input": {"_validate": TOKEN}}


@pytest.mark.parametrize(
    ("message", "shown", "status"),
    [
        # GLPI sends no second link: the registration cannot be completed, staff provision again
        ("Validation token expired", "Ask the people who registered you for a new registration", AccountStatus.FAILED),
        ("Validation token is invalid", "not valid, or it has already been used", AccountStatus.AWAITING_VALIDATION),
    ],
)
def test_expired_or_used_links_get_a_clear_message(client, connection, glpi, eager, message, shown, status):
    account = awaiting_account(connection)
    glpi.error("validate", "ERROR_GLPI_UPDATE", message)

    response = post(client, connection)

    account.refresh_from_db()
    assert response.status_code == 200
    assert shown in text(response) and message in text(response)
    assert account.status == status


def test_a_second_use_of_the_link_says_the_account_is_already_active(client, connection, glpi, eager):
    awaiting_account(connection)
    post(client, connection)

    response = post(client, connection)

    assert response.status_code == 200
    assert "already active" in text(response)
    assert Operation.objects.filter(kind="validate").count() == 1


@pytest.mark.parametrize(("validation_id", "token"), [("x", TOKEN), ("7", "short"), ("", ""), ("7", TOKEN.upper())])
def test_a_damaged_link_is_explained_and_nothing_is_requested(client, connection, validation_id, token):
    awaiting_account(connection)

    response = post(client, connection, validation_id=validation_id, token=token)

    assert response.status_code == 400
    assert "incomplete or damaged" in text(response)
    assert not Operation.objects.exists()


def test_an_address_without_a_waiting_account_is_explained(client, connection):
    awaiting_account(connection)

    response = post(client, connection, email="someone.else@example.org")

    assert response.status_code == 404
    assert "No account waiting for activation matches" in text(response)
    assert not Operation.objects.exists()
    # the form again, with the link kept, to correct the address
    page = response.content.decode()
    assert 'id="validate-form"' in page and f'value="{TOKEN}"' in page and 'value="someone.else@example.org"' in page


def test_a_missing_address_asks_for_it_again(client, connection):
    response = post(client, connection, email="")
    assert response.status_code == 400
    assert "Enter the email address" in text(response)


def test_posts_are_limited_per_client_address(client, connection):
    for _ in range(views_public.POSTS_PER_WINDOW):
        assert post(client, connection, email="nobody@example.org", ip="10.1.1.1").status_code == 404

    limited = post(client, connection, email="nobody@example.org", ip="10.1.1.1")
    elsewhere = post(client, connection, email="nobody@example.org", ip="10.1.1.2")

    assert limited.status_code == 429 and "Too many activation attempts" in text(limited)
    assert elsewhere.status_code == 404


def test_posts_need_the_csrf_token(connection):
    strict = Client(enforce_csrf_checks=True)
    response = post(strict, connection)
    assert response.status_code == 403


def test_a_slow_validation_continues_on_a_page_that_refreshes_itself(client, connection, monkeypatch):
    monkeypatch.setattr(views_public, "WAIT_SECONDS", 0)  # no worker here: the operation stays queued
    account = awaiting_account(connection)

    response = post(client, connection)
    status_page = client.get(response["Location"])

    assert response.status_code == 303
    assert status_page.status_code == 200
    assert 'http-equiv="refresh"' in text(status_page)
    operation = Operation.objects.get(account=account)
    Operation.objects.filter(pk=operation.pk).update(status=OperationStatus.SUCCEEDED)
    assert "Your account is active" in text(client.get(response["Location"]))


def test_a_forged_status_link_is_refused_politely(client, connection):
    forged = signing.dumps(1, salt="something else")
    response = client.get(f"/validate/flyve/{connection.pk}/?operation={forged}")
    assert response.status_code == 400
    assert "This status link is not valid" in text(response)


def test_the_account_is_chosen_by_address_and_state(connection):
    jane = awaiting_account(connection)
    Account.objects.create(member=Member.objects.create(email="john@example.org"), connection=connection,
                           status=AccountStatus.ACTIVE, details={"validation_id": 3})

    choose = views_public.flyve_validation_account
    assert choose(connection=connection, validation_id=7, email="JANE@example.org") == jane
    assert choose(connection=connection, validation_id=3, email="john@example.org").status == AccountStatus.ACTIVE
    assert choose(connection=connection, validation_id=7, email="nobody@example.org") is None
    other = Connection.objects.create(provider="flyve", name="other", base_url=BASE, credentials={"user_token": "t"})
    assert choose(connection=other, validation_id=7, email="jane@example.org") is None


# --- in a browser, against the sandbox -------------------------------------------------------------

@pytest.fixture
def sandbox_connection(transactional_db, sandbox, live_server, settings):
    settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    connection = Connection.objects.create(
        provider="flyve", name="flyve sandbox", base_url=f"{sandbox.url}/flyve/apirest.php",
        credentials=sandbox_credentials()["flyve"],
    )
    sandbox.settings("flyve", webapp_url=f"{live_server.url}/validate/flyve/{connection.pk}/")
    return connection


def registered(sandbox, connection, email="jane@example.org") -> tuple[Account, dict]:
    """An account registered at the sandbox through the portal: awaiting validation, and its email."""
    member = Member.objects.create(email=email, first_name="Jane", last_name="Doe")
    account = Account.objects.create(member=member, connection=connection)
    services.operation_request(kind="provision", account=account, requested_by=STAFF)
    account.refresh_from_db()
    captcha_id = account.details["captcha_id"]
    phrase = next(c["phrase"] for c in sandbox.state("flyve")["captchas"] if c["id"] == captcha_id)
    services.operation_request(kind="answer_captcha", account=account, input={"answer": phrase}, requested_by=STAFF)
    account.refresh_from_db()
    assert account.status == AccountStatus.AWAITING_VALIDATION
    return account, sandbox.outbox(simulator="flyve", to=email)[-1]


def activate(page, link: str, email: str) -> str:
    page.goto(link)
    page.fill("#email", email)
    page.click("#activate")
    page.wait_for_selector("#outcome")
    return page.inner_text("#outcome")


def test_the_email_link_activates_the_account_in_a_browser(page, sandbox, sandbox_connection, eager):
    account, email = registered(sandbox, sandbox_connection)

    page.goto(email["data"]["link"])
    assert "activation number" in page.inner_text("#validate-form")
    assert email["data"]["validation_id"] and str(email["data"]["validation_id"]) in page.inner_text("#validation-number")
    page.fill("#email", "jane@example.org")
    page.click("#activate")
    page.wait_for_selector("#outcome")

    account.refresh_from_db()
    assert "Your account is active" in page.inner_text("#outcome")
    assert account.status == AccountStatus.ACTIVE
    assert sandbox.state("flyve")["accounts"][0]["profile"] == "registered"
    assert sandbox.state("flyve")["open_sessions"] == 0


def test_a_tampered_link_is_refused_in_a_browser(page, sandbox, sandbox_connection, eager):
    account, email = registered(sandbox, sandbox_connection)
    link = email["data"]["link"].replace(email["data"]["token"], OTHER_TOKEN)

    shown = activate(page, link, "jane@example.org")

    account.refresh_from_db()
    assert "not valid, or it has already been used" in shown
    assert "Validation token is invalid" in shown
    assert account.status == AccountStatus.AWAITING_VALIDATION


def test_an_expired_link_is_explained_in_a_browser(page, sandbox, sandbox_connection, eager):
    account, email = registered(sandbox, sandbox_connection)
    sandbox.clock(advance_seconds=86400 + 60)

    shown = activate(page, email["data"]["link"], "jane@example.org")

    assert "This activation link has expired" in shown
    assert "Validation token expired" in shown


def test_the_page_without_a_link_says_what_to_do(page, sandbox_connection, live_server):
    page.goto(f"{live_server.url}/validate/flyve/{sandbox_connection.pk}/")

    assert page.is_visible("#link-missing")
    assert not page.is_visible("#validate-form")
