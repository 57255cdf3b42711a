"""``python -m benchmarks [--quick] [--only NAME,...] [--operations N] [--no-production]``: run
every benchmark, print one table of figures and write it to ``var/bench/<timestamp>.json`` and
``.txt``, with a description of the machine.

``python -m benchmarks --outage [--operations N] [--outage-seconds S]`` (``make bench
BENCH_ARGS=--outage``) runs the provider-outage benchmark instead (``benchmarks.outage``, on the
PostgreSQL + Redis stack): N provisionings queued while SnapTrade answers 503 for S seconds.

Each benchmark is a child process from ``CHILDREN`` (Django is configured once per process, and
each stack needs its own database), run with ``--out FILE`` (and ``--quick``); those marked
``services`` run under ``scripts/test-services run --`` (throwaway PostgreSQL and Redis). A child
writes JSON whose ``"figures"`` rows (target, figure, goal, measured, unit, ratio, ok, detail)
make the table; a module missing from this checkout is skipped with a message. Each child has a
time budget, given to it as ``BENCH_BUDGET_SECONDS`` (it is stopped past it); with ``--quick``
all of them share two minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devtools.processes import REPO, ChildProcess, descendants, stop_left_behind

from .environment import PYTHON, SERVICE_VARIABLES
from .report import figures_table, print_outage, print_report

TEST_SERVICES = REPO / "scripts" / "test-services"
PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
QUICK_SECONDS = 115  # make bench BENCH_ARGS=--quick: every child within two minutes in all


@dataclass(frozen=True)
class Child:
    """One benchmark process: ``python -m <module> <args> --out FILE``."""

    name: str
    module: str
    args: Callable[[argparse.Namespace], list[str]]
    services: bool  # under scripts/test-services: PostgreSQL + Redis
    budget: float  # seconds at most (the full run)
    quick_budget: float  # seconds at most with --quick
    postgres: bool = False  # starts a PostgreSQL of its own (needs initdb, not test-services)
    in_quick: bool = True  # False: --quick leaves it out (what it measures, a child before it covers)
    # with --quick: why it cannot run within its budget now (e.g. its data set is not made yet)
    quick_unready: Callable[[], str | None] | None = None


def _scale_data_set_missing() -> str | None:
    from .scale import data_set_missing

    return data_set_missing()


def _quick(args) -> list[str]:
    return ["--quick"] if args.quick else []


def _stack(stack: str) -> Callable[[argparse.Namespace], list[str]]:
    def stack_args(args) -> list[str]:
        return ["--stack", stack, *_quick(args)]

    return stack_args


def _pipeline(stack: str) -> Callable[[argparse.Namespace], list[str]]:
    def pipeline_args(args) -> list[str]:
        operations = args.operations or (50 if args.quick else 200)
        command = ["--stack", stack, "--operations", str(operations), "--timeout", "30" if args.quick else "90"]
        if stack == "local":
            command += ["--cap-operations", "12" if args.quick else "40"]
        return command

    return pipeline_args


# The benchmarks `make bench` runs, in this order (with --quick, those the two minutes leave no
# time for are skipped: the targets first). A module that is not in this checkout yet is
# skipped with a message: add the line of a new benchmark here.
# The quick budgets are about half again what the children took on a slow 2-core machine (19.6,
# 36.3 and 27.4 s; a first run after a fresh checkout, cold, takes longer): each is cut to the time
# the two minutes have left, so a fast machine runs the later children too.
CHILDREN = [
    Child("enqueue", "benchmarks.enqueue", _quick, services=True, budget=420, quick_budget=30),
    Child("throughput-production", "benchmarks.throughput", _stack("production"), services=True, budget=900,
          quick_budget=55),
    Child("throughput-local", "benchmarks.throughput", _stack("local"), services=False, budget=600, quick_budget=40),
    # the first run makes its data set (about 8 minutes on 2 cores), kept in var/bench/; with
    # --quick it took 22 s alone and 34-45 s after the throughput children (its tables' pages no
    # longer in the cache, the hypervisor taking a fifth of the cores): at 45 s it was cut short
    Child("scale", "benchmarks.scale", _quick, services=False, budget=1500, quick_budget=60, postgres=True,
          quick_unready=_scale_data_set_missing),
    Child("micro", "benchmarks.micro", _quick, services=False, budget=120, quick_budget=15),
    # latency of one operation, and the 200 ms cap run: the details behind the throughput figures
    Child("local", "benchmarks.pipeline", _pipeline("local"), services=False, budget=300, quick_budget=45,
          in_quick=False),
    Child("production", "benchmarks.pipeline", _pipeline("production"), services=True, budget=300, quick_budget=40,
          in_quick=False),
]


def production_unavailable() -> str | None:
    """Why the production-like stack cannot run here, or None."""
    initdb = PGBIN / "initdb"
    if not os.access(initdb, os.X_OK):
        return f"{initdb} not found (scripts/ensure-system-packages installs PostgreSQL 15)"
    if shutil.which("redis-server") is None:
        return "redis-server not found (scripts/ensure-system-packages installs it)"
    return None


def _first_line(path: str, pattern: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if match := re.match(pattern, line):
                return match.group(1).strip().strip('"')
    except OSError:
        pass
    return None


def _version(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def reference_loop_seconds() -> float:
    """How long this machine takes now for a fixed piece of pure Python (2,000,000 additions, the
    best of 3). A virtual machine's host is busier at some hours than at others, and every figure
    moves with it: read before and after a run, it says which runs can be compared."""
    best = float("inf")
    for _ in range(3):
        clock, total = time.perf_counter(), 0
        for n in range(2_000_000):
            total += n
        best = min(best, time.perf_counter() - clock)
    return round(best, 3)


def machine() -> dict:
    """What the figures were measured on: they mean little without it."""
    memory_kb = _first_line("/proc/meminfo", r"MemTotal:\s+(\d+)")
    return {
        "cores": os.cpu_count(),
        "cpu": _first_line("/proc/cpuinfo", r"model name\s*:\s*(.+)") or platform.processor() or None,
        "memory_gb": round(int(memory_kb) / 2**20, 1) if memory_kb else None,
        "os": _first_line("/etc/os-release", r"PRETTY_NAME=(.+)") or platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": _version([str(PGBIN / "postgres"), "--version"]),
        "redis": _version(["redis-server", "--version"]),
        "load_average": [round(load, 2) for load in os.getloadavg()],  # others' work skews timings
        "reference_loop_seconds": [reference_loop_seconds()],  # and once more at the end of the run
    }


def run_child(name: str, args: list[str], *, timeout: float, work: Path) -> dict | list:
    """Run one benchmark process that writes its JSON to ``--out``; its output goes to a log."""
    out = work / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}  # never the caller's servers
    env["BENCH_BUDGET_SECONDS"] = f"{timeout:.0f}"  # so that a child can size its runs to fit
    print(f"running {name} ...", end=" ", flush=True)
    clock = time.monotonic()
    process = ChildProcess(name, [*args, "--out", str(out)], env=env, log_dir=work)
    try:
        process.popen.wait(timeout)
    except BaseException as exc:  # a timeout or Ctrl-C: let it stop what it started
        print("stopping", flush=True)
        below = descendants(process.pid)  # its workers, sandbox, servers: none may outlive it
        for pid, _ in process.child_pids():  # under test-services: the benchmark itself first
            os.kill(pid, signal.SIGTERM)
        process.stop(timeout=40)
        stop_left_behind(below)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise RuntimeError(f"{name} did not finish in {timeout:.0f} s:\n{process.tail()}")
        raise
    print(f"{time.monotonic() - clock:.1f} s", flush=True)
    if process.popen.returncode != 0 or not out.exists():
        raise RuntimeError(f"{name} exited with {process.popen.returncode}:\n{process.tail()}")
    return json.loads(out.read_text())


def write_results(results: dict, started: datetime, suffix: str = "", table: str | None = None) -> None:
    path = REPO / "var" / "bench" / f"{started:%Y%m%dT%H%M%SZ}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    written = [path]
    if table is not None:
        written.append(path.with_suffix(".txt"))
        written[-1].write_text(table + "\n")
    print(f"\nwritten to {', '.join(str(p.relative_to(REPO)) for p in written)}")


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
        "machine": machine(),
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
    results["machine"]["reference_loop_seconds"].append(reference_loop_seconds())
    print_outage(results)
    write_results(results, started, "-outage")
    return 0 if "error" not in results["outage"] else 1


def why_not(child: Child, args, time_left: float) -> str | None:
    """Why ``child`` is skipped this time, or None."""
    if importlib.util.find_spec(child.module) is None:
        return f"{child.module} is not in this checkout"
    if args.quick and not child.in_quick:
        return "not with --quick (the full run has it)"
    if child.services and args.no_production:
        return "--no-production"
    if (child.services or child.postgres) and (unavailable := production_unavailable()):
        return unavailable
    if args.quick and child.quick_unready and (unready := child.quick_unready()):
        return unready
    if time_left < 15:  # too little to start servers and measure anything
        return f"no time left of the {QUICK_SECONDS} s of --quick"
    return None


def run_all(args) -> dict:
    """Every child of ``CHILDREN`` (or ``--only``): ``{"children": {name: outcome}, "figures": [...]}``."""
    chosen = [child for child in CHILDREN if not args.only or child.name in args.only]
    deadline = time.monotonic() + QUICK_SECONDS if args.quick else None
    children, figures = {}, []
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as work:
        for child in chosen:
            time_left = deadline - time.monotonic() if deadline else float("inf")
            skipped = why_not(child, args, time_left)
            if skipped:
                print(f"skipping {child.name}: {skipped}")
                children[child.name] = {"skipped": skipped}
                continue
            command = [PYTHON, "-m", child.module, *child.args(args)]
            if child.services:
                command = [str(TEST_SERVICES), "run", "--", *command]
            budget = min(child.quick_budget if args.quick else child.budget, time_left)
            clock = time.monotonic()
            try:
                result = run_child(child.name, command, timeout=budget, work=Path(work))
            except (RuntimeError, OSError, ValueError) as exc:
                print(f"{child.name} failed: {exc}", file=sys.stderr)
                result = {"error": str(exc).splitlines()[0]}
            seconds = round(time.monotonic() - clock, 1)
            rows = result.get("figures", []) if isinstance(result, dict) else []
            figures += [{**row, "source": child.name} for row in rows]
            children[child.name] = {"seconds": seconds, "result": result}
    return {"children": children, "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smaller runs, all within {QUICK_SECONDS} s")
    parser.add_argument("--only", type=lambda names: set(names.split(",")),
                        help=f"some benchmarks only, by name: {','.join(child.name for child in CHILDREN)}")
    parser.add_argument("--operations", type=int, help="provisionings per pipeline stack (default 200, quick 50)")
    parser.add_argument("--no-production", action="store_true", help="skip the PostgreSQL + Redis benchmarks")
    parser.add_argument("--outage", action="store_true",
                        help="only the provider-outage benchmark (PostgreSQL + Redis; about 90 s)")
    parser.add_argument("--outage-seconds", type=float, default=30.0, help="how long SnapTrade answers 503")
    args = parser.parse_args(argv)
    if args.outage:
        return outage(args)
    if args.only and (unknown := args.only - {child.name for child in CHILDREN}):
        parser.error(f"no benchmark named {', '.join(sorted(unknown))}")

    started = datetime.now(UTC)
    results = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {"quick": args.quick, "only": sorted(args.only or ()), "no_production": args.no_production},
        **run_all(args),
    }
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    results["machine"]["reference_loop_seconds"].append(reference_loop_seconds())
    table = print_report(results)
    write_results(results, started, table=table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
