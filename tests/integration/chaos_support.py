"""What the chaos tests share ("When providers fail"): short intervals for the worker processes,
many SnapTrade provisionings at once, and what "nothing lost" means, checked at the sandbox.

The tests assert outcomes, never timings: the settings below only make recovery quick.
``OPERATION_MAX_ATTEMPTS`` is set high (and ``OPERATION_RETRY_HORIZON_HOURS``, its successor,
to an hour) so that they test recovery, not the limit on retries.
"""

from __future__ import annotations

import time

import pytest
from django.db import Error as DatabaseError
from django.db import close_old_connections
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Member, Operation
from tests.integration.support import FINISHED, PATIENCE_SECONDS, wait_for

RECOVERY_ENV = {
    "OPERATION_MAX_ATTEMPTS": "1000",
    "OPERATION_RETRY_HORIZON_HOURS": "1",
    "OPERATION_BACKOFF_BASE_SECONDS": "0.2",
    "OPERATION_BACKOFF_MAX_SECONDS": "2",
}
REGISTER = "POST /snapTrade/registerUser"


def provision_many(snaptrade, count: int, label: str) -> list[int]:
    """``count`` new members provisioned at the SnapTrade sandbox in one batch; their operations' ids."""
    snaptrade.control.faults("snaptrade", rate_limit_per_minute=1_000_000)  # SnapTrade's 250/min is not tested here
    members = Member.objects.bulk_create(Member(email=f"{label}-{i}@chaos.example.org") for i in range(count))
    services.batch_create(connection=snaptrade.connection, members=members,
                          requested_by=services.Requester("test:chaos"))
    return list(Operation.objects.filter(connection=snaptrade.connection, kind="provision").values_list("pk", flat=True))


def finished_count(operation_ids: list[int]) -> int:
    return Operation.objects.filter(pk__in=operation_ids, status__in=FINISHED).count()


def wait_all_finished(operation_ids: list[int], timeout: float = PATIENCE_SECONDS, *, at_least: int | None = None) -> int:
    """Wait until all (or ``at_least``) of the operations are finished; a database that is being
    restarted meanwhile is waited out. Returns how many are finished."""
    target = len(operation_ids) if at_least is None else at_least
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        try:
            done = finished_count(operation_ids)
        except DatabaseError:
            close_old_connections()
            done = -1
        if done >= target:
            return done
        time.sleep(0.2)
    unfinished = Operation.objects.filter(pk__in=operation_ids).exclude(status__in=FINISHED)
    pytest.fail(f"{done} of {target} operations finished after {timeout:.0f} s; unfinished: "
                f"{list(unfinished.values_list('pk', 'status', 'attempts', 'error_code')[:10])}", pytrace=False)


def assert_each_registered_once(snaptrade, operation_ids: list[int], *, extra_registrations: int = 0) -> None:
    """Every provisioning succeeded, its account is active with its secret, and SnapTrade has
    exactly one user per account: no user missing, none extra, none registered twice."""
    operations = Operation.objects.filter(pk__in=operation_ids)
    failed = list(operations.exclude(status="succeeded").values_list("pk", "status", "error_code", "error_message"))
    assert failed == [], f"{len(failed)} not succeeded, e.g. {failed[:5]}"
    accounts = Account.objects.filter(connection=snaptrade.connection)
    assert sorted(set(accounts.values_list("status", flat=True))) == ["active"]
    assert all(a.secrets.get("user_secret") for a in accounts)
    external_ids = sorted(accounts.values_list("external_id", flat=True))
    users = snaptrade.users()
    assert len(users) == len(set(users)) == len(external_ids) == len(operation_ids)
    assert sorted(users) == external_ids
    # a second registration of a user is refused (400): one 200 per user means once each
    assert int(snaptrade.counter(REGISTER).get("200", 0)) == len(external_ids) + extra_registrations


def _claimed_since(operation_ids: list[int], since) -> bool:
    """Whether some of the operations are running, claimed at or after ``since`` (if given)."""
    running = Operation.objects.filter(pk__in=operation_ids, status="running")
    return (running if since is None else running.filter(updated_at__gte=since)).exists()


def crash_workers_during(operation_ids: list[int], worker, start_worker, *, kills: int) -> set[int]:
    """SIGKILL the worker (its pool with it) ``kills`` times while the operations run, each time
    once a further share of them has finished and it is running some, and start a new one. Beat
    (a process apart) keeps sweeping meanwhile. Returns the operations a killed worker held
    (running when it died, read once it is dead): the only ones whose answers can die with it.

    The shares stop at half of the operations, so that work is left at the last kill: a worker's
    processes run a message each at once (4 x 32 operations here) and can finish everything left
    between two looks when less remains. A kill waits for operations the live worker claimed,
    not those a killed one still holds until their lease expires (a kill would then hit a worker
    doing nothing), and looks often: a message runs for a fraction of a second."""
    held = set()
    total = len(operation_ids)
    since = None  # the first worker is the only one to have claimed anything
    for kill in range(1, kills + 1):
        progress = kill * total // (2 * kills + 2)
        wait_for(lambda: finished_count(operation_ids) >= progress and _claimed_since(operation_ids, since),
                 f"{progress} operations finished and the worker running more before crash {kill}", interval=0.02)
        worker.kill()
        worker.popen.wait(10)
        held |= set(Operation.objects.filter(pk__in=operation_ids, status="running").values_list("pk", flat=True))
        since = timezone.now()
        worker = start_worker()
    return held

