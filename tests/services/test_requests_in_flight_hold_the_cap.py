"""With Redis, a capped connection's cap counts its requests in flight: a request takes one of the
connection's places right before it is sent and gives it back once its answer is read, at most
the cap at once across threads (and processes: they share the Redis); a place nobody gives back
expires; and the claim runs twice the cap of operations, those beyond it ready to send."""

from __future__ import annotations

import threading
import time

import pytest

from provisioning import explain, services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.providers.exceptions import Deferred
from provisioning.providers.http import ProviderClient, RecordedCall
from provisioning.services import execution, slots
from provisioning.services.execution import DatabaseCallLog
from provisioning.services.in_flight import Paused, in_flight
from provisioning.states import OperationStatus
from tests.services.conftest import BASE

pytestmark = pytest.mark.usefixtures("caps_count_requests")

STAFF = services.Requester("test:staff")


def test_at_most_the_cap_of_places_are_taken_at_once_and_every_taker_gets_one(db):
    store, taken, most, lock = in_flight(), [0], [0], threading.Lock()
    got, start = [], threading.Barrier(12)

    def request():
        start.wait()
        token = store.take(7, 3, wait=30)
        with lock:
            taken[0] += 1
            most[0] = max(most[0], taken[0])
        time.sleep(0.1)
        with lock:
            taken[0] -= 1
        store.give_back(7, token)
        got.append(token)

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most[0] == 3
    assert len(set(got)) == 12 and None not in got
    assert store.taken(7) == 0


def test_a_full_connection_makes_a_request_wait_until_a_place_is_given_back(db):
    store = in_flight()
    first = store.take(8, 1, wait=0)
    assert store.take(8, 1, wait=0) is None
    threading.Timer(0.1, store.give_back, args=(8, first)).start()

    assert store.take(8, 1, wait=10) is not None  # woken by the give-back
    assert store.taken(8) == 1


def test_a_place_given_back_is_taken_for_the_request_waiting_longest(db):
    store = in_flight()
    first = store.take(10, 1, wait=0)
    places, waiting, paused = store._keys(10)
    for token in ("one", "two"):  # two requests that found every place taken, in that order
        assert store._take(keys=[places, paused, waiting], args=[1, 60_000, token, 60_000]) == 0
        time.sleep(0.01)

    store.give_back(10, first)

    assert store.redis.zrange(places, 0, -1) == [b"one"]  # taken for it, not left for a newcomer
    assert store.redis.lrange(store._told(10) + "one", 0, -1) == [b"1"]  # and it is told
    assert store.redis.zrange(waiting, 0, -1) == [b"two"]


def test_a_request_that_stops_waiting_leaves_the_queue(db):
    store = in_flight()
    first = store.take(11, 1, wait=0)
    assert store.take(11, 1, wait=0.05) is None  # it waited, then gave up

    store.give_back(11, first)

    assert store.taken(11) == 0  # given to nobody
    assert store.redis.zcard(store._keys(11)[1]) == 0


def test_a_request_that_died_waiting_is_given_no_place_once_its_wait_is_over(db):
    store = in_flight()
    first = store.take(13, 1, wait=0)
    places, waiting, paused = store._keys(13)
    store._take(keys=[places, paused, waiting], args=[1, 60_000, "dead", 50])  # its worker is killed
    store._take(keys=[places, paused, waiting], args=[1, 60_000, "alive", 60_000])
    time.sleep(0.1)

    store.give_back(13, first)

    assert store.redis.zrange(places, 0, -1) == [b"alive"] and store.redis.zcard(waiting) == 0


def test_a_request_given_a_place_just_as_it_stops_waiting_keeps_it(db):
    store = in_flight()
    first = store.take(12, 1, wait=0)
    places, waiting, paused = store._keys(12)
    store._take(keys=[places, paused, waiting], args=[1, 60_000, "late", 60_000])
    store.give_back(12, first)  # taken for "late", whose wait ends before it hears of it

    assert store._leave(keys=[waiting, places, store._told(12) + "late"], args=["late"]) == 1  # it holds it
    assert not store.redis.exists(store._told(12) + "late")


def test_a_place_nobody_gives_back_expires(db, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "CONNECT_TIMEOUT_SECONDS": 0.25, "READ_TIMEOUT_SECONDS": 0.25}
    store = in_flight()  # a place lasts 2 x (connect + read) = 1 s
    assert store.take(9, 1, wait=0) is not None  # its worker "dies" with it

    assert store.take(9, 1, wait=0) is None
    assert store.take(9, 1, wait=10) is not None  # after 1 s


def test_a_capped_connections_claim_runs_twice_its_cap(connection):
    connection.max_concurrency = 2
    connection.save()
    assert slots.admitted(2) == 4
    operations = [Operation.objects.create(kind="health_check", connection=connection, requested_by="test")
                  for _ in range(6)]

    claimed = execution.operations_claim(operation_ids=[op.pk for op in operations])

    assert len(claimed) == 4
    assert Operation.objects.filter(status=OperationStatus.RUNNING).count() == 4
    assert Operation.objects.filter(status=OperationStatus.QUEUED, next_attempt_at__isnull=False).count() == 2  # wait


def call_log(connection) -> DatabaseCallLog:
    """The call log of an attempt at ``connection``, as a worker builds it (after its claim)."""
    operation = Operation.objects.create(kind="health_check", connection=connection, requested_by="test")
    return DatabaseCallLog(Operation.objects.select_related("connection").get(pk=operation.pk))


