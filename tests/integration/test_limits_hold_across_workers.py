"""A connection's limits hold with four worker processes: its requests per minute are reserved before
each request, so the provider never answers 429; and without that limit, a provider's 429 pauses
the whole connection, so no more than the in-flight requests (the concurrency cap) are refused in
a row. Outcomes are asserted, never timings.

The window of "per minute" is shortened for the test, at both ends: the portal's
(``CONNECTION_RATE_LIMIT_WINDOW_SECONDS``, in the workers) and the sandbox's
(``rate_limit_window_seconds``), so the limit is crossed several times in a few seconds.
"""

import itertools
from datetime import timedelta

import pytest

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.integration.support import STAFF, wait_until_finished

pytestmark = pytest.mark.integration

LIMIT = 5
WINDOW_SECONDS = 2


def four_workers(celery_worker_process) -> None:
    """Four prefork processes in two workers (two machines, as far as the limits can tell)."""
    env = {"CONNECTION_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW_SECONDS)}
    celery_worker_process(concurrency=2, env=env)
    celery_worker_process(concurrency=2, env=env)


def provision_many(connection, count: int) -> list[Operation]:
    operations = []
    for n in range(count):
        member = Member.objects.create(email=f"limits-{n}@example.org")
        operations.append(services.account_create(member=member, connection=connection, requested_by=STAFF)[1])
    return operations


def most_requests_at_once(connection) -> int:
    """The most recorded exchanges of the connection on the wire at the same moment (a sweep over
    their spans: a recorded call ends when it is recorded and lasted ``duration_ms``)."""
    events = []
    for call in ExternalCall.objects.filter(connection=connection):
        events += [(call.created_at - timedelta(milliseconds=call.duration_ms), 1), (call.created_at, -1)]
    at_once = most = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):  # an end before a start
        at_once += change
        most = max(most, at_once)
    return most


def refusals(state: dict) -> int:
    return sum(counts.get("429", 0) for counts in state["counters"].values())


def test_the_portals_limit_keeps_the_provider_from_ever_answering_429(snaptrade, celery_worker_process):
    connection = snaptrade.connection
    Connection.objects.filter(pk=connection.pk).update(requests_per_minute=LIMIT)
    snaptrade.control.faults("snaptrade", rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW_SECONDS)
    four_workers(celery_worker_process)

    operations = [wait_until_finished(op) for op in provision_many(connection, 4 * LIMIT)]

    assert [op.status for op in operations] == [OperationStatus.SUCCEEDED] * len(operations)
    assert Account.objects.filter(connection=connection, status=AccountStatus.ACTIVE).count() == 4 * LIMIT
    state = snaptrade.control.state("snaptrade")
    assert refusals(state) == 0, state["counters"]
    assert state["counters"]["POST /snapTrade/registerUser"] == {"200": 4 * LIMIT}
    # the limit was what held them back: several had to wait for a slot, none lost an attempt
    assert all(op.attempts == 1 for op in operations)


def test_a_429_pauses_the_connection_so_no_more_than_the_cap_are_refused_in_a_row(
    snaptrade, celery_worker_process, settings
):
    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_ATTEMPTS": 20}  # 429s use attempts: never fail here
    connection = snaptrade.connection
    cap = 2
    Connection.objects.filter(pk=connection.pk).update(requests_per_minute=None, max_concurrency=cap)
    # slow answers, so that the capped requests overlap and some are sent before the last slot's answer
    snaptrade.control.faults("snaptrade", rate_limit_per_minute=3, rate_limit_window_seconds=WINDOW_SECONDS,
                             latency_ms=200)
    four_workers(celery_worker_process)

    operations = [wait_until_finished(op) for op in provision_many(connection, 12)]

    assert [op.status for op in operations] == [OperationStatus.SUCCEEDED] * len(operations)
    statuses = list(ExternalCall.objects.filter(connection=connection).order_by("created_at", "id")
                    .values_list("status_code", flat=True))
    refused_in_a_row = max((len(list(run)) for status, run in itertools.groupby(statuses) if status == 429),
                           default=0)
    assert refused_in_a_row <= cap, statuses
    assert most_requests_at_once(connection) <= cap  # the cap holds across the four processes too
    state = snaptrade.control.state("snaptrade")
    assert refusals(state) == statuses.count(429)  # the portal saw every refusal the sandbox made
    connection.refresh_from_db()
    assert connection.paused_until is not None  # the provider's answers paused it


def test_the_limits_hold_for_messages_of_several_operations(snaptrade, celery_worker_process):
    """Messages of eight operations (a big batch's), in two worker processes of threads: each
    claims what the cap leaves free and sends its calls at the same time from the call threads,
    which take their rate-limit slots on connections of their own. No more than the cap are ever
    out at once, the provider never refuses, and every operation ends."""
    from unittest import mock

    from provisioning import tasks
    from provisioning.services import operations as operation_services

    connection = snaptrade.connection
    Connection.objects.filter(pk=connection.pk).update(requests_per_minute=LIMIT * 2, max_concurrency=3)
    snaptrade.control.faults("snaptrade", rate_limit_per_minute=LIMIT * 2, rate_limit_window_seconds=WINDOW_SECONDS,
                             latency_ms=100)
    env = {"CONNECTION_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW_SECONDS)}
    for _ in range(2):
        celery_worker_process(concurrency=4, pool="threads", env=env)
    members = Member.objects.bulk_create(Member(email=f"grouped-{n}@example.org") for n in range(24))
    with mock.patch.object(operation_services, "operations_dispatch_on_commit"):  # sent below, as groups
        batch = services.batch_create(connection=connection, members=members, requested_by=STAFF)
    ids = list(batch.operations.order_by("pk").values_list("pk", flat=True))

    for start in range(0, len(ids), 8):
        tasks.operations_execute.delay(ids[start:start + 8])

    operations = [wait_until_finished(pk) for pk in ids]
    assert [op.status for op in operations] == [OperationStatus.SUCCEEDED] * len(ids)
    assert most_requests_at_once(connection) <= 3
    state = snaptrade.control.state("snaptrade")
    assert refusals(state) == 0, state["counters"]
