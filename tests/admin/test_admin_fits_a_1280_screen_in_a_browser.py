"""At 1280x800, in headless Chromium, the overview and every list need no horizontal scrolling
(neither the page nor a list's own table), with long emails, names and URLs in them; a
screenshot of the overview is saved as ``test-results/overview.png``."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from provisioning.models import Account, Batch, Connection, ExternalCall, Member, Operation, SecretAccess
from django.contrib.auth.models import User
from tests.conftest import browser_sign_in

RESULTS = Path(__file__).resolve().parents[2] / "test-results"
LISTS = ["member", "connection", "account", "operation", "batch", "externalcall", "secretaccess"]
STATUSES = ["awaiting_captcha", "awaiting_verification", "awaiting_validation", "failed", "active", "active", "pending"]
# widths wider than their box: the page, or a list's table in its own scrolling box
OVERFLOW = """() => [
  ...(document.documentElement.scrollWidth > window.innerWidth ? ["page: " + document.documentElement.scrollWidth] : []),
  ...[...document.querySelectorAll(".results, .module")]
     .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className + ": " + e.scrollWidth + " > " + e.clientWidth),
]"""


@pytest.fixture
def everything_provider():
    """The real providers (the overview's buttons depend on what each offers)."""
    return None


@pytest.fixture
def busy_portal(transactional_db, django_user_model):
    staff = django_user_model.objects.create_superuser("staff", "", "a-long-password")
    now = timezone.now()
    connections = [
        Connection.objects.create(provider="kandy", name="Kandy sandbox", base_url="http://k.test", credentials={},
                                  max_accounts=5, health_status="ok", requests_per_minute=60, max_concurrency=4),
        Connection.objects.create(provider="snaptrade", name="SnapTrade sandbox", base_url="http://s.test", credentials={},
                                  health_status="error", health_detail="timeout", quarantined_since=now - timedelta(minutes=12),
                                  quarantine_reason="5 calls in a row failed: Connection refused",
                                  next_probe_at=now + timedelta(minutes=3)),
        Connection.objects.create(provider="flyve", name="Flyve MDM demo with a rather long name", base_url="http://f.test",
                                  credentials={}),
    ]
    for i in range(14):
        member = Member.objects.create(email=f"member.with.a.long.email.address.{i}@example-organisation.org",
                                       first_name=f"Jane{i}", last_name="Doe-Longname", phone="+6591234567", country="SG")
        for connection in connections:
            status = STATUSES[(i + connection.pk) % len(STATUSES)]
            failed = status == "failed"
            account = Account.objects.create(
                member=member, connection=connection, status=status, external_id=f"remote-user-{i}-{connection.pk}-abcdefghijklmnop",
                last_error={"code": "quota_exceeded", "message": "Kandy refused a new user: the domain's user quota is full."} if failed else None,
                attention="Drift: Kandy sandbox no longer has user u-1: it was removed outside the portal." if status == "active" and i % 3 == 0 else "",
            )
            operation = Operation.objects.create(
                kind="provision", status="failed" if failed else "succeeded", account=account, connection=connection,
                requested_by="admin:a-staff-member-with-a-long-name", error_code="quota_exceeded" if failed else "",
                error_message="Kandy refused a new user: the domain's user quota is full." if failed else "",
                finished_at=now - timedelta(days=i * 2 % 30, hours=i),
            )
            ExternalCall.objects.create(
                operation=operation, connection=connection, method="POST", status_code=201, duration_ms=120,
                url="https://sandbox.example.test/api/v1/users/registration/with/a/very/long/path?query=string&key=***",
                provider_request_id="req-0123456789abcdef0123456789", error="" if i % 4 else "Read timed out after 10 s (no answer)",
            )
            SecretAccess.objects.create(account=account, user=staff, via="admin", keys=["user_secret", "password"])
    Batch.objects.create(connection=connections[0], requested_by="admin:a-staff-member-with-a-long-name")
    return staff


def test_the_overview_and_every_list_fit_1280_pixels(page, live_server, busy_portal):
    page.set_viewport_size({"width": 1280, "height": 800})
    browser_sign_in(page, live_server.url, User.objects.get(username="staff"), "a-long-password")

    page.goto(f"{live_server.url}/admin/")
    assert page.locator("text=Needs a person").first.is_visible()
    assert page.locator("svg.provisioning-svg rect").count() == 60
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "overview.png"), full_page=True)
    overflowing = {"overview": page.evaluate(OVERFLOW)}
    for model in LISTS:
        page.goto(f"{live_server.url}/admin/provisioning/{model}/")
        overflowing[model] = page.evaluate(OVERFLOW)
    assert {where: boxes for where, boxes in overflowing.items() if boxes} == {}
