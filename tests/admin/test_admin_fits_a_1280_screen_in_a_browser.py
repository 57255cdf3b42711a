"""At 1280x800, in headless Chromium, the overview and every list need no horizontal scrolling
(neither the page nor a list's own table), with long emails, names and URLs in them, and no
status badge has a word cut in two (a narrow column read "Activ" above "e"); a screenshot of the
overview is saved as ``test-results/overview.png``."""

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
# words of a badge laid out on more than one line
BROKEN_BADGE_WORDS = """() => [...document.querySelectorAll(".provisioning-badge")].flatMap(badge => {
  const text = badge.firstChild;
  if (!text || text.nodeType !== Node.TEXT_NODE) return [];
  return [...text.data.matchAll(/\\S+/g)].filter(word => {
    const range = document.createRange();
    range.setStart(text, word.index);
    range.setEnd(text, word.index + word[0].length);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
  }).map(word => word[0]);
})"""


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
    # as a fresh install lists them: each checked a moment ago, none limited
    for provider, name in (("xhoppe", "Xhoppe sandbox"), ("scim", "SCIM 2.0 application sandbox"),
                           ("flyve", "Flyve MDM demo (GLPI) sandbox")):
        Connection.objects.create(provider=provider, name=name, base_url="http://x.test", credentials={},
                                  health_status="ok", health_checked_at=now)
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
    broken = {"overview": page.evaluate(BROKEN_BADGE_WORDS)}
    for model in LISTS:
        page.goto(f"{live_server.url}/admin/provisioning/{model}/")
        overflowing[model] = page.evaluate(OVERFLOW)
        broken[model] = page.evaluate(BROKEN_BADGE_WORDS)
    # no wide badge ("Quarantined") in the state column to hold it open: a fresh install's list
    page.goto(f"{live_server.url}/admin/provisioning/connection/?health_status__exact=ok")
    assert page.locator("#result_list tbody tr").count() == 4
    broken["healthy connections"] = page.evaluate(BROKEN_BADGE_WORDS)
    assert {where: boxes for where, boxes in overflowing.items() if boxes} == {}
    assert {where: words for where, words in broken.items() if words} == {}
