"""SnapTrade's webhooks in: signature, age, replays, and the two-phase deletion they finish."""

import json
import time
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.test import Client

from provisioning import services
from provisioning.models import Account, Connection, InboundWebhook, Member, Operation
from provisioning.providers.snaptrade import webhook_signature
from provisioning.states import AccountStatus, OperationKind, OperationStatus

BASE = "https://api.snaptrade.com"
USERS = f"{BASE}/snapTrade/listUsers"
DELETE = f"{BASE}/snapTrade/deleteUser"
CONSUMER_KEY = "consumer-key-9f8e7d"
STAFF = services.Requester("test:staff")


@pytest.fixture
def connection(db):
    return Connection.objects.create(
        provider="snaptrade", name="SnapTrade", base_url=BASE,
        credentials={"client_id": "CLIENT-42", "consumer_key": CONSUMER_KEY},
    )


@pytest.fixture
def deprovisioning(connection):
    member = Member.objects.create(email="jane@example.org")
    account = Account.objects.create(member=member, connection=connection, status=AccountStatus.ACTIVE,
                                     external_id="portal-test-u1", secrets={"user_secret": "s"})
    account.status = AccountStatus.DEPROVISIONING
    account.details = {"remote_deletion": "queued"}
    account.save()
    return account


def event(user_id="portal-test-u1", kind="USER_DELETED", *, age=0.0, webhook_id=None):
    return {
        "webhookId": webhook_id or str(uuid.uuid4()),
        "clientId": "CLIENT-42",
        "eventTimestamp": (datetime.now(dt_timezone.utc) - timedelta(seconds=age)).isoformat().replace("+00:00", "Z"),
        "userId": user_id,
        "eventType": kind,
        "webhookSecret": "snaptrade-webhook-secret",
    }


def post(connection, payload, *, key=CONSUMER_KEY, signature=None):
    body = json.dumps(payload)
    sig = signature if signature is not None else webhook_signature(consumer_key=key, payload=payload)
    return Client().post(f"/webhooks/providers/{connection.pk}/", body, content_type="application/json",
                         headers={"Signature": sig})


def test_a_signed_user_deleted_finishes_a_deprovisioning_account(connection, deprovisioning):
    answer = post(connection, event())

    assert answer.status_code == 200, answer.content
    deprovisioning.refresh_from_db()
    assert deprovisioning.status == AccountStatus.DEPROVISIONED
    assert deprovisioning.details["remote_deletion"] == "deleted"
    record = InboundWebhook.objects.get()
    assert record.accepted and record.event_type == "USER_DELETED"
    assert "snaptrade-webhook-secret" not in record.request_body and "***" in record.request_body
    assert record.request_headers.get("Signature") == "***"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: {"key": "another-key"}, id="forged (another key)"),
        pytest.param(lambda p: {"signature": ""}, id="unsigned"),
        pytest.param(lambda p: {"signature": "bm90IGEgc2lnbmF0dXJl"}, id="garbage signature"),
    ],
)
def test_a_forged_webhook_is_refused_and_changes_nothing(connection, deprovisioning, change):
    payload = event()
    answer = post(connection, payload, **change(payload))

    assert answer.status_code == 401
    deprovisioning.refresh_from_db()
    assert deprovisioning.status == AccountStatus.DEPROVISIONING
    assert not InboundWebhook.objects.filter(accepted=True).exists()
    assert InboundWebhook.objects.get().status_code == 401


def test_a_tampered_body_is_refused(connection, deprovisioning):
    payload = event(user_id="someone-else")
    signature = webhook_signature(consumer_key=CONSUMER_KEY, payload=payload)
    payload["userId"] = "portal-test-u1"
    assert post(connection, payload, signature=signature).status_code == 401
    deprovisioning.refresh_from_db()
    assert deprovisioning.status == AccountStatus.DEPROVISIONING


def test_a_stale_webhook_is_refused(connection, deprovisioning):
    answer = post(connection, event(age=301))

    assert answer.status_code == 401
    assert "ago" in answer.json()["detail"]
    deprovisioning.refresh_from_db()
    assert deprovisioning.status == AccountStatus.DEPROVISIONING


def test_a_replayed_webhook_id_is_acknowledged_and_changes_nothing(connection, deprovisioning):
    first = event(kind="USER_REGISTERED")
    assert post(connection, first).status_code == 200
    # the same webhookId again (a replay, however well signed): nothing is applied
    replay = {**event(), "webhookId": first["webhookId"]}
    answer = post(connection, replay)

    # 200 all the same (the Standard Webhooks convention for a duplicate): the sender stops sending it
    assert answer.status_code == 200
    assert answer.json()["events"] == [{"webhookId": first["webhookId"], "received": True, "duplicate": True,
                                        "detail": "already received: not applied again"}]
    deprovisioning.refresh_from_db()
    assert deprovisioning.status == AccountStatus.DEPROVISIONING
    assert InboundWebhook.objects.filter(accepted=True).count() == 1
    assert InboundWebhook.objects.get(accepted=False).detail == "duplicate: already received, not applied again"


def test_webhook_ids_are_per_connection(connection, deprovisioning):
    other = Connection.objects.create(provider="snaptrade", name="Other", base_url=BASE,
                                      credentials={"client_id": "CLIENT-42", "consumer_key": CONSUMER_KEY})
    payload = event(kind="USER_REGISTERED")
    assert post(connection, payload).status_code == 200
    assert post(other, payload).status_code == 200


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'{"webhookId": 1}', b"\xff\xfe"])
def test_bad_input_is_never_a_500(connection, body):
    answer = Client().post(f"/webhooks/providers/{connection.pk}/", body, content_type="application/json")
    assert 400 <= answer.status_code < 500


