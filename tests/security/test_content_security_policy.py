"""A Content-Security-Policy on every page, the admin included, that allows no inline script
(README, "Security"); and the admin, the API docs and the public validation page work under it
in Chromium: no violation reported in the console."""

import re

import pytest

from provisioning.models import Connection

FLYVE = "flyve"


@pytest.fixture
def flyve_connection(db):
    return Connection.objects.create(provider=FLYVE, name="Flyve", base_url="http://flyve.test/apirest.php")


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


# an inline <script> that would run: one without src= and not a JSON data block (json_script),
# which the browser never executes and the policy does not govern
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")


def assert_strict(response):
    directives = policy(response)
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/provisioning/account/",
        "/admin/provisioning/connection/add/",
        # django-celery-beat's own form carries an inline script: this site's template replaces it
        "/admin/django_celery_beat/periodictask/add/",
    ],
)
def test_admin_pages_carry_the_policy(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 200
    assert_strict(response)
    html = response.content.decode()
    # no inline script, no inline style without the nonce
    assert not INLINE_SCRIPT.search(html)
    nonces = [v.strip("'").removeprefix("nonce-") for v in policy(response)["style-src"] if "nonce-" in v]
    for tag in re.findall(r"<style[^>]*>", html):
        assert nonces and f'nonce="{nonces[0]}"' in tag


def test_the_public_validation_page_carries_the_policy(client, flyve_connection):
    response = client.get(f"/validate/flyve/{flyve_connection.pk}/")
    assert response.status_code == 200
    assert_strict(response)
    html = response.content.decode()
    assert "<style" not in html
    assert not INLINE_SCRIPT.search(html)


def test_the_login_page_and_the_api_carry_the_policy(client, db):
    assert_strict(client.get("/admin/login/"))
    assert "Content-Security-Policy" in client.get("/api/v1/members/")


def watch_console(page) -> list[str]:
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def test_the_admin_and_the_validation_page_work_in_chromium_under_the_policy(
    page, live_server, admin_user, flyve_connection, member
):
    from django.conf import settings as django_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY

    from tests.conftest import totp_device

    from provisioning.models import Account

    account = Account.objects.create(member=member, connection=flyve_connection)
    session = SessionStore()
    session[SESSION_KEY] = str(admin_user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = admin_user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = totp_device(admin_user).persistent_id  # past the second factor
    session.save()
    page.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": live_server.url}]
    )
    problems = watch_console(page)
    for url in (
        "/admin/",
        "/admin/provisioning/account/",
        f"/admin/provisioning/account/{account.pk}/change/",
        "/admin/provisioning/connection/add/",
        "/admin/django_celery_beat/periodictask/add/",
        "/api/docs/",
        f"/validate/flyve/{flyve_connection.pk}/#!/account/12/validation/{'ab' * 32}",
    ):
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
    csp = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert csp == [], csp
    # the validation page's script ran (a static file now): the form is shown with the id read
    assert page.locator("#validation-number").text_content() == "12"


def test_the_periodic_task_form_reads_the_chosen_crontab_in_words(page, live_server, admin_user):
    """The library's page said a crontab in words with an inline script the policy refuses; the
    site's script file says it under the crontab field once one is chosen."""
    from django_celery_beat.models import CrontabSchedule

    from tests.conftest import browser_sign_in

    crontab = CrontabSchedule.objects.create(minute="30", hour="4", day_of_week="*", day_of_month="*", month_of_year="*")
    browser_sign_in(page, live_server.url, admin_user, "password")
    problems = watch_console(page)
    page.goto(live_server.url + "/admin/django_celery_beat/periodictask/add/")
    help_text = page.locator(".field-crontab .help")
    assert "In words" not in help_text.text_content()
    page.select_option("#id_crontab", str(crontab.pk))
    assert "In words: At 04:30" in help_text.text_content()
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []


def test_a_periodic_tasks_crontab_is_read_in_words_once(page, live_server, admin_user):
    # its page said "In words: At 04:30" under the crontab, then "Crontab translation: At 04:30"
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from tests.conftest import browser_sign_in

    crontab = CrontabSchedule.objects.create(minute="30", hour="4", day_of_week="*", day_of_month="*", month_of_year="*")
    task = PeriodicTask.objects.create(name="nightly", task="provisioning.tasks.connections_reconcile", crontab=crontab)
    browser_sign_in(page, live_server.url, admin_user, "password")
    page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.locator(".field-crontab .help").text_content().count("At 04:30") == 1
    assert page.locator(".field-crontab_translation").count() == 1  # in the page, for a browser without scripts
    assert not page.locator(".field-crontab_translation").is_visible()



def test_the_periodic_task_form_speaks_to_staff_not_to_celery(admin_client):
    # the library's help texts: "Set to False to disable the schedule", "leave the others null"
    page = admin_client.get("/admin/django_celery_beat/periodictask/add/").content.decode()
    assert "Untick to pause this schedule" in page and "Set to False" not in page
    assert "leave the others null" not in page and "leave the others empty" in page
    assert "If True" not in page and "Datetime" not in page and "Starts at" in page and "Last run" in page
    listing = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert "Datetime" not in listing and "Interval Schedule" not in listing


def test_the_periodic_task_words_leave_the_librarys_form_as_it_is(admin_client):
    # they were set on the fields of the form class, where the library declares two of its own
    from django_celery_beat.admin import PeriodicTaskForm

    admin_client.get("/admin/django_celery_beat/periodictask/add/")
    assert PeriodicTaskForm.base_fields["regtask"].help_text == ""
    assert PeriodicTaskForm.base_fields["task"].help_text == ""


@pytest.mark.django_db(transaction=True)  # the scheduler closes the database connection, as beat does
def test_the_portals_schedules_say_what_they_do(admin_client, settings):
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from portal.celery import app

    DatabaseScheduler(app=app)  # what beat does when it starts: its schedules written on their rows
    schedules = {task.name: task for task in PeriodicTask.objects.all()}
    # no "celery.backend_cleanup", which had nothing to clean: the portal keeps no task results
    assert set(schedules) == set(settings.CELERY_BEAT_SCHEDULE)
    assert all(task.description for task in schedules.values())
    listing = admin_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert "What it does" in listing  # the column
    assert schedules["sweep-operations"].description in listing
    assert "provisioning.tasks.operations_sweep" not in listing  # the filter by task name, a dotted line each
