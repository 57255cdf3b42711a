"""Enqueueing one big batch: ``POST /api/v1/batches/`` and the admin's "Provision at a
connection…" for 10,000 members (1,000 with ``--quick``), on PostgreSQL + Redis.

``scripts/test-services run -- python -m benchmarks.enqueue --out FILE [--quick]`` (run by
``python -m benchmarks``). Each request goes through the whole Django stack in this process
(middleware, authentication, the view, the services) with a fresh connection and fresh members,
and is timed from the request to its response: by then the batch is committed and every
operation is dispatched (its message, or the message of a task that dispatches it, is at the
broker). No worker runs: what is measured is the portal taking the batch in.

Memory is measured apart, in one more request of each kind under ``tracemalloc`` (which slows
Python down, so that request is not timed): the peak of what Python allocated during it, at the
full size and at a tenth of it (flat memory: the peak does not grow with the batch).

Writes ``{"figures": [...], "runs": [...]}`` (target 3 of the performance issue).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from .environment import bench_environment, signed_in_client

GOAL_MEMBERS = 10_000
GOAL_SECONDS = 2.0  # for GOAL_MEMBERS; a smaller batch (--quick) is held to its share
GOAL_PEAK_MB = 20.0  # of Python allocations during one request of the full batch
BATCH_QUEUES = ("celery",)


class Portal:
    """A staff user with an API token, a Django test client for each interface, the broker."""

    def __init__(self):
        from django.contrib.auth import get_user_model
        from django.test import Client
        from rest_framework.authtoken.models import Token

        user = get_user_model().objects.create_superuser("bench", "bench@example.org", uuid.uuid4().hex)
        token = Token.objects.create(user=user).plain_key
        self.api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
        self.admin = signed_in_client(user, HTTP_HOST="127.0.0.1")

    @staticmethod
    def broker_messages() -> int:
        """Messages waiting at the broker (Redis lists of the queues)."""
        from portal.celery import app

        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            return sum(client.llen(queue) for queue in BATCH_QUEUES)


def fresh_batch_target(size: int, label: str):
    """A new SnapTrade connection and ``size`` new members without an account (in one query)."""
    from provisioning.models import Connection, Member
    from provisioning.providers.snaptrade import SnapTradeProvider
    from provisioning.sandbox.defaults import sandbox_credentials

    fields = SnapTradeProvider.sandbox_connection(
        sandbox_url="http://127.0.0.1:9", credentials=sandbox_credentials()["snaptrade"]
    )
    connection = Connection.objects.create(provider="snaptrade", name=label, **fields)
    Member.objects.bulk_create(
        (Member(email=f"{label}-{i}@bench.example.org", first_name="Bench", last_name=str(i)) for i in range(size)),
        batch_size=2000,
    )
    return connection


def post_api(portal: Portal, connection, label: str):
    from provisioning.models import Member

    ids = list(Member.objects.filter(email__startswith=f"{label}-").values_list("pk", flat=True))
    body = json.dumps({"connection": connection.pk, "members": ids})
    del ids
    return lambda: portal.api.post("/api/v1/batches/", body, content_type="application/json", secure=True), 202


def post_admin(portal: Portal, connection, label: str):
    """The send step of the action on every member the changelist's search finds ("select all")."""
    from django.contrib.admin import helpers

    from provisioning.models import Member

    one = Member.objects.filter(email__startswith=f"{label}-").values_list("pk", flat=True).first()
    url = f"/admin/provisioning/member/?q={label}-&account_status=none"
    data = {
        "action": "provision_at_connection",
        "select_across": "1",
        helpers.ACTION_CHECKBOX_NAME: [one],
        "step": "send",
        "connection": connection.pk,
        "previewed": connection.pk,
    }
    return lambda: portal.admin.post(url, data, secure=True), 302


INTERFACES = {"api": post_api, "admin": post_admin}


