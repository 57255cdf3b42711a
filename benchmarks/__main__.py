"""``python -m benchmarks [--quick] [--operations N] [--no-production]``: run every benchmark,
print a table and write the numbers to ``var/bench/<timestamp>.json``.

``python -m benchmarks --outage [--operations N] [--outage-seconds S]`` (``make bench
BENCH_ARGS=--outage``) runs the provider-outage benchmark instead (``benchmarks.outage``, on the
PostgreSQL + Redis stack): N provisionings queued while SnapTrade answers 503 for S seconds.

Each benchmark runs in its own process (Django is configured once per process, and each stack
needs its own database): ``benchmarks.micro``, ``benchmarks.pipeline --stack local`` and, under
``scripts/test-services run --`` (throwaway PostgreSQL and Redis), ``--stack production``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from devtools.processes import REPO, ChildProcess

from . import throughput
from .environment import PYTHON, SERVICE_VARIABLES
from .report import print_outage, print_report

TEST_SERVICES = REPO / "scripts" / "test-services"


def production_unavailable() -> str | None:
    """Why the production-like stack cannot run here, or None."""
    initdb = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")) / "initdb"
    if not os.access(initdb, os.X_OK):
        return f"{initdb} not found (scripts/ensure-system-packages installs PostgreSQL 15)"
    if shutil.which("redis-server") is None:
        return "redis-server not found (scripts/ensure-system-packages installs it)"
    return None


def run_child(name: str, args: list[str], *, timeout: float, work: Path) -> dict | list:
    """Run one benchmark process that writes its JSON to ``--out``; its output goes to a log."""
    out = work / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}  # never the caller's servers
    print(f"running {name} ...", end=" ", flush=True)
    clock = time.monotonic()
    process = ChildProcess(name, [*args, "--out", str(out)], env=env, log_dir=work)
    try:
        process.popen.wait(timeout)
    except BaseException as exc:  # a timeout or Ctrl-C: let it stop what it started
        print("stopping", flush=True)
        for pid, _ in process.child_pids():  # under test-services: the benchmark itself first
            os.kill(pid, signal.SIGTERM)
        process.stop(timeout=40)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise RuntimeError(f"{name} did not finish in {timeout} s:\n{process.tail()}")
        raise
    print(f"{time.monotonic() - clock:.1f} s", flush=True)
    if process.popen.returncode != 0 or not out.exists():
        raise RuntimeError(f"{name} exited with {process.popen.returncode}:\n{process.tail()}")
    return json.loads(out.read_text())


def write_results(results: dict, started: datetime, suffix: str = "") -> None:
    path = REPO / "var" / "bench" / f"{started:%Y%m%dT%H%M%SZ}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {path.relative_to(REPO)}")


def outage(args) -> int:
    """The provider-outage benchmark alone: its figures, printed and written to var/bench."""
    unavailable = production_unavailable()
    if unavailable:
        print(f"cannot run the outage benchmark: {unavailable}", file=sys.stderr)
        return 1
    operations = args.operations or (30 if args.quick else 100)
    outage_seconds = 10.0 if args.quick and args.outage_seconds == 30.0 else args.outage_seconds
    started = datetime.now(UTC)
    results = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "options": {"operations": operations, "outage_seconds": outage_seconds},
    }
    command = [str(TEST_SERVICES), "run", "--", PYTHON, "-m", "benchmarks.outage", "--operations", str(operations),
               "--outage-seconds", str(outage_seconds)]
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as work:
        try:
            results["outage"] = run_child("outage", command, timeout=outage_seconds + 420, work=Path(work))
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"outage failed: {exc}", file=sys.stderr)
            results["outage"] = {"error": str(exc).splitlines()[0]}
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    print_outage(results)
    write_results(results, started, "-outage")
    return 0 if "error" not in results["outage"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations and repeats (about 30 s)")
    parser.add_argument("--operations", type=int, help="provisionings per stack (default 200, quick 50)")
    parser.add_argument("--no-production", action="store_true", help="skip the PostgreSQL + Redis stack")
    parser.add_argument("--outage", action="store_true",
                        help="only the provider-outage benchmark (PostgreSQL + Redis; about 90 s)")
    parser.add_argument("--outage-seconds", type=float, default=30.0, help="how long SnapTrade answers 503")
    args = parser.parse_args(argv)
    if args.outage:
        return outage(args)
    operations = args.operations or (50 if args.quick else 200)
    cap_operations = 12 if args.quick else 40
    wait = "30" if args.quick else "90"  # seconds a pipeline waits for one run's operations
    timeout = 120 if args.quick else 300  # seconds for one benchmark process, as a last resort

    started = datetime.now(UTC)
    results = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "options": {"quick": args.quick, "operations": operations, "cap_operations": cap_operations},
        "micro": None,
        "pipeline": {},
    }
    pipeline = [PYTHON, "-m", "benchmarks.pipeline", "--operations", str(operations), "--timeout", wait]
    children = {
        "micro": [PYTHON, "-m", "benchmarks.micro", *(["--quick"] if args.quick else [])],
        "local": [*pipeline, "--stack", "local", "--cap-operations", str(cap_operations)],
        "production": [str(TEST_SERVICES), "run", "--", *pipeline, "--stack", "production"],
        **throughput.bench_children(quick=args.quick, test_services=TEST_SERVICES),
    }
    skipped = "--no-production" if args.no_production else production_unavailable()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as work:
        for name, command in children.items():
            if name == "production" and skipped:
                print(f"skipping the production-like stack: {skipped}")
                results["pipeline"][name] = {"skipped": skipped}
                continue
            try:
                result = run_child(name, command, timeout=timeout, work=Path(work))
            except (RuntimeError, OSError, ValueError) as exc:
                print(f"{name} failed: {exc}", file=sys.stderr)
                result = {"error": str(exc).splitlines()[0]}
            if name == "micro":
                results["micro"] = result
            else:
                results["pipeline"][name] = result
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)

    print_report(results)
    write_results(results, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
