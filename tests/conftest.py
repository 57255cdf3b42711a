"""Fixtures for every test: the provider sandbox, headless Chromium, and the integration gate; and
what many tests start from: ``member`` and her ``account`` at the test's ``connection`` (each
folder or module defines ``connection``, and overrides ``member`` where it needs another one),
``http`` (HTTP faked with ``responses``) and ``eager`` (Celery tasks run in the requesting process).

Markers (registered in pytest.ini):

- ``integration``: needs real services. Tests under ``tests/integration/`` get it automatically.
  Without PostgreSQL (``DATABASE_URL=postgres://...``) and ``REDIS_URL`` they are skipped, so
  ``.venv/bin/pytest -m "not integration"`` (or plain ``pytest``) works on any laptop; with
  ``REQUIRE_INTEGRATION=1`` (``make test`` sets it) the skip becomes an error.
- ``browser``: drives headless Chromium (``/usr/bin/chromium``). Tests that use Playwright's
  ``page`` fixture get it automatically. Same rule when Chromium is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests
import responses

from devtools.second_factor import pass_second_factor, totp_device  # noqa: F401  (tests import them from here)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
INTEGRATION_DIR = Path(__file__).parent / "integration"
BROWSER_FIXTURES = {"page", "context", "browser", "new_context", "launch_browser"}


# --- markers and the integration gate ------------------------------------------------------------

def pytest_collection_modifyitems(config, items):
    for item in items:
        if INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


def _missing_integration_services() -> list[str]:
    from django.conf import settings

    missing = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        missing.append(f"the database is not PostgreSQL (set DATABASE_URL=postgres://...; engine is {engine})")
    if not os.environ.get("REDIS_URL"):
        missing.append("REDIS_URL is not set")
    return missing


def _missing_browser() -> list[str]:
    return [] if os.access(CHROMIUM, os.X_OK) else [f"{CHROMIUM} is missing (Debian package chromium)"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    missing = []
    if item.get_closest_marker("integration"):
        missing += _missing_integration_services()
    if item.get_closest_marker("browser"):
        missing += _missing_browser()
    if not missing:
        return
    reason = "; ".join(missing)
    if os.environ.get("REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"REQUIRE_INTEGRATION=1 but {reason} (run it with `make test`)", pytrace=False)
    pytest.skip(f"needs real services: {reason} (`make test` provides them)")


# --- the provider sandbox ------------------------------------------------------------------------

class SandboxControl:
    """Thin client of the sandbox's control API (``/_sandbox/...``, see provisioning/sandbox/control.py).

    ``url`` is the sandbox's base URL; a simulator lives under ``{url}/{name}`` (e.g. ``/snaptrade``).
    Every call raises on a non-2xx answer and returns the decoded JSON.
    """

    def __init__(self, url: str, *, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, method: str, path: str, **kwargs):
        response = self._http.request(method, f"{self.url}/_sandbox/{path}", timeout=self.timeout, **kwargs)
        if not response.ok:
            raise AssertionError(f"sandbox {method} /_sandbox/{path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self, name: str | None = None):
        """Everything back to a clean start (or one simulator: its state, faults, settings, outbox)."""
        return self._call("POST", f"{name}/reset" if name else "reset")

    def state(self, name: str | None = None) -> dict:
        """Snapshot of one simulator (users, counters, ...), or of all of them by name."""
        return self._call("GET", f"state/{name}" if name else "state")

    def faults(self, name: str, **cfg) -> dict:
        """Merge fault settings (latency_ms, error_rate, fail_next=[...], ...); none: read them."""
        return self._call("POST", f"{name}/faults", json=cfg) if cfg else self._call("GET", f"{name}/faults")

    def clear_faults(self, name: str) -> dict:
        return self._call("DELETE", f"{name}/faults")

    def settings(self, name: str, **cfg) -> dict:
        """Merge runtime settings of a simulator (e.g. delete_delay_seconds=0); none: read them."""
        return self._call("POST", f"{name}/settings", json=cfg) if cfg else self._call("GET", f"{name}/settings")

    def outbox(self, **filters) -> list[dict]:
        """SMS and emails sent, oldest first; filters: simulator=, to=."""
        return self._call("GET", "outbox", params=filters)

    def clock(self, offset_seconds: float | None = None, *, advance_seconds: float | None = None) -> dict:
        """Set or move the sandbox clock (never both); no argument: read it."""
        if offset_seconds is not None and advance_seconds is not None:
            raise TypeError("give offset_seconds or advance_seconds, not both")
        if offset_seconds is not None:
            return self._call("POST", "clock", json={"offset_seconds": offset_seconds})
        if advance_seconds is not None:
            return self._call("POST", "clock", json={"advance_seconds": advance_seconds})
        return self._call("GET", "clock")


@pytest.fixture(scope="session")
def sandbox_control_class():
    """The SandboxControl class, for conftests that make their own (e.g. of a sandbox process)."""
    return SandboxControl


@pytest.fixture(scope="session")
def sandbox_server():
    """Base URL of a sandbox served from a thread of the test process, for the whole session."""
    from provisioning.sandbox.server import start_in_thread

    base_url, stop = start_in_thread()
    yield base_url
    stop()


@pytest.fixture
def sandbox(sandbox_server):
    """The session's sandbox, reset to a clean start, as a SandboxControl (``.url``, ``.state(name)``,
    ``.faults(name, **cfg)``, ``.settings(name, **cfg)``, ``.outbox(**filters)``, ``.clock(...)``)."""
    control = SandboxControl(sandbox_server)
    control.reset()
    return control


# --- data, fake HTTP, eager Celery -------------------------------------------------------------

@pytest.fixture
def member(db):
    from provisioning.models import Member

    return Member.objects.create(email="jane@example.org", first_name="Jane", last_name="Doe", country="SG")


@pytest.fixture
def account(member, connection):
    """``member``'s account at the test's ``connection``, pending."""
    from provisioning.models import Account

    return Account.objects.create(member=member, connection=connection)


@pytest.fixture
def caps_count_operations(settings):
    """A connection's cap counts its operations running, as without Redis (``make run``): for the
    tests of the claim's admission, whatever broker the suite runs with. With Redis the same rules
    hold at ``slots.admitted(cap)`` (``test_requests_in_flight_hold_the_cap``)."""
    settings.PROVISIONING = {**settings.PROVISIONING, "CONCURRENCY_REDIS_URL": ""}


@pytest.fixture
def caps_count_requests(settings):
    """A connection's cap counts its requests in flight, in the suite's Redis (``REDIS_URL``),
    emptied first; skipped without one."""
    import redis

    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL (`make test` provides it)")
    redis.Redis.from_url(url).flushdb()
    settings.PROVISIONING = {**settings.PROVISIONING, "CONCURRENCY_REDIS_URL": url}
    return url


@pytest.fixture
def http():
    """HTTP faked with ``responses``; a response registered but never asked for is no failure."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- the indexes a query may use -----------------------------------------------------------------