def measure(portal: Portal, interface: str, size: int, *, traced: bool) -> dict:
    from provisioning.models import Operation

    label = f"enq-{interface}-{uuid.uuid4().hex[:8]}"
    connection = fresh_batch_target(size, label)
    send, expected = INTERFACES[interface](portal, connection, label)
    messages_before = portal.broker_messages()
    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    response = send()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = None
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    operations = Operation.objects.filter(connection=connection)
    run = {
        "interface": interface,
        "members": size,
        "traced": traced,
        "status_code": response.status_code,
        "seconds": seconds,
        "cpu_seconds": cpu,  # of this process (Django); PostgreSQL and Redis work apart
        "peak_mb": None if peak is None else peak / 2**20,
        "operations": operations.count(),
        "queued_and_dispatched": operations.filter(status="queued", dispatched_at__isnull=False).count(),
        "broker_messages": portal.broker_messages() - messages_before,
    }
    if response.status_code != expected or run["operations"] != size:
        raise RuntimeError(f"{interface} request did not enqueue the batch: {run}\n{response.content[:2000]!r}")
    return run


def figures(runs: list[dict], size: int) -> list[dict]:
    goal_seconds = GOAL_SECONDS * size / GOAL_MEMBERS
    goal = f"< {goal_seconds:g} s" + ("" if size == GOAL_MEMBERS else f" ({GOAL_SECONDS:g} s per {GOAL_MEMBERS:,})")
    rows = []
    for interface, title in (("api", "POST /api/v1/batches/"), ("admin", "admin Provision at a connection")):
        timed = [r for r in runs if r["interface"] == interface and not r["traced"]]
        seconds = statistics.median(r["seconds"] for r in timed)
        cpu = statistics.median(r["cpu_seconds"] for r in timed)
        dispatched = min(r["queued_and_dispatched"] for r in runs if r["interface"] == interface and r["members"] == size)
        rows.append({
            "target": 3, "figure": f"enqueue {size:,}: {title}", "goal": goal,
            "measured": round(seconds, 3), "unit": "s", "ratio": round(seconds / goal_seconds, 3),
            "ok": seconds < goal_seconds and dispatched == size,
            "detail": f"median of {len(timed)}; {cpu:.2f} s CPU in Django; {dispatched:,} queued and dispatched",
        })
        traced = sorted((r for r in runs if r["interface"] == interface and r["traced"]), key=lambda r: r["members"])
        small, full = traced[0], traced[-1]
        rows.append({
            "target": 3, "figure": f"enqueue {size:,}: {interface} peak memory", "goal": f"<= {GOAL_PEAK_MB:g} MB",
            "measured": round(full["peak_mb"], 1), "unit": "MB", "ratio": round(full["peak_mb"] / GOAL_PEAK_MB, 3),
            "ok": full["peak_mb"] <= GOAL_PEAK_MB,
            "detail": f"tracemalloc peak; {small['peak_mb']:.1f} MB for {small['members']:,} members",
        })
    return rows


def run(*, size: int, repeats: int) -> dict:
    import django
    from django.core.management import call_command

    django.setup()
    if django.db.connection.vendor != "postgresql":
        raise SystemExit("benchmarks.enqueue runs on PostgreSQL + Redis: scripts/test-services run -- ...")
    call_command("migrate", interactive=False, verbosity=0)
    portal = Portal()
    measure(portal, "api", 50, traced=False)  # warm-up: imports, first queries, broker connection
    measure(portal, "admin", 50, traced=False)
    runs = []
    for _ in range(repeats):
        for interface in INTERFACES:
            runs.append(measure(portal, interface, size, traced=False))
    for interface in INTERFACES:
        for members in (size // 10, size):
            runs.append(measure(portal, interface, members, traced=True))
    return {"figures": figures(runs, size), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.enqueue")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="1,000 members, 2 repeats")
    parser.add_argument("--members", type=int, help="members per batch (default 10,000; quick 1,000)")
    parser.add_argument("--repeats", type=int, help="timed requests per interface (default 3; quick 2)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("benchmarks.enqueue needs PostgreSQL + Redis: scripts/test-services run -- ...", file=sys.stderr)
        return 2
    size = args.members or (1_000 if args.quick else 10_000)
    repeats = args.repeats or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        os.environ.update(bench_environment(Path(tmp), production=True))
        result = run(size=size, repeats=repeats)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    for row in result["figures"]:
        print(f"{row['figure']}: {row['measured']} {row['unit']} (goal {row['goal']}) {row['detail']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
