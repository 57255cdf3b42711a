"""A private environment for one benchmark process, and the child processes it starts.

``bench_environment`` gives fresh keys, a temporary broker folder and, for the ``make run``
stack, a temporary SQLite database; the production-like stack takes the throwaway PostgreSQL
and Redis that ``scripts/test-services`` exports (``DATABASE_URL``, ``CELERY_BROKER_URL``).
Child processes are ``devtools.processes.ChildProcess``: a log file each, stopped by PID.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

from devtools.processes import REPO, ChildProcess

PYTHON = sys.executable
CELERY = str(Path(sys.executable).with_name("celery"))


# what must never come from the caller's shell: the benchmarks write to these
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def bench_environment(tmp: Path, *, production: bool) -> dict[str, str]:
    """Variables for the benchmark process and its workers, on top of ``os.environ``."""
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DEBUG": "false",  # whatever a local .env says: DEBUG keeps every SQL query in memory
        "CELERY_BROKER_DIR": str(tmp / "broker"),  # not the broker of a make run on this checkout
    }
    if not production:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'portal.sqlite3'}"
        env["CELERY_BROKER_URL"] = "filesystem://localhost/"
    return env


def wait_until(ready: Callable[[], object], what: str, timeout: float, process: ChildProcess | None = None):
    """Poll ``ready`` until it returns something truthy (returned); TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited before {what}:\n{process.tail()}")
        if value := ready():
            return value
        time.sleep(0.1)
    raise TimeoutError(f"gave up waiting {timeout:.0f} s for {what}")


def signed_in_client(user, **client_options):
    """A Django test client signed in as ``user`` past the second factor."""
    from django.test import Client

    from devtools.second_factor import pass_second_factor

    client = Client(**client_options)
    client.force_login(user)
    return pass_second_factor(client, user)
