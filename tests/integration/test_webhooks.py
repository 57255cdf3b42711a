"""Webhooks end to end, with real processes: PostgreSQL, Redis, Celery workers (and beat), the
sandbox process, and the portal itself listening (pytest-django's ``live_server``).

In: SnapTrade's ``USER_DELETED`` (sent by the sandbox process to the portal's receiver) finishes
a two-phase deprovision; forged and stale webhooks are refused and a replayed one is not applied
again; without webhooks the scheduled check finishes it. Out: a receiver on loopback (a real HTTP server in a thread) gets
every event, signed (Standard Webhooks), through an outage, and after a worker SIGKILLed while
sending (the sweeper of the outbox sends it again).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import requests
from standardwebhooks import Webhook

from provisioning.models import Account, InboundWebhook, WebhookDelivery, WebhookEvent
from provisioning.providers.snaptrade import webhook_signature
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret-for-tests"

# the worker processes of the outbound tests: loopback receivers allowed, quick retries and sweeps
OUTBOUND_ENV = {
    "WEBHOOKS_ALLOW_HTTP_LOOPBACK": "true",
    "WEBHOOK_SWEEP_INTERVAL_SECONDS": "1",
    "WEBHOOK_RETRY_SCHEDULE_SECONDS": "0.5,1,1,1,1,1,1,2,2,2,2,2,2,2,2,2",
    "WEBHOOK_LEASE_SECONDS": "5",
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
    "WEBHOOK_READ_TIMEOUT_SECONDS": "3",
    "OPERATION_REDISPATCH_AFTER_SECONDS": "2",
}


# --- in: SnapTrade's webhooks, sent by the sandbox process -----------------------------------------

def snaptrade_post(live_server, connection, payload: dict, *, signature: str | None = None) -> requests.Response:
    """POST a SnapTrade webhook to the portal's receiver, signed with the connection's key unless
    ``signature`` is given."""
    if signature is None:
        signature = webhook_signature(consumer_key=connection.credentials["consumer_key"], payload=payload)
    return requests.post(f"{live_server.url}/webhooks/providers/{connection.pk}/", data=json.dumps(payload),
                         headers={"Content-Type": "application/json", "Signature": signature}, timeout=10)


def snaptrade_event(connection, user_id: str, kind: str = "USER_DELETED", *, age: float = 0.0) -> dict:
    sent = datetime.now(dt_timezone.utc) - timedelta(seconds=age)
    return {
        "webhookId": str(uuid.uuid4()),
        "clientId": connection.credentials["client_id"],
        "eventTimestamp": sent.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userId": user_id,
        "eventType": kind,
        "webhookSecret": SANDBOX_WEBHOOK_SECRET,
    }


def as_sent(inbound: InboundWebhook) -> dict:
    """The payload of a recorded webhook as the sandbox sent it (its webhookSecret is masked in the record)."""
    payload = json.loads(inbound.request_body)
    assert payload["webhookSecret"] == "***"
    return {**payload, "webhookSecret": SANDBOX_WEBHOOK_SECRET}


def deprovision(api, account_id: int) -> dict:
    operation = api.call("DELETE", f"accounts/{account_id}/")
    assert api.operation(operation["id"])["status"] == "succeeded"
    return api.call("GET", f"accounts/{account_id}/")


def test_user_deleted_from_the_sandbox_finishes_the_deprovision_and_forged_stale_replayed_change_nothing(
    api, snaptrade, celery_worker_process, live_server
):
    connection = snaptrade.connection
    receiver_url = f"{live_server.url}/webhooks/providers/{connection.pk}/"
    # SnapTrade deletes an hour after deleteUser here: the test moves the sandbox's clock
    snaptrade.control.settings("snaptrade", webhook_url=receiver_url, webhook_secret=SANDBOX_WEBHOOK_SECRET,
                               delete_delay_seconds=3600)
    celery_worker_process()  # no beat: only the webhook can finish the deletion

    account, operation = api.provision("jane@example.org", connection)
    assert api.operation(operation["id"])["status"] == "succeeded"
    user_id = api.call("GET", f"accounts/{account['id']}/")["external_id"]
    registered = wait_for(
        lambda: InboundWebhook.objects.filter(connection=connection, event_type="USER_REGISTERED").first(),
        "the sandbox's USER_REGISTERED",
    )
    assert registered.accepted and registered.status_code == 200

    account = deprovision(api, account["id"])
    assert account["status"] == "deprovisioning" and account["details"]["remote_deletion"] == "queued"
    assert snaptrade.control.state("snaptrade")["pending_deletion"] == [user_id]

    def unchanged() -> None:
        row = Account.objects.get(pk=account["id"])
        assert row.status == "deprovisioning" and row.details["remote_deletion"] == "queued"

    # forged: signed with another key, and a signature that is not one
    forged = snaptrade_event(connection, user_id)
    forged_signature = webhook_signature(consumer_key="not-the-consumer-key", payload=forged)
    assert snaptrade_post(live_server, connection, forged, signature=forged_signature).status_code == 401
    assert snaptrade_post(live_server, connection, snaptrade_event(connection, user_id),
                          signature="bm90IGEgc2lnbmF0dXJl").status_code == 401
    # stale: signed with the right key, sent longer ago than 300 s
    stale = snaptrade_event(connection, user_id, age=400)
    answer = snaptrade_post(live_server, connection, stale)
    assert answer.status_code == 401 and "ago" in answer.json()["detail"]
    # replayed: the sandbox's USER_REGISTERED, byte for byte what it signed
    answer = snaptrade_post(live_server, connection, as_sent(registered))
    assert answer.status_code == 200, answer.content  # a duplicate: acknowledged so that it stops
    assert answer.json()["events"][0]["duplicate"] is True
    unchanged()
    assert not InboundWebhook.objects.filter(connection=connection, accepted=True).exclude(pk=registered.pk).exists()

    # SnapTrade finishes the deletion: the sandbox sends USER_DELETED, the account is deprovisioned
    snaptrade.control.clock(advance_seconds=3601)
    assert snaptrade.control.state("snaptrade")["users"] == []  # purged now: USER_DELETED is on its way

    def deprovisioned():
        row = Account.objects.get(pk=account["id"])
        return row if row.status == "deprovisioned" else None

    row = wait_for(deprovisioned, "the account deprovisioned by the sandbox's USER_DELETED")
    deleted = InboundWebhook.objects.get(connection=connection, event_type="USER_DELETED", accepted=True)
    assert row.details["remote_deletion"] == "deleted"
    assert row.details["remote_deletion_confirmed_by"] == f"USER_DELETED webhook {deleted.webhook_id}"
    sent = {w["webhookId"]: w for w in snaptrade.control.state("snaptrade")["webhooks_sent"]}
    assert sent[deleted.webhook_id]["status"] == 200 and sent[deleted.webhook_id]["userId"] == user_id

    # that USER_DELETED replayed: acknowledged, not applied again, nothing changes
    answer = snaptrade_post(live_server, connection, as_sent(deleted))
    assert answer.status_code == 200 and answer.json()["events"][0]["duplicate"] is True
    assert Account.objects.get(pk=account["id"]).details == row.details
    assert InboundWebhook.objects.filter(connection=connection, accepted=True).count() == 2


def test_without_webhooks_the_scheduled_check_finishes_the_deprovision(api, snaptrade, celery_worker_process):
    snaptrade.control.settings("snaptrade", webhook_url="", delete_delay_seconds=2)
    celery_worker_process(beat=True, env={"PENDING_DELETION_CHECK_INTERVAL_SECONDS": "1"})

    account, operation = api.provision("joe@example.org", snaptrade.connection)
    assert api.operation(operation["id"])["status"] == "succeeded"
    account = deprovision(api, account["id"])
    assert account["status"] == "deprovisioning" and account["details"]["remote_deletion"] == "queued"

    def deprovisioned():
        row = Account.objects.get(pk=account["id"])
        return row if row.status == "deprovisioned" else None

    row = wait_for(deprovisioned, "the scheduled check to finish the deprovision", timeout=30)
    assert row.details["remote_deletion"] == "deleted"
    assert row.details["remote_deletion_confirmed_by"].startswith("reconcile #")
    assert snaptrade.listed_by_snaptrade() == []
    assert snaptrade.control.state("snaptrade")["webhooks_sent"] == []
    assert not InboundWebhook.objects.exists()


# --- out: the portal's webhooks to a receiver on loopback -------------------------------------------

class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread. ``mode``: ``"ok"`` (204), ``"unavailable"``
    (503) or ``"hang"`` (no answer until ``release()``, and not counted as answered: its sender may
    be dead); ``stop_listening()`` / ``listen()``: connections refused, then accepted again on the
    same port. Every request is kept (headers, body, what it was answered)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.mode = "ok"
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.server = None
        self.port = 0
        self.listen()
        self.url = f"http://127.0.0.1:{self.port}/hooks/portal"

    def _handler(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = {"headers": dict(self.headers), "body": body.decode(), "answer": None, "at": time.monotonic()}
                with receiver.lock:
                    receiver.requests.append(record)
                held = receiver.mode == "hang"
                if held:
                    receiver.released.wait(60)
                status = 503 if receiver.mode == "unavailable" else 204
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass
                # a held request's sender may be gone (a killed worker): it never saw this answer
                record["answer"] = "held" if held else status

            def log_message(self, *args):
                pass

        return Handler

    def listen(self) -> None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop_listening(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self.released.set()

    def answered(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if isinstance(r["answer"], int) and 200 <= r["answer"] < 300]

    def all(self) -> list[dict]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.release()
    server.stop_listening()


@pytest.fixture
def endpoint(api, receiver, settings):
    """An endpoint for every event type, pointing at ``receiver`` (created through the API)."""
    settings.PROVISIONING = {**settings.PROVISIONING, "WEBHOOKS_ALLOW_HTTP_LOOPBACK": True}
    from provisioning.models import WebhookEventType

    created = api.call("POST", "webhooks/", {"url": receiver.url, "events": list(WebhookEventType.values)})
    assert created["secret"].startswith("whsec_")
    return created


def all_delivered() -> bool:
    deliveries = WebhookDelivery.objects.all()
    return deliveries.exists() and not deliveries.exclude(status="delivered").exists()


def assert_every_event_received_once(receiver: Receiver, secret: str) -> dict[str, dict]:
    """Every event the portal wrote reached the receiver, answered 2xx, signed; a redelivery has the
    same webhook-id and body; no event arrived twice under different ids. Returns them by id."""
    verifier = Webhook(secret)
    received: dict[str, dict] = {}
    for request in receiver.all():
        data = verifier.verify(request["body"], request["headers"])  # raises when not signed right
        event_id = request["headers"]["webhook-id"]
        if event_id in received:
            assert received[event_id]["body"] == request["body"], f"{event_id} redelivered with another body"
        received[event_id] = {"body": request["body"], "data": data}
    events = {e.id: e for e in WebhookEvent.objects.all()}
    answered = {r["headers"]["webhook-id"] for r in receiver.answered()}
    assert answered == set(events) == set(received), (sorted(answered), sorted(events), sorted(received))
    contents = [json.dumps([r["data"]["type"], r["data"]["data"]], sort_keys=True) for r in received.values()]
    assert len(contents) == len(set(contents)), "the same event arrived under two webhook-ids"
    for event_id, event in events.items():
        assert received[event_id]["data"]["type"] == event.type
    return received


def by_type(received: dict[str, dict], event_type: str) -> list[dict]:
    return [r["data"]["data"] for r in received.values() if r["data"]["type"] == event_type]


def test_a_provisioning_s_events_reach_the_receiver_signed(api, snaptrade, receiver, endpoint,
                                                           celery_worker_process):
    celery_worker_process(env=OUTBOUND_ENV)

    account, operation = api.provision("ada@example.org", snaptrade.connection)
    assert api.operation(operation["id"])["status"] == "succeeded"
    wait_for(all_delivered, "every delivery delivered", timeout=30)

    received = assert_every_event_received_once(receiver, endpoint["secret"])
    finished = by_type(received, "operation.finished")
    active = by_type(received, "account.active")
    assert [o["id"] for o in finished] == [operation["id"]] and finished[0]["status"] == "succeeded"
    assert [a["id"] for a in active] == [account["id"]] and active[0]["status"] == "active"
    assert len(receiver.all()) == len(received)  # nothing sent twice when the receiver answers
    for request in receiver.all():
        headers = request["headers"]
        assert headers["webhook-id"].startswith("evt_") and headers["Content-Type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


def test_every_event_arrives_after_the_receiver_was_down(api, snaptrade, receiver, endpoint, celery_worker_process):
    receiver.mode = "unavailable"
    celery_worker_process(env=OUTBOUND_ENV)

    operations = []
    for name in ("ann", "bob", "cid"):
        account, operation = api.provision(f"{name}@example.org", snaptrade.connection)
        operations.append(operation["id"])
    for operation_id in operations:
        assert api.operation(operation_id)["status"] == "succeeded"

    def each_refused_twice() -> bool:
        refused = [r["headers"]["webhook-id"] for r in receiver.all() if r["answer"] == 503]
        events = list(WebhookEvent.objects.values_list("id", flat=True))
        return len(events) >= 6 and all(refused.count(e) >= 2 for e in events)

    wait_for(each_refused_twice, "every event refused twice (503)", timeout=30)
    # then not even listening for a while: connections refused
    receiver.stop_listening()
    down_since = time.monotonic()
    wait_for(lambda: WebhookDelivery.objects.filter(last_error__icontains="refused",
                                                    last_attempt_at__isnull=False).exists(),
             "an attempt refused at the TCP level", timeout=20)
    assert not WebhookDelivery.objects.filter(status="delivered").exists()
    receiver.mode = "ok"
    receiver.listen()

    wait_for(all_delivered, "every delivery delivered once the receiver is back", timeout=30)
    received = assert_every_event_received_once(receiver, endpoint["secret"])
    assert {o["id"] for o in by_type(received, "operation.finished")} == set(operations)
    assert len(by_type(received, "account.active")) == 3
    assert all(r["at"] > down_since for r in receiver.answered())
    assert WebhookDelivery.objects.filter(status="delivered", attempts__gte=3).count() == len(received)


def test_a_delivery_lost_with_a_killed_worker_is_sent_by_the_sweeper(api, snaptrade, receiver, endpoint,
                                                                     celery_worker_process, purge_broker):
    receiver.mode = "hang"  # the worker is sending when it dies
    worker = celery_worker_process(env=OUTBOUND_ENV)

    account, operation = api.provision("eve@example.org", snaptrade.connection)
    assert api.operation(operation["id"])["status"] == "succeeded"
    wait_for(lambda: receiver.all(), "a delivery under way (the receiver holds it)")
    worker.kill()  # SIGKILL, pool included
    purge_broker()  # whatever messages it had reserved are lost too: only the outbox is left

    assert WebhookEvent.objects.count() >= 2
    assert not WebhookDelivery.objects.filter(status="delivered").exists()
    in_flight = WebhookDelivery.objects.get(event_id=receiver.all()[0]["headers"]["webhook-id"])
    assert in_flight.attempts == 1 and in_flight.last_attempt_at is None  # the attempt never finished
    receiver.mode = "ok"
    receiver.release()

    # the in-flight event must come again (same webhook-id): the held request was never answered
    replacement = celery_worker_process(beat=True, env=OUTBOUND_ENV)
    wait_for(all_delivered, "every delivery sent by the new worker's sweeper", timeout=40)
    assert "webhook sweeper dispatched" in replacement.log()
    received = assert_every_event_received_once(receiver, endpoint["secret"])
    assert [a["id"] for a in by_type(received, "account.active")] == [account["id"]]
    assert [o["id"] for o in by_type(received, "operation.finished")] == [operation["id"]]
