"""A Flyve MDM demo registration end to end, with a person in the loop: the API, PostgreSQL, Redis,
a real Celery worker, the sandbox process, and the public validation page in headless Chromium.

provision -> the captcha the portal serves is a real JPEG -> a wrong answer brings a new captcha ->
the right one (read from the sandbox, as a person would read the image) creates the user -> the
validation email's link opens the portal's page, which completes it -> active. Every GLPI session
is killed. A seventh captcha within five minutes is deferred, not sent.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from PIL import Image

from provisioning.models import Connection
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration


class FlyveSandbox:
    def __init__(self, control, connection: Connection):
        self.control = control
        self.connection = connection

    def state(self) -> dict:
        return self.control.state("flyve")

    def phrase(self, captcha_id: int) -> str:
        return next(c["phrase"] for c in self.state()["captchas"] if c["id"] == captcha_id)


@pytest.fixture
def flyve(sandbox_process, sandbox_connection) -> FlyveSandbox:
    return FlyveSandbox(sandbox_process, sandbox_connection("flyve"))


def test_registration_with_captcha_and_email_link_through_a_real_worker(
    api, flyve, celery_worker_process, live_server, page, settings
):
    settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    flyve.control.settings("flyve", webapp_url=f"{live_server.url}/validate/flyve/{flyve.connection.pk}/")
    celery_worker_process()

    account, operation = api.provision("jane@example.org", flyve.connection)
    assert api.operation(operation["id"])["status"] == "succeeded"
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "awaiting_captcha"
    first_captcha = account["details"]["captcha_id"]

    # the portal serves the captcha: a real 150x40 JPEG
    image = api.client.get(f"/api/v1/accounts/{account['id']}/captcha/", HTTP_ACCEPT="image/jpeg")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(image.content))
    assert (picture.format, picture.size) == ("JPEG", (150, 40))

    # a wrong answer: the operation fails with GLPI's words, the account gets a new captcha
    wrong = api.call("POST", f"accounts/{account['id']}/captcha/", {"answer": "wrong"})
    failed = api.operation(wrong["id"])
    assert failed["status"] == "failed" and failed["error"]["message"] == "The captcha answer was wrong; GLPI said: Turing test failed."
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "awaiting_captcha"
    assert account["details"]["captcha_id"] != first_captcha

    # the right answer creates the user; GLPI emails the validation link
    right = api.call("POST", f"accounts/{account['id']}/captcha/", {"answer": flyve.phrase(account["details"]["captcha_id"])})
    assert api.operation(right["id"])["status"] == "succeeded"
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "awaiting_validation" and account["secrets_set"] == ["password"]
    email = wait_for(lambda: flyve.control.outbox(simulator="flyve", to="jane@example.org"), "the validation email")[-1]
    link = email["data"]["link"]
    assert link.startswith(f"{live_server.url}/validate/flyve/{flyve.connection.pk}/#!/account/")

    # the person opens the link, confirms, and the page shows the outcome of the real worker
    page.goto(link)
    page.fill("#email", "jane@example.org")
    page.click("#activate")
    page.wait_for_selector("#outcome:has-text('Your account is active')", timeout=90_000)

    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "active"
    assert account["details"]["validation_id"] == email["data"]["validation_id"]
    state = flyve.state()
    assert state["accounts"][0]["profile"] == "registered"
    assert state["open_sessions"] == 0
    # provision, the wrong answer (its new captcha in the same session), the right one, validate
    assert state["sessions_opened"] == state["sessions_killed"] == 4
    assert state["requests_without_json_content_type"] == 0


def test_the_seventh_captcha_within_five_minutes_is_deferred_not_sent(api, flyve, celery_worker_process):
    celery_worker_process(concurrency=2)  # two at once: the budget holds across workers

    operations = [api.provision(f"member{i}@example.org", flyve.connection)[1]["id"] for i in range(7)]

    def settled():
        found = [api.operation(op_id, finished=False) for op_id in operations]
        done = [op for op in found if op["status"] == "succeeded" or op["status"] == "waiting_retry"]
        return found if len(done) == len(found) else None

    found = wait_for(settled, "six captchas and one deferral")
    statuses = sorted(op["status"] for op in found)
    assert statuses == ["succeeded"] * 6 + ["waiting_retry"]
    deferred = next(op for op in found if op["status"] == "waiting_retry")
    assert deferred["error"]["code"] == "captcha_budget"
    assert deferred["attempts"] == 0
    assert datetime.fromisoformat(deferred["next_attempt_at"]) > datetime.now(timezone.utc)
    state = flyve.state()
    assert state["captchas_created"] == 6
    assert state["open_sessions"] == 0