def plan_without_table_scans(queryset) -> str:
    """PostgreSQL's plan for ``queryset`` when it may not read a whole table (sequential scans
    off): it names the indexes that can serve the query, and still says "Seq Scan" where none
    can. The test tables are too small for the plan PostgreSQL would choose at scale. Pages read
    out of order cost as much as in order (as on an SSD, or with the tables in memory): else, on
    tables this small, walking an index in the order asked for looks cheaper for that alone than
    the index that finds the rows. An ordering the query does not need is best left out: walking
    the index of an ``ORDER BY`` is another way around a table scan."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL random_page_cost = 1")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


# --- the second factor (provisioning/second_factor.py) -------------------------------------------


def totp_code(device, *, offset_steps: int = 0) -> str:
    """The code ``device``'s app shows now (or ``offset_steps`` steps away)."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def browser_sign_in(page, base_url: str, user, password: str):
    """Sign ``user`` in through the admin's pages in the browser, as a person does: the password,
    then (for those who need one, or have a device) the code of their authenticator app."""
    from provisioning.second_factor import needs_second_factor

    device = totp_device(user) if needs_second_factor(user) else None
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    if "/admin/second-factor/" in page.url and device is not None:
        page.fill("#id_code", totp_code(device))
        page.click("#second-factor-form input[type=submit]")
        page.wait_for_load_state()
    return page


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's ``admin_client``, past the second factor a superuser needs."""
    client.force_login(admin_user)
    return pass_second_factor(client, admin_user)


@pytest.fixture
def admin_api(admin_user):
    """The REST API as pytest-django's ``admin_user`` (a superuser) sees it; ``admin_client`` is
    the same person in the admin."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def install_providers(settings):
    """``install_providers(Cls, ...)``: make provider classes installed for one test, the way an
    installation does it: their dotted paths in ``PROVISIONING["PROVIDERS"]``. Listed first, so a
    stand-in that borrows a built-in kind takes its place; the setting is restored afterwards."""

    def install(*classes):
        paths = [f"{cls.__module__}.{cls.__qualname__}" for cls in classes]
        settings.PROVISIONING = {**settings.PROVISIONING, "PROVIDERS": [*paths, *settings.PROVISIONING["PROVIDERS"]]}
        return classes

    return install


@pytest.fixture
def eager():
    """Celery runs each task in the requesting process as soon as it is dispatched (after commit)."""
    from portal.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


# --- headless Chromium ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium: Playwright cannot download its own here."""
    # Playwright's sync API runs an event loop in this thread; the ORM must still be usable.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}
