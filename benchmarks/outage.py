"""An outage at the provider: N SnapTrade provisionings are queued while the sandbox answers 503
to everything for a set time, then it recovers. Run it on the production-like stack (under
``scripts/test-services run --``: PostgreSQL, Redis, a prefork worker x2 and beat).

``python -m benchmarks.outage --operations N --outage-seconds S --out FILE`` reports:

- ``requests_during_outage``: requests that reached the sandbox while it was down, in total and
  per route (what the portal's retries cost a provider that is already in trouble);
- ``recovery_seconds``: from the end of the outage until every account is active;
- ``lost``: accounts not active at the end (must be 0) and ``duplicates``: users SnapTrade
  registered more than once or that no account knows (must be 0).

The portal runs with its default backoff and lease; only the attempts limit is lifted
(``OPERATION_MAX_ATTEMPTS=1000``, ``OPERATION_RETRY_HORIZON_HOURS=1``), as an outage is exactly
what retries are for.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from devtools.processes import ChildProcess

from .environment import CELERY, bench_environment, wait_until
from .pipeline import FINISHED, STACKS, Sandbox, start_worker

OUTAGE_ENV = {"OPERATION_MAX_ATTEMPTS": "1000", "OPERATION_RETRY_HORIZON_HOURS": "1"}
REGISTER = "POST /snapTrade/registerUser"


def start_beat(env: dict[str, str], tmp: Path) -> ChildProcess:
    beat = ChildProcess(
        "beat",
        [CELERY, "-A", "portal", "beat", "-l", "info", "-S", "django_celery_beat.schedulers:DatabaseScheduler",
         "--pidfile", str(tmp / "beat.pid")],
        env=env,
        log_dir=tmp,
    )
    wait_until(lambda: "beat: Starting..." in beat.log(), "beat to start", timeout=60, process=beat)
    return beat


def sandbox_state(sandbox: Sandbox) -> dict:
    answer = requests.get(f"{sandbox.url}/_sandbox/state/snaptrade", timeout=10)
    answer.raise_for_status()
    return answer.json()


def measure(*, sandbox: Sandbox, operations: int, outage_seconds: float, timeout: float) -> dict:
    from provisioning import services
    from provisioning.models import Account, Connection, Member, Operation
    from provisioning.providers.snaptrade import SnapTradeProvider
    from provisioning.sandbox.defaults import sandbox_credentials

    fields = SnapTradeProvider.sandbox_connection(sandbox_url=sandbox.url, credentials=sandbox_credentials()["snaptrade"])
    connection = Connection.objects.create(provider="snaptrade", name="outage", **fields)
    members = Member.objects.bulk_create(Member(email=f"outage-{i}@bench.example.org") for i in range(operations))
    requests.post(f"{sandbox.url}/_sandbox/snaptrade/reset", timeout=10).raise_for_status()  # counters at 0
    sandbox.faults(rate_limit_per_minute=1_000_000, error_rate=1.0)

    started = time.monotonic()
    services.batch_create(connection=connection, members=members, requested_by=services.Requester("benchmark"))
    time.sleep(max(0.0, outage_seconds - (time.monotonic() - started)))
    during = sandbox_state(sandbox)["counters"]
    sandbox.faults(error_rate=0.0)
    recovered_at = time.monotonic()

    unfinished = Operation.objects.filter(connection=connection).exclude(status__in=FINISHED)
    try:
        wait_until(lambda: not unfinished.exists(), "every provisioning to finish", timeout=timeout)
    except TimeoutError:
        pass  # counted below as lost
    done_at = time.monotonic()

    after = sandbox_state(sandbox)
    accounts = Account.objects.filter(connection=connection)
    active = set(accounts.filter(status="active").values_list("external_id", flat=True))
    known = set(accounts.values_list("external_id", flat=True))
    users = after["users"]
    registered = int(after["counters"].get(REGISTER, {}).get("200", 0))
    operation_rows = Operation.objects.filter(connection=connection)
    return {
        "operations": operations,
        "outage_seconds": outage_seconds,
        "requests_during_outage": sum(sum(c.values()) for c in during.values()),
        "requests_during_outage_by_route": {route: sum(c.values()) for route, c in during.items()},
        "requests_after_outage": after["requests_total"] - sum(sum(c.values()) for c in during.values()),
        "recovery_seconds": round(done_at - recovered_at, 1),
        "active": len(active),
        "lost": operations - len(active),
        "duplicates": (registered - len(set(users))) + len(set(users) - known),
        "failed": operation_rows.filter(status="failed").count(),
        "unfinished": unfinished.count(),
        "attempts": sum(operation_rows.values_list("attempts", flat=True)),
    }


def run(*, operations: int, outage_seconds: float, timeout: float, tmp: Path) -> dict:
    stack = STACKS["production"]
    env = {**os.environ, **bench_environment(tmp, production=True), **OUTAGE_ENV}
    os.environ.update(env)
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    conf = settings.PROVISIONING
    result = {
        "label": f"{stack['label']}, beat",
        "backoff": {"base_seconds": conf["BACKOFF_BASE_SECONDS"], "max_seconds": conf["BACKOFF_MAX_SECONDS"]},
        "sweep_interval_seconds": settings.CELERY_BEAT_SCHEDULE["sweep-operations"]["schedule"],
    }
    with ExitStack() as processes:
        sandbox = Sandbox(env, tmp)
        processes.callback(sandbox.process.stop)
        worker = start_worker(stack, env, tmp)
        processes.callback(worker.stop, sig=signal.SIGKILL)
        beat = start_beat(env, tmp)
        processes.callback(beat.stop, sig=signal.SIGKILL)
        result.update(measure(sandbox=sandbox, operations=operations, outage_seconds=outage_seconds, timeout=timeout))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outage")
    parser.add_argument("--operations", type=int, default=100)
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for recovery")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every process is stopped
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        result = run(operations=args.operations, outage_seconds=args.outage_seconds, timeout=args.timeout,
                     tmp=Path(tmp))
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
