"""Real processes for integration tests: the sandbox server and Celery workers (and beat); and
the portal's side of a test: ``api`` (the REST API as staff), ``sandbox_connection(kind)`` (a
portal Connection to a simulator of ``sandbox_process``) and ``snaptrade``. Plain helpers
(``wait_for``, ``wait_until_finished``, ``STAFF``) are in ``support.py``.

Each process runs from this checkout with ``DJANGO_SETTINGS_MODULE=portal.test_settings``, writes
its output to a temporary log file (its tail is added to the report of a failing test), and is
stopped by its PID at teardown. Redis (the broker) is flushed before each test here so that no
message leaks from one test to the next: under ``make test`` it is a private throwaway server.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from devtools.processes import ChildProcess, free_port
from provisioning.models import Connection
from provisioning.providers import registry
from provisioning.sandbox.defaults import sandbox_credentials
from tests.integration.snaptrade_support import SnapTradeSandbox
from tests.integration.support import StaffApi

CELERY = str(Path(sys.executable).with_name("celery"))
START_TIMEOUT = 60.0
LOG_TAIL_LINES = 60
_PROCESSES = pytest.StashKey[list]()
_numbers = itertools.count(1)


class ManagedProcess(ChildProcess):
    """A child process of a test: it fails the test, with its log, when it does not come up."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        super().__init__(name, args, env=env, log_dir=log_dir)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return super().tail(lines)

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                pytest.fail(f"{self.name} exited with {self.popen.returncode} before {what}:\n{self.tail()}",
                            pytrace=False)
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} not {what} after {timeout:.0f} s:\n{self.tail()}", pytrace=False)


@pytest.fixture
def process_log_dir(tmp_path) -> Path:
    path = tmp_path / "processes"
    path.mkdir()
    return path


def _register(request, process: ManagedProcess) -> None:
    request.node.stash.setdefault(_PROCESSES, []).append(process)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, add the tail of each process's log to the report."""
    report = yield
    if report.failed:
        for process in item.stash.get(_PROCESSES, []):
            report.sections.append((f"{process.name} log (last {LOG_TAIL_LINES} lines)", process.tail()))
    return report


def _child_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.test_settings", "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(overrides)
    return env