def test_unknown_connections_and_providers_without_receiver_answer_404(db, connection):
    kandy = Connection.objects.create(provider="kandy", name="K", base_url="https://k.test",
                                      credentials={"api_key": "k", "api_secret": "s"})
    assert Client().post("/webhooks/providers/99999/", b"{}", content_type="application/json").status_code == 404
    assert Client().post(f"/webhooks/providers/{kandy.pk}/", b"{}", content_type="application/json").status_code == 404
    assert Client().get(f"/webhooks/providers/{connection.pk}/").status_code == 405


def test_user_deleted_for_an_active_account_changes_nothing(connection):
    member = Member.objects.create(email="x@example.org")
    account = Account.objects.create(member=member, connection=connection, status=AccountStatus.ACTIVE,
                                     external_id="portal-test-u9")
    assert post(connection, event(user_id="portal-test-u9")).status_code == 200
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_the_scheduled_finishing_without_webhooks(connection, deprovisioning, http, settings):
    """No webhook arrives: the schedule requests a reconcile, which finishes the accounts whose
    user listUsers no longer shows (and leaves those still listed)."""
    member = Member.objects.create(email="still@example.org")
    still = Account.objects.create(member=member, connection=connection, status=AccountStatus.DEPROVISIONING,
                                   external_id="portal-test-u2", details={"remote_deletion": "queued"})
    http.get(USERS, json=["portal-test-u2"])

    assert services.accounts_finish_pending_deletions() == 1
    operation = Operation.objects.get(kind=OperationKind.RECONCILE)
    services.operation_execute(operation_id=operation.pk)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    deprovisioning.refresh_from_db()
    still.refresh_from_db()
    assert deprovisioning.status == AccountStatus.DEPROVISIONED
    assert deprovisioning.details["remote_deletion"] == "deleted"
    assert still.status == AccountStatus.DEPROVISIONING
    # nothing left to wait for at that connection but `still`: asked again, one more reconcile
    assert services.accounts_finish_pending_deletions() == 1


def test_deprovision_then_webhook_through_the_services(connection, http):
    member = Member.objects.create(email="y@example.org")
    account = Account.objects.create(member=member, connection=connection, status=AccountStatus.ACTIVE,
                                     external_id="portal-test-u3", secrets={"user_secret": "s"})
    http.delete(DELETE, json={"status": "deleted", "userId": "portal-test-u3", "detail": "queued"})
    operation = services.operation_request(kind=OperationKind.DEPROVISION, account=account, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    account.refresh_from_db()
    assert account.status == AccountStatus.DEPROVISIONING

    assert post(connection, event(user_id="portal-test-u3")).status_code == 200
    account.refresh_from_db()
    assert account.status == AccountStatus.DEPROVISIONED


def test_the_connection_shows_its_webhook_url(connection, db, django_user_model):
    from provisioning.api.serializers import ConnectionSerializer

    assert ConnectionSerializer(connection).data["webhook_url"] == (
        f"http://127.0.0.1:8000/webhooks/providers/{connection.pk}/"
    )
    kandy = Connection.objects.create(provider="kandy", name="K", base_url="https://k.test",
                                      credentials={"api_key": "k", "api_secret": "s"})
    assert ConnectionSerializer(kandy).data["webhook_url"] is None
    _ = time


def test_behind_a_proxy_each_sender_has_its_own_rate_limit_and_address(connection, deprovisioning, settings):
    """Every webhook arrives from the proxy's address: the limit and the record take the sender's
    (TRUSTED_PROXY_COUNT), or one busy sender would shut every other out."""
    from django.core.cache import cache

    cache.clear()
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PROVISIONING = {**settings.PROVISIONING, "INBOUND_WEBHOOK_RATE": 1}

    def through_proxy(sender):
        payload = event(kind="USER_REGISTERED")
        return Client(REMOTE_ADDR="10.0.0.1").post(
            f"/webhooks/providers/{connection.pk}/", json.dumps(payload), content_type="application/json",
            headers={"Signature": webhook_signature(consumer_key=CONSUMER_KEY, payload=payload),
                     "X-Forwarded-For": sender})

    assert through_proxy("198.51.100.7").status_code == 200
    assert through_proxy("198.51.100.7").status_code == 429  # that sender is over its limit
    assert through_proxy("203.0.113.9").status_code == 200  # another one is not
    assert InboundWebhook.objects.filter(remote_addr="203.0.113.9").exists()


def test_the_admin_shows_what_was_made_of_each_webhook_and_keeps_them(connection, deprovisioning, admin_client):
    post(connection, event())
    post(connection, event(), key="another-key")
    accepted, refused = InboundWebhook.objects.order_by("pk")
    listed = admin_client.get("/admin/provisioning/inboundwebhook/").content.decode()
    assert "Accepted: deletion confirmed: deprovisioned." in listed
    assert f'>account #{deprovisioning.pk}</a>' in listed
    assert f"Refused (HTTP {refused.status_code}): {refused.detail.rstrip('.')}." in listed
    page = admin_client.get(f"/admin/provisioning/inboundwebhook/{accepted.pk}/change/")
    assert '"webhookSecret": "***"' in page.content.decode().replace("&quot;", '"')  # the body, indented
    # headed by what came from whom and when, not "USER_DELETED 4f… at 3 -> 200"
    assert f"<h2>{accepted.event_type} from {connection.name_with_provider}, " in page.content.decode()
    # an accepted one is what refuses its replay: no one deletes it from here
    assert "Delete" not in page.content.decode()
    assert admin_client.post(f"/admin/provisioning/inboundwebhook/{accepted.pk}/delete/", {"post": "yes"}).status_code \
        == 403
    assert InboundWebhook.objects.count() == 2
