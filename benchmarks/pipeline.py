"""End to end: SnapTrade provisionings requested through the services, run by a real Celery
worker process against the real sandbox process.

``python -m benchmarks.pipeline --stack local|production --operations N --out FILE`` builds its
stack in a temporary folder (a fresh, migrated database; the sandbox; one worker) and measures:

- ``idle``: 10 provisionings through ``services.account_create``, each requested once the previous
  one finished: the latency of one operation with nothing ahead of it;
- ``pipeline``: N provisionings in one ``services.batch_create``: the worker has a backlog from the
  start, so ops/s (first start to last finish) is what it gets through.

Timings come from the database afterwards: Operation.created_at -> started_at (queueing: broker,
backlog, claim) -> finished_at (the run: provider call and writes), and ExternalCall.duration_ms
(the HTTP exchange alone).

- ``local`` is the ``make run`` stack: SQLite, the folder broker, a thread-pool worker (x16).
- ``production`` is PostgreSQL and Redis (run it under ``scripts/test-services run --``) with a
  thread-pool worker (x16), as the ``Procfile`` starts it.

``--cap-operations M`` then adds 200 ms of sandbox latency and provisions M accounts twice, at a
connection without a cap and at one with ``max_concurrency = 2``: throughput is bounded by
slots / latency (worker concurrency, then 2), and at most 2 requests are ever in flight.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import requests

from devtools.processes import ChildProcess, free_port

from .environment import CELERY, PYTHON, bench_environment, wait_until

STACKS = {
    # the defaults make run and the Procfile start with (WORKER_POOL, WORKER_CONCURRENCY)
    "local": {"label": "make run: SQLite, folder broker, threads x16", "pool": "threads", "concurrency": 16},
    "production": {"label": "PostgreSQL, Redis, threads x16", "pool": "threads", "concurrency": 16},
}
FINISHED = ("succeeded", "failed", "cancelled")
CAP_LATENCY_MS = 200
CAP = 2
IDLE_OPERATIONS = 10  # requested one at a time: latency without a queue


class Sandbox:
    """The sandbox process and its control API."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = ChildProcess(
            "sandbox",
            [PYTHON, "-m", "provisioning.sandbox", "--port", str(port), "--log-level", "WARNING"],
            env=env,
            log_dir=log_dir,
        )
        wait_until(self._healthy, "the sandbox", timeout=30, process=self.process)
        # the benchmark measures the portal, not SnapTrade's 250 requests a minute
        self.faults(rate_limit_per_minute=1_000_000)

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/_sandbox/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    def faults(self, **changes) -> None:
        requests.post(f"{self.url}/_sandbox/snaptrade/faults", json=changes, timeout=5).raise_for_status()


def start_worker(stack: dict, env: dict[str, str], log_dir: Path) -> ChildProcess:
    nodename = f"bench-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    worker = ChildProcess(
        "worker",
        [CELERY, "-A", "portal", "worker", "-l", "info", "-n", nodename, "--pool", stack["pool"],
         "--concurrency", str(stack["concurrency"]), "--without-mingle", "--without-gossip"],
        env=env,
        log_dir=log_dir,
    )
    ready = re.compile(rf"{re.escape(nodename)} ready\.")
    wait_until(lambda: ready.search(worker.log()), "the worker to be ready", timeout=60, process=worker)
    return worker


# --- one measured run ---------------------------------------------------------------------------

def provision(*, sandbox: Sandbox, label: str, operations: int, timeout: float, max_concurrency=None,
              one_at_a_time: bool = False) -> dict:
    """Provision ``operations`` new members at a new connection and return the numbers.

    At once: one ``services.batch_create`` (one transaction; the tasks are sent when it commits),
    so the worker has a backlog from the start. ``one_at_a_time``: ``services.account_create``,
    each after the previous operation finished, so nothing waits behind anything.
    """
    from provisioning import services
    from provisioning.models import Connection, Member, Operation
    from provisioning.providers.snaptrade import SnapTradeProvider
    from provisioning.sandbox.defaults import sandbox_credentials

    fields = SnapTradeProvider.sandbox_connection(
        sandbox_url=sandbox.url, credentials=sandbox_credentials()["snaptrade"]
    )
    connection = Connection.objects.create(
        provider="snaptrade", name=label, max_concurrency=max_concurrency, **fields
    )
    members = Member.objects.bulk_create(
        Member(email=f"{label}-{i}@bench.example.org") for i in range(operations)
    )
    requester = services.Requester("benchmark")
    operations_of_connection = Operation.objects.filter(connection=connection)

    def wait_for_all() -> None:
        try:
            wait_until(lambda: not operations_of_connection.exclude(status__in=FINISHED).exists(),
                       "the operations to finish", timeout=timeout)
        except TimeoutError:
            pass  # counted as unfinished

    started = time.perf_counter()
    if one_at_a_time:
        for member in members:
            services.account_create(member=member, connection=connection, requested_by=requester)
            wait_for_all()
    else:
        services.batch_create(connection=connection, members=members, requested_by=requester)
    request_seconds = time.perf_counter() - started
    wait_for_all()
    ids = list(operations_of_connection.values_list("pk", flat=True))
    numbers = {"operations": operations, **operation_numbers(ids)}
    if not one_at_a_time:
        numbers["batch_request_seconds"] = request_seconds
    return numbers


