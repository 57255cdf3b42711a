"""A private environment for one benchmark process, and the child processes it starts.

``bench_environment`` gives fresh keys, a temporary broker folder and, for the ``make run``
stack, a temporary SQLite database; the production-like stack takes the throwaway PostgreSQL
and Redis that ``scripts/test-services`` exports (``DATABASE_URL``, ``CELERY_BROKER_URL``).
``Process`` runs a child with its output in a log file and stops it by its PID.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], object], what: str, timeout: float, process: Process | None = None):
    """Poll ``ready`` until it returns something truthy (returned); TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited before {what}:\n{process.tail()}")
        if value := ready():
            return value
        time.sleep(0.1)
    raise TimeoutError(f"gave up waiting {timeout:.0f} s for {what}")


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a process from a later one with the same PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


class Process:
    """A child process (output in ``log_dir/<name>.log``), stopped by its PID."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                args, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def children(self) -> list[tuple[int, str | None]]:
        found = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                found += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                continue
        return [(pid, _start_time(pid)) for pid in found]

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """Send ``sig``, SIGKILL after ``timeout``; then any child of it (a prefork pool process)
        that is still the same process is killed too."""
        children = self.children() if self.alive() else []
        if self.alive():
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        for pid, started in children:
            if started is not None and _start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
