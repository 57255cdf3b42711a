"""A connection's limits are reserved before a request is sent, a provider's 429 pauses the whole
connection, no transaction is open while a request is on the wire, and an attempt is given back
only when nothing was sent during it (README, Architecture: "Limits are global")."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from django.db import OperationalError, close_old_connections
from django.db import connection as db_connection
from django.utils import timezone

from provisioning import services
from provisioning.models import Account, Connection, Member, Operation, RequestReservation
from provisioning.providers.exceptions import Deferred
from provisioning.services.execution import DatabaseCallLog
from provisioning.states import AccountStatus, OperationStatus
from tests.providers.flyve_support import FakeGlpi, flyve_connection

BASE = "https://api.snaptrade.com"
STATUS = f"{BASE}/"
USERS = f"{BASE}/snapTrade/listUsers"
REGISTER = f"{BASE}/snapTrade/registerUser"
STAFF = services.Requester("test:staff")


def snaptrade_connection(**limits) -> Connection:
    return Connection.objects.create(
        provider="snaptrade", name="SnapTrade", base_url=BASE,
        credentials={"client_id": "CLIENT-42", "consumer_key": "consumer-key-9f8e7d"}, **limits,
    )


def call_log(connection) -> DatabaseCallLog:
    """The call log of one attempt of an operation of ``connection``, as a worker builds it."""
    return DatabaseCallLog(Operation.objects.create(kind="health_check", connection=connection, requested_by="test"))


def new_account(connection, n: int = 0) -> Account:
    member = Member.objects.create(email=f"member{n}@example.org", first_name="M")
    return Account.objects.create(member=member, connection=connection)


def run(kind, *, account=None, connection=None) -> Operation:
    operation = services.operation_request(kind=kind, account=account, connection=connection, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    return operation


def rate_limited(status=429, **headers):
    return {"status": status, "json": {"detail": "Request was throttled.", "status_code": status, "code": "0000"},
            "headers": headers}


# --- requests per minute ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_request_over_the_limit_is_refused_and_told_when_to_come_back():
    connection = snaptrade_connection(requests_per_minute=3)
    logs = [call_log(connection) for _ in range(3)]
    for log in logs:
        log.before_request()  # reserved, not yet recorded: in flight
    RequestReservation.objects.filter(connection=connection).update(reserved_at=timezone.now() - timedelta(seconds=45))

    with pytest.raises(Deferred) as refused:
        call_log(connection).before_request()

    assert refused.value.code == "local_rate_limit"
    assert 15 - 1 < refused.value.retry_after < 15 + 15  # the oldest leaves the window in 15 s (plus jitter)
    assert RequestReservation.objects.filter(connection=connection).count() == 3  # the refused one took nothing
    RequestReservation.objects.filter(connection=connection).update(reserved_at=timezone.now() - timedelta(seconds=61))
    call_log(connection).before_request()  # the window moved on


@pytest.mark.django_db
def test_a_slot_counts_from_when_its_answer_came(http):
    connection = snaptrade_connection(requests_per_minute=1)
    log = call_log(connection)
    log.before_request()
    taken = RequestReservation.objects.get(connection=connection).reserved_at
    from provisioning.providers.http import RecordedCall

    log.record(RecordedCall(method="GET", url=STATUS, request_headers={}, request_body="", status_code=200))

    assert RequestReservation.objects.get(connection=connection).reserved_at > taken


@pytest.mark.django_db(transaction=True)
def test_workers_reserving_together_never_pass_the_limit():
    connection = snaptrade_connection(requests_per_minute=5)
    logs = [call_log(connection) for _ in range(4)]
    start = threading.Barrier(len(logs))
    passed, refused = [], []

    def reserve(log):
        # the test database is SQLite in memory, shared between threads, which refuses a second
        # writer at once instead of waiting ("database table is locked"): nothing was reserved
        # then, try again (PostgreSQL waits for the row lock: tests/integration)
        while True:
            try:
                return log.before_request()
            except OperationalError as exc:
                if "locked" not in str(exc):
                    raise

    def worker(log):
        start.wait()
        try:
            for _ in range(4):
                try:
                    reserve(log)
                    passed.append(1)
                except Deferred:
                    refused.append(1)
        finally:
            close_old_connections()
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(passed) == 5 and len(refused) == 11
    assert RequestReservation.objects.filter(connection=connection).count() == 5


# --- a provider's 429 pauses the connection ------------------------------------------------------------

@pytest.mark.django_db
def test_a_429_with_retry_after_pauses_the_whole_connection(http):
    connection = snaptrade_connection()
    http.post(REGISTER, **rate_limited(**{"Retry-After": "30"}))

    first = run("provision", account=new_account(connection, 1))

    connection.refresh_from_db()
    assert first.status == OperationStatus.WAITING_RETRY and first.error_code == "rate_limited"
    assert first.attempts == 1  # it was sent: the attempt counts
    assert timezone.now() + timedelta(seconds=25) < connection.paused_until < timezone.now() + timedelta(seconds=31)

    second = run("provision", account=new_account(connection, 2))
    health = run("health_check", connection=connection)

    assert len(http.calls) == 1  # nothing else was sent
    for deferred in (second, health):
        assert deferred.status == OperationStatus.WAITING_RETRY and deferred.error_code == "connection_paused"
        assert deferred.attempts == 0  # nothing was sent: the attempt is given back
        assert deferred.next_attempt_at >= connection.paused_until


@pytest.mark.django_db
def test_a_pause_only_ever_gets_longer():
    connection = snaptrade_connection()
    call_log(connection).pause(60)
    call_log(connection).pause(5)
    connection.refresh_from_db()
    assert connection.paused_until > timezone.now() + timedelta(seconds=55)


@pytest.mark.django_db
def test_a_pause_ends(http):
    connection = snaptrade_connection()
    Connection.objects.filter(pk=connection.pk).update(paused_until=timezone.now() - timedelta(seconds=1))
    http.post(REGISTER, json={"userId": "u", "userSecret": "s3cr3t-0000"})
    assert run("provision", account=new_account(connection)).status == OperationStatus.SUCCEEDED


@pytest.mark.django_db
def test_snaptrades_rate_limit_headers_pause_the_connection_on_a_success_with_none_remaining(http):
    connection = snaptrade_connection()
    http.post(REGISTER, json={"userId": "u", "userSecret": "s3cr3t-0000"},
              headers={"X-RateLimit-Limit": "250", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "40"})

    assert run("provision", account=new_account(connection, 1)).status == OperationStatus.SUCCEEDED

    connection.refresh_from_db()
    assert timezone.now() + timedelta(seconds=35) < connection.paused_until < timezone.now() + timedelta(seconds=41)
    assert run("provision", account=new_account(connection, 2)).error_code == "connection_paused"
    assert len(http.calls) == 1


@pytest.mark.django_db
def test_snaptrades_reset_header_says_how_long_a_429_pauses(http):
    connection = snaptrade_connection()
    http.post(REGISTER, **rate_limited(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "20"}))

    run("provision", account=new_account(connection))

    connection.refresh_from_db()
    assert timezone.now() + timedelta(seconds=15) < connection.paused_until < timezone.now() + timedelta(seconds=21)


@pytest.mark.django_db
def test_remaining_requests_do_not_pause(http):
    connection = snaptrade_connection()
    http.post(REGISTER, json={"userId": "u", "userSecret": "s3cr3t-0000"},
              headers={"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "40"})
    run("provision", account=new_account(connection))
    connection.refresh_from_db()
    assert connection.paused_until is None


@pytest.mark.django_db
def test_an_absurd_retry_after_pauses_at_most_the_configured_maximum(http, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_PAUSE_SECONDS": 120}
    connection = snaptrade_connection()
    http.post(REGISTER, **rate_limited(**{"Retry-After": "99999999"}))
    run("provision", account=new_account(connection))
    connection.refresh_from_db()
    assert connection.paused_until < timezone.now() + timedelta(seconds=121)


# --- no transaction on the wire -----------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_any_provider_request_is_on_the_wire(http, monkeypatch):
    on_the_wire = []
    send = requests.Session.send

    def watched_send(session, request, **kwargs):
        on_the_wire.append((request.method, request.url.split("?")[0], db_connection.in_atomic_block))
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", watched_send)
    # every limit on: requests per minute, a concurrency cap, Flyve's captcha budget, a pause
    snaptrade = snaptrade_connection(requests_per_minute=10, max_concurrency=1)
    http.get(STATUS, json={"version": 151, "timestamp": "t", "online": True})
    http.get(USERS, json=[])
    http.post(REGISTER, json={"userId": "u", "userSecret": "s3cr3t-0000"},
              headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"})
    flyve = flyve_connection()
    Connection.objects.filter(pk=flyve.pk).update(requests_per_minute=10, max_concurrency=2)
    FakeGlpi(http)

    assert run("health_check", connection=snaptrade).status == OperationStatus.SUCCEEDED
    assert run("provision", account=new_account(snaptrade, 1)).status == OperationStatus.SUCCEEDED
    flyve_account = new_account(flyve, 2)
    assert run("provision", account=flyve_account).status == OperationStatus.SUCCEEDED
    assert run("refresh_captcha", account=flyve_account).status == OperationStatus.SUCCEEDED

    assert len(on_the_wire) >= 10
    assert [call for call in on_the_wire if call[2]] == []


# --- an attempt is given back only when nothing was sent -------------------------------------------------

@pytest.mark.django_db
def test_a_deferral_after_a_request_was_sent_uses_the_attempt(http):
    connection = snaptrade_connection(requests_per_minute=1)
    http.get(STATUS, json={"version": 151, "timestamp": "t", "online": True})
    http.get(USERS, json=[])

    operation = run("health_check", connection=connection)

    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "local_rate_limit")
    assert operation.attempts == 1  # GET / went out
    assert len(http.calls) == 1


@pytest.mark.django_db
def test_a_deferral_before_anything_was_sent_gives_the_attempt_back(http):
    connection = snaptrade_connection(requests_per_minute=1)
    call_log(connection).before_request()  # another worker's request of this minute

    operation = run("health_check", connection=connection)

    assert (operation.error_code, operation.attempts) == ("local_rate_limit", 0)
    assert len(http.calls) == 0


@pytest.mark.django_db
def test_a_captcha_budget_other_workers_spent_defers_before_a_session_is_opened(http):
    """The slot is reserved before the session is opened. A look without a reservation let two
    workers both open a session; the second was refused its slot only then, and its deferral
    used up an attempt, for a request (initSession) it need not have sent."""
    connection = flyve_connection()
    glpi = FakeGlpi(http)
    now = timezone.now()
    RequestReservation.objects.bulk_create(
        RequestReservation(connection=connection, purpose="captcha", reserved_at=now - timedelta(seconds=s))
        for s in (10, 20, 30, 40, 50, 60)
    )

    operation = run("provision", account=new_account(connection))

    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "captcha_budget")
    assert operation.attempts == 0
    assert glpi.sessions_opened == 0 and not http.calls
    assert Account.objects.get(pk=operation.account_id).status != AccountStatus.AWAITING_CAPTCHA