def operation_numbers(ids: list[int]) -> dict:
    from django.db.models import Avg, Count, Sum

    from provisioning.models import ExternalCall, Operation

    rows = list(Operation.objects.filter(pk__in=ids).values_list(
        "status", "attempts", "created_at", "started_at", "finished_at"
    ))
    done = [row for row in rows if row[0] in FINISHED and row[3] and row[4]]
    calls = ExternalCall.objects.filter(operation_id__in=ids)
    # recorded once answered: [created_at - duration, created_at] is when the request was out
    in_flight = [(end - timedelta(milliseconds=ms), end) for end, ms in calls.values_list("created_at", "duration_ms")]
    calls = calls.aggregate(count=Count("id"), mean_ms=Avg("duration_ms"), total_ms=Sum("duration_ms"))
    numbers = {
        "succeeded": sum(row[0] == "succeeded" for row in rows),
        "failed": sum(row[0] in ("failed", "cancelled") for row in rows),
        "unfinished": len(rows) - len(done),
        "attempts": sum(row[1] for row in rows),
        "http_calls": calls["count"],
        "http_mean_ms": calls["mean_ms"],
        "max_http_in_flight": max_overlap(in_flight),
    }
    if not done:
        return numbers
    ms = lambda start, end: (end - start).total_seconds() * 1000  # noqa: E731
    total = [ms(created, finished) for _, _, created, _, finished in done]
    queue = [ms(created, started) for _, _, created, started, _ in done]
    run = [ms(started, finished) for _, _, _, started, finished in done]
    first_created, first_started = min(row[2] for row in rows), min(row[3] for row in done)
    last_finished = max(row[4] for row in done)
    return {
        **numbers,
        "wall_seconds": (last_finished - first_created).total_seconds(),
        # from the first start to the last finish: what the worker gets through with a backlog
        "ops_per_second": len(done) / (last_finished - first_started).total_seconds(),
        "latency_ms": percentiles(total),
        "queue_ms": percentiles(queue),
        "run_ms": percentiles(run),
        # the run minus its HTTP exchanges: claim, account load, outcome writes, Python
        "run_minus_http_mean_ms": (sum(run) - (calls["total_ms"] or 0)) / len(done),
    }


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def rank(p: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p95": rank(0.95), "max": ordered[-1], "mean": sum(ordered) / len(ordered)}


def max_overlap(intervals) -> int:
    """Most intervals open at one instant (an end before a start at the same instant)."""
    if not intervals:
        return 0
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda event: (event[0], event[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


# --- the whole stack ----------------------------------------------------------------------------

def run(*, stack_name: str, operations: int, cap_operations: int, timeout: float, tmp: Path) -> dict:
    stack = STACKS[stack_name]
    env = {**os.environ, **bench_environment(tmp, production=stack_name == "production")}
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    from provisioning.services.slots import CONCURRENCY_WAIT_SECONDS

    call_command("migrate", interactive=False, verbosity=0)
    result = {"stack": stack_name, "label": stack["label"], "pool": stack["pool"],
              "concurrency": stack["concurrency"]}
    with ExitStack() as processes:
        sandbox = Sandbox(env, tmp)
        processes.callback(sandbox.process.stop)
        worker = start_worker(stack, env, tmp)
        # at the end nothing is left to finish, and a warm or cold shutdown costs seconds
        processes.callback(worker.stop, sig=signal.SIGKILL)
        result["idle"] = provision(sandbox=sandbox, label=f"{stack_name}-idle", operations=IDLE_OPERATIONS,
                                   timeout=timeout, one_at_a_time=True)
        result["pipeline"] = provision(sandbox=sandbox, label=f"{stack_name}-burst", operations=operations,
                                       timeout=timeout)
        if cap_operations:
            sandbox.faults(latency_ms=CAP_LATENCY_MS)
            result["concurrency_cap"] = {
                "latency_ms": CAP_LATENCY_MS,
                "refused_wait_seconds": CONCURRENCY_WAIT_SECONDS,
                "runs": [
                    {"max_concurrency": cap,
                     "bound_ops_per_second": (cap or stack["concurrency"]) / (CAP_LATENCY_MS / 1000),
                     **provision(sandbox=sandbox, label=f"{stack_name}-cap-{cap or 'none'}",
                                 operations=cap_operations, timeout=timeout, max_concurrency=cap)}
                    for cap in (None, CAP)
                ],
            }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    parser.add_argument("--stack", choices=sorted(STACKS), required=True)
    parser.add_argument("--operations", type=int, default=200)
    parser.add_argument("--cap-operations", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for each run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every process is stopped
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        result = run(stack_name=args.stack, operations=args.operations, cap_operations=args.cap_operations,
                     timeout=args.timeout, tmp=Path(tmp))
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
