"""Child processes (sandbox, Celery workers, beat) for tests and benchmarks.

Each one writes its output to a log file and is always stopped by its own PID; pool processes a
parent leaves behind are killed only while their start time proves they are the same process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a process from a later one with the same PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def descendants(pid: int) -> list[tuple[int, str | None]]:
    """Every process below ``pid`` now (children, theirs, ...), with their start times."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [(child, start_time(child)), *descendants(child)]
    return found


def stop_left_behind(processes: list[tuple[int, str | None]], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, those of ``processes`` still running (the same process: same start
    time), e.g. the workers of a benchmark that was killed before it could stop them."""
    import time

    def running() -> list[int]:
        return [pid for pid, started in processes if started is not None and start_time(pid) == started]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in running():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)


class ChildProcess:
    """A child process with its output in ``log_dir/<name>.log``."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path):
        self.name = name
        self.args = args
        self.noted_children: list[tuple[int, str | None]] = []
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

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def child_pids(self) -> list[tuple[int, str | None]]:
        """The process's children now, with their start times."""
        found = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                found += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                continue
        return [(pid, start_time(pid)) for pid in found]

    def remember_children(self) -> None:
        """Note the children, so that a parent killed hard does not leave its pool running."""
        self.noted_children = self.child_pids()

    def reap_children(self) -> None:
        """Kill the noted children that still run (never a reused PID)."""
        for pid, started in self.noted_children:
            if started is not None and start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the process (SIGKILL by default: a crash, no clean shutdown)."""
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` (SIGTERM: a warm shutdown for Celery), SIGKILL after ``timeout``, then the
        children left behind; returns the exit code."""
        if self.alive():
            self.remember_children()
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        self.reap_children()
        return self.popen.returncode

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