def _database_url(db: dict) -> str:
    """A DATABASE_URL for Django's DATABASES entry (the test database, once pytest-django made it)."""
    quote = urllib.parse.quote
    user = quote(db.get("USER") or "", safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def purge_broker():
    """Empty the Redis database of REDIS_URL (the broker under ``make test``)."""
    import redis

    def purge() -> None:
        url = os.environ.get("REDIS_URL")
        if url:
            with redis.Redis.from_url(url) as client:
                client.flushdb()

    return purge


@pytest.fixture(autouse=True)
def _fresh_broker(purge_broker):
    purge_broker()


# --- the sandbox as a process --------------------------------------------------------------------

@pytest.fixture
def sandbox_process(request, process_log_dir, sandbox_control_class):
    """A sandbox server in its own process (``python -m provisioning.sandbox``) on a free port.

    Yields its SandboxControl (``.url``, ``.state(name)``, ``.faults(name, **cfg)``, ...) with the
    ManagedProcess as ``.process`` (``.pid``, ``.kill(sig)``, ``.stop()``, ``.log()``).
    """
    port = free_port()
    process = ManagedProcess(
        "sandbox",
        [sys.executable, "-m", "provisioning.sandbox", "--host", "127.0.0.1", "--port", str(port)],
        _child_env(),
        process_log_dir,
    )
    _register(request, process)
    control = sandbox_control_class(f"http://127.0.0.1:{port}")
    control.process = process

    def healthy() -> bool:
        try:
            return requests.get(f"{control.url}/_sandbox/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        process.wait_until(healthy, "answering /_sandbox/healthz")
        yield control
    finally:
        process.stop()


# --- the portal's side: staff at the API, connections to the sandbox process ---------------------

@pytest.fixture
def api(transactional_db, django_user_model) -> StaffApi:
    """The REST API as a staff member (a superuser with a DRF token) sees it."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    staff = django_user_model.objects.create_superuser("ops", "ops@example.org", "not-used-0123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).plain_key}")
    return StaffApi(client)


@pytest.fixture
def sandbox_connection(sandbox_process, transactional_db):
    """Factory: ``sandbox_connection("kandy")`` creates the portal Connection to that provider's
    simulator in ``sandbox_process``, configured as ``manage.py bootstrap`` does it: the provider's
    ``sandbox_connection()`` with the sandbox's demo credentials."""
    def create(kind: str) -> Connection:
        provider = registry.get(kind)
        fields = provider.sandbox_connection(
            sandbox_url=sandbox_process.url,
            credentials=sandbox_credentials()[provider.sandbox_simulator or kind],
        )
        return Connection.objects.create(provider=kind, name=f"{provider.label} sandbox", **fields)

    return create


@pytest.fixture
def snaptrade(sandbox_process, sandbox_connection) -> SnapTradeSandbox:
    """The SnapTrade simulator of ``sandbox_process`` and a portal connection to it."""
    return SnapTradeSandbox(sandbox_process, sandbox_connection("snaptrade"))


# --- Celery worker and beat ----------------------------------------------------------------------

class CeleryWorker(ManagedProcess):
    """A ``celery -A portal worker`` process (``.nodename``), with its beat (``.beat``) if asked."""

    beat: ManagedProcess | None = None

    def __init__(self, *args, nodename: str, **kwargs):
        self.nodename = nodename
        super().__init__(*args, **kwargs)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's main process. SIGKILL is a crash: its pool processes are killed
        too, as the OS would on a lost machine (they would otherwise finish their task)."""
        self.remember_children()
        super().kill(sig)
        if sig == signal.SIGKILL:
            self.reap_children()

    def stop(self, timeout: float = 20.0) -> int | None:
        """Warm shutdown (SIGTERM: running tasks finish), of beat too; SIGKILL after ``timeout``."""
        if self.beat is not None:
            self.beat.stop(timeout)
        self.remember_children()
        return super().stop(timeout)

    def discard(self) -> None:
        """End worker, pool and beat at once. For teardown: the test is over, so there is nothing
        to finish, and a warm shutdown costs seconds per worker."""
        for process in (self.beat, self):
            if process is not None:
                process.kill(signal.SIGKILL)
                process.popen.wait(10)


@pytest.fixture
def celery_worker_process(request, transactional_db, settings, process_log_dir):
    """Factory: ``celery_worker_process(concurrency=1, beat=False, env=None, pool="prefork")`` starts
    a real ``celery -A portal worker --pool <pool>`` against the pytest-django **test database** and the
    test broker, waits until it is ready, and returns a CeleryWorker (``.pid``, ``.kill(sig)``,
    ``.stop()``, ``.log()``, ``.nodename``; ``.beat`` when ``beat=True``).

    This fixture requests ``transactional_db``: the worker is another process and only sees committed
    rows, so a test that uses it must not rely on ``db``'s rolled-back transaction (using both is
    fine: pytest-django then runs the test transactionally). Workers left running are killed at
    teardown (SIGKILL, pool and beat included), before the database is flushed. The broker is
    purged before the test starts.
    """
    from django.db import connection

    db = connection.settings_dict  # NAME is the test database's
    if "postgresql" not in db["ENGINE"]:
        pytest.fail("celery_worker_process needs PostgreSQL: the worker shares the test database", pytrace=False)
    shared_env = {
        "DATABASE_URL": _database_url(db),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }
    if os.environ.get("REDIS_URL"):
        shared_env["REDIS_URL"] = os.environ["REDIS_URL"]
    workers: list[CeleryWorker] = []

    def start(*, concurrency: int = 1, beat: bool = False, env: dict[str, str] | None = None,
              pool: str = "prefork") -> CeleryWorker:
        number = next(_numbers)
        nodename = f"w{number}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        child_env = _child_env(**{**shared_env, **(env or {})})
        worker = CeleryWorker(
            f"worker{number}",
            [CELERY, "-A", "portal", "worker", "--pool", pool, "--concurrency", str(concurrency),
             "-n", nodename, "-l", "info", "--without-mingle", "--without-gossip"],
            child_env,
            process_log_dir,
            nodename=nodename,
        )
        workers.append(worker)
        _register(request, worker)
        ready = re.compile(rf"{re.escape(nodename)} ready\.")
        worker.wait_until(lambda: bool(ready.search(worker.log())), "ready")
        if beat:
            worker.beat = ManagedProcess(
                f"beat{number}",
                [CELERY, "-A", "portal", "beat", "-l", "info",
                 "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                 "--pidfile", str(process_log_dir / f"beat{number}.pid")],
                child_env,
                process_log_dir,
            )
            _register(request, worker.beat)
            worker.beat.wait_until(lambda: "beat: Starting..." in worker.beat.log(), "started")
        return worker

    try:
        yield start
    finally:
        for worker in reversed(workers):
            worker.discard()


@pytest.fixture
def recovery_settings(settings):
    """The chaos tests' limits in the test process too (it requests the operations): as many
    attempts as the workers of ``chaos_support.RECOVERY_ENV`` allow."""
    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_ATTEMPTS": 1000, "RETRY_HORIZON_HOURS": 1}
    return settings


# --- the servers of scripts/test-services --------------------------------------------------------

TEST_SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "test-services"


class ServicesControl:
    """Stop and start the throwaway Redis and PostgreSQL of ``scripts/test-services`` mid-test
    (through its ``ctl`` command, which knows their pidfile, data folder and command line)."""

    def _ctl(self, action: str) -> None:
        import subprocess

        done = subprocess.run([str(TEST_SERVICES), "ctl", action], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"test-services ctl {action}: {done.returncode} {done.stderr}")

    def redis_stop(self) -> None:
        """Redis is gone (SIGTERM, waited for): nothing answers on its port any more."""
        self._ctl("redis-stop")

    def redis_start(self) -> None:
        """The same Redis server again, on the same port, empty (it keeps nothing on disk)."""
        self._ctl("redis-start")

    def postgres_restart(self) -> None:
        """PostgreSQL stopped (fast: every connection is cut) and started again."""
        self._ctl("postgres-restart")


@pytest.fixture
def services_control() -> ServicesControl:
    """``redis_stop()``, ``redis_start()``, ``postgres_restart()`` of the servers that
    ``scripts/test-services`` started; skipped when the test does not run under it (or when it
    did not start PostgreSQL itself, given an existing DATABASE_URL). Redis is always started
    again at teardown, should the test have left it stopped."""
    missing = [name for name in ("TEST_SERVICES_DIR", "TEST_SERVICES_REDIS_PORT", "TEST_SERVICES_PGDATA")
               if not os.environ.get(name)]
    if missing:
        pytest.skip(f"needs the servers of scripts/test-services to stop and start them ({', '.join(missing)} unset)")
    control = ServicesControl()
    yield control
    pidfile = Path(os.environ["TEST_SERVICES_DIR"]) / "redis.pid"
    if not pidfile.exists():
        control.redis_start()