def test_a_request_takes_a_place_and_gives_it_back_with_its_answer(connection, monkeypatch):
    Connection.objects.filter(pk=connection.pk).update(max_concurrency=1)
    monkeypatch.setattr(execution, "PLACE_WAIT_SECONDS", 0.05)
    log = call_log(connection)

    log.before_request()
    assert in_flight().taken(connection.pk) == 1
    with pytest.raises(Deferred) as busy:  # another request of the connection, while it is out
        call_log(connection).before_request()
    assert busy.value.code == "connection_busy"
    assert explain.error_sentence(busy.value.code, provider="SnapTrade").startswith(
        "All of SnapTrade's requests at once")  # staff read a sentence with a next step, not a code

    log.record(RecordedCall(method="GET", url=f"{BASE}/ping", request_headers={}, request_body="", status_code=200))
    assert in_flight().taken(connection.pk) == 0
    call_log(connection).before_request()  # its place is free again


def test_a_request_the_rate_limit_refuses_gives_its_place_back(connection):
    Connection.objects.filter(pk=connection.pk).update(max_concurrency=2, requests_per_minute=1)
    call_log(connection).before_request()  # the minute's one request, still out

    with pytest.raises(Deferred) as refused:
        call_log(connection).before_request()

    assert refused.value.code == "local_rate_limit"
    assert in_flight().taken(connection.pk) == 1  # only the first request's


def test_an_operation_at_a_capped_connection_leaves_no_place_taken(connection, http):
    connection.max_concurrency = 1
    connection.save()
    account = Account.objects.create(member=Member.objects.create(email="capped@example.org"), connection=connection)
    http.post(f"{BASE}/users", json={"id": "u1", "user_secret": "s3cret"})
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert in_flight().taken(connection.pk) == 0


def test_a_requests_place_is_free_once_its_answer_is_read_while_it_is_logged_and_recorded(connection, http,
                                                                                            monkeypatch):
    """The provider is done with a request once its answer is read: the next request waiting for
    the place goes out without waiting for this one's log line and record."""
    connection.max_concurrency = 1
    connection.save()
    account = Account.objects.create(member=Member.objects.create(email="early@example.org"), connection=connection)
    http.post(f"{BASE}/users", json={"id": "u1", "user_secret": "s3cret"})
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    taken_when_logged, log = [], ProviderClient._log

    def logged(client, call):
        taken_when_logged.append(in_flight().taken(connection.pk))
        log(client, call)

    monkeypatch.setattr(ProviderClient, "_log", logged)
    services.operation_execute(operation_id=operation.pk)

    assert taken_when_logged == [0]
    assert ExternalCall.objects.get(operation=operation).status_code == 200  # recorded all the same


def test_a_request_that_breaks_in_the_portal_while_out_gives_its_place_back(connection, http):
    """An error the client does not handle (not the provider's: a bug, a library's) leaves the
    request unrecorded; the attempt still gives its place back, or the cap would shrink until it
    expired."""
    connection.max_concurrency = 1
    connection.save()
    account = Account.objects.create(member=Member.objects.create(email="broken@example.org"), connection=connection)
    http.post(f"{BASE}/users", body=RuntimeError("a bug in the portal"))
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)

    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.error_code == "internal_error"
    assert in_flight().taken(connection.pk) == 0


def test_an_unreachable_redis_defers_the_request_without_sending_it(connection, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "CONCURRENCY_REDIS_URL": "redis://127.0.0.1:1/0"}
    Connection.objects.filter(pk=connection.pk).update(max_concurrency=1)
    log = call_log(connection)

    with pytest.raises(Deferred) as refused:
        log.before_request()

    assert refused.value.code == "concurrency_store_unavailable"
    assert explain.error_sentence(refused.value.code).startswith("The portal could not reach Redis")
    assert log.requests_sent == 0


def test_a_pause_in_redis_only_ever_lengthens(db):
    store = in_flight()
    store.pause(9, 5)
    store.pause(9, 1)  # a shorter one (another request's 429) does not cut it short

    with pytest.raises(Paused) as paused:
        store.take(9, 1, wait=0)
    assert 4 < paused.value.seconds <= 5

    store.pause(9, 20)

    with pytest.raises(Paused) as paused:
        store.take(9, 1, wait=0)
    assert 19 < paused.value.seconds <= 20


def test_a_request_waiting_for_a_place_does_not_go_out_in_a_pause_that_began_meanwhile(connection, monkeypatch):
    Connection.objects.filter(pk=connection.pk).update(max_concurrency=1)
    out = call_log(connection)
    out.before_request()  # the connection's one place
    waiting = call_log(connection)  # read (by its claim) before the pause
    refused = []

    def wait_for_a_place():
        try:
            waiting.before_request()
        except Deferred as err:
            refused.append(err)

    thread = threading.Thread(target=wait_for_a_place)
    thread.start()
    out.pause(30)  # the provider answered 429: the client sets the pause, then frees the place
    out.after_request()
    out.record(RecordedCall(method="GET", url=f"{BASE}/ping", request_headers={}, request_body="", status_code=429))
    thread.join(timeout=10)

    assert [err.code for err in refused] == ["connection_paused"]
    assert 29 < refused[0].retry_after < 31
    assert waiting.requests_sent == 0 and in_flight().taken(connection.pk) == 0
