"""Outbound webhooks: the outbox, Standard Webhooks signing, retries, disabling, SSRF safety."""

import json
from datetime import timedelta

import pytest
import urllib3
from django.contrib.auth.models import User
from django.core import mail
from django.db import transaction
from django.utils import timezone
from rest_framework.fields import DateTimeField
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from provisioning import services
from provisioning.models import Connection, WebhookDelivery, WebhookEndpoint, WebhookEvent
from provisioning.services import webhooks
from provisioning.webhooks import net

STAFF = services.Requester("test:staff")
ALL = list(webhooks.EVENT_TYPES)


@pytest.fixture
def owner(db):
    return User.objects.create_user("owner", email="owner@example.org", password="unused")


@pytest.fixture
def connection(db):
    return Connection.objects.create(provider="snaptrade", name="SnapTrade", base_url="https://api.snaptrade.com",
                                     credentials={"client_id": "c", "consumer_key": "k"})


@pytest.fixture
def endpoint(owner, receiver, loopback_allowed):
    endpoint, secret = services.webhook_endpoint_create(owner=owner, url=receiver.url, events=ALL)
    endpoint.plain_secret = secret
    return endpoint


@pytest.fixture
def tasks_run_here(monkeypatch):
    """Celery tasks run in this process, at once (whatever the app was configured with)."""
    from provisioning import tasks

    monkeypatch.setattr(tasks.webhook_delivery_send, "apply_async",
                        lambda args, countdown=None: services.webhook_delivery_send(delivery_id=args[0]))
    monkeypatch.setattr(tasks.webhook_owner_notify, "delay",
                        lambda email, subject, body: services.webhook_owner_notify(email=email, subject=subject,
                                                                                   body=body))


def send_all() -> list:
    return [services.webhook_delivery_send(delivery_id=pk)
            for pk in WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True)]


# --- the outbox ----------------------------------------------------------------------------------

def test_events_are_written_in_the_transaction_of_the_change(endpoint, connection, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    event = WebhookEvent.objects.get()
    assert event.type == "connection.quarantined"
    assert event.payload["id"] == connection.pk and event.payload["state"] == "quarantined"
    assert "credentials" not in event.payload and "k" not in event.payload.get("credentials_set", [])
    assert WebhookDelivery.objects.get().endpoint == endpoint


def test_a_rollback_leaves_no_event(endpoint, connection):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
        assert WebhookEvent.objects.count() == 1
        raise Boom
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_nobody_subscribed_nothing_written(connection, db):
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    assert WebhookEvent.objects.count() == 0


def test_only_subscribed_enabled_endpoints_get_deliveries(owner, receiver, loopback_allowed, connection):
    wanted, _ = services.webhook_endpoint_create(owner=owner, url=receiver.url, events=["connection.quarantined"])
    services.webhook_endpoint_create(owner=owner, url=receiver.url, events=["batch.finished"])
    services.webhook_endpoint_create(owner=owner, url=receiver.url, events=["connection.quarantined"], enabled=False)
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [wanted.pk]


# --- signing -------------------------------------------------------------------------------------

def test_a_delivery_is_signed_as_standard_webhooks_say(endpoint, connection, receiver):
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    (delivery,) = send_all()

    assert delivery.status == "delivered" and delivery.last_status_code == 204
    (request,) = receiver.requests
    payload = Webhook(endpoint.plain_secret).verify(request["body"], request["headers"])
    assert payload["type"] == "connection.quarantined"
    assert payload["data"]["id"] == connection.pk
    # the moment as the API writes one (DRF's DateTimeField)
    assert payload["timestamp"] == DateTimeField().to_representation(WebhookEvent.objects.get().created_at)
    assert request["headers"]["webhook-id"] == delivery.event_id
    assert endpoint.plain_secret.startswith("whsec_")
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request["body"], request["headers"])
    assert len(delivery.response_excerpt) <= 500


# --- retries, disabling ----------------------------------------------------------------------------

def test_the_retry_schedule_spans_about_three_days(settings):
    schedule = settings.PROVISIONING["WEBHOOK_RETRY_SCHEDULE_SECONDS"]
    assert schedule[:3] == [5, 300, 1800]
    assert 2.5 * 86400 < sum(schedule) < 3.5 * 86400
    assert webhooks.retry_delay(1) == 5 and webhooks.retry_delay(len(schedule) + 1) is None


def test_a_failed_attempt_is_retried_on_schedule_then_given_up(endpoint, connection, receiver,
                                                                provisioning_settings):
    provisioning_settings(WEBHOOK_RETRY_SCHEDULE_SECONDS=[5.0, 300.0], WEBHOOK_DISABLE_AFTER_SECONDS=10**9)
    receiver.status = 503
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    (delivery,) = send_all()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert 4 <= (delivery.next_attempt_at - timezone.now()).total_seconds() <= 5
    assert services.webhook_delivery_send(delivery_id=delivery.pk) is None  # not due yet

    for expected_attempts in (2, 3):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        delivery = services.webhook_delivery_send(delivery_id=delivery.pk)
        assert delivery.attempts == expected_attempts
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # one event id throughout

    # redelivered by hand: sent again now, same id
    receiver.status = 200
    services.webhook_delivery_redeliver(delivery=delivery)
    delivery = services.webhook_delivery_send(delivery_id=delivery.pk)
    assert delivery.status == "delivered"
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1


def test_an_endpoint_failing_for_days_is_disabled_and_its_owner_told(endpoint, connection, receiver,
                                                                     django_capture_on_commit_callbacks,
                                                                     tasks_run_here):
    receiver.status = 500
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    (delivery,) = send_all()
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=3, seconds=1))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        services.webhook_delivery_send(delivery_id=delivery.pk)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "every delivery failed since" in endpoint.disabled_reason
    assert mail.outbox and mail.outbox[-1].to == ["owner@example.org"]
    assert endpoint.url in mail.outbox[-1].body
    # disabled: not sent any more, not swept
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.webhook_delivery_send(delivery_id=delivery.pk) is None


def test_a_success_clears_the_failing_run(endpoint, connection, receiver):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=1))
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    send_all()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_the_sweeper_sends_due_and_lost_deliveries(endpoint, connection, receiver, django_capture_on_commit_callbacks,
                                                   tasks_run_here):
    with django_capture_on_commit_callbacks(execute=False):  # the dispatch after commit is lost
        services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    assert services.webhook_deliveries_sweep() == 1
    assert WebhookDelivery.objects.get().status == "delivered"
    assert services.webhook_deliveries_sweep() == 0


# --- safety ----------------------------------------------------------------------------------------

@pytest.fixture
def resolves_to(monkeypatch):
    def set_(*addresses):
        monkeypatch.setattr(net, "resolve", lambda host, port: list(addresses))

    return set_


@pytest.mark.parametrize(
    "address, why",
    [
        ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("127.0.0.1", "loopback"),
        ("::1", "loopback"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"), ("::ffff:10.0.0.1", "private"), ("fd00::1", "private"),
    ],
)
def test_internal_addresses_are_refused_after_resolution(db, resolves_to, address, why):
    resolves_to(address)
    with pytest.raises(net.UnsafeURL, match=why):
        net.check_url("https://hooks.example.org/in")


def test_every_resolved_address_is_checked(db, resolves_to):
    resolves_to("93.184.216.34", "10.0.0.5")
    with pytest.raises(net.UnsafeURL, match="10.0.0.5"):
        net.check_url("https://hooks.example.org/in")


def test_allowed_networks_let_an_internal_address_through(db, resolves_to, provisioning_settings):
    provisioning_settings(WEBHOOKS_ALLOWED_NETWORKS=["10.20.0.0/16"])
    resolves_to("10.20.3.4")
    assert net.check_url("https://hooks.internal/in").addresses == ("10.20.3.4",)
    resolves_to("10.21.3.4")
    with pytest.raises(net.UnsafeURL):
        net.check_url("https://hooks.internal/in")


def test_https_is_required(db, resolves_to, provisioning_settings):
    resolves_to("93.184.216.34")
    assert net.check_url("https://hooks.example.org/in")
    with pytest.raises(net.UnsafeURL, match="https"):
        net.check_url("http://hooks.example.org/in")
    provisioning_settings(WEBHOOKS_ALLOW_HTTP_LOOPBACK=True)
    with pytest.raises(net.UnsafeURL, match="https"):
        net.check_url("http://hooks.example.org/in")  # http only to loopback, even then
    for url in ("ftp://hooks.example.org/", "https://user:pw@hooks.example.org/", "hooks.example.org"):
        with pytest.raises(net.UnsafeURL):
            net.check_url(url)


def test_loopback_http_only_with_the_setting(db, provisioning_settings):
    provisioning_settings(WEBHOOKS_ALLOW_HTTP_LOOPBACK=False)
    with pytest.raises(net.UnsafeURL, match="loopback"):
        net.check_url("http://127.0.0.1:9/in")
    provisioning_settings(WEBHOOKS_ALLOW_HTTP_LOOPBACK=True)
    assert net.check_url("http://127.0.0.1:9/in").addresses == ("127.0.0.1",)


def test_saving_an_unsafe_endpoint_is_refused(owner, resolves_to):
    resolves_to("169.254.169.254")
    with pytest.raises(services.InvalidRequest) as refused:
        services.webhook_endpoint_create(owner=owner, url="https://metadata.example.org/", events=ALL)
    assert "link-local" in refused.value.field_errors["url"][0]


def test_the_address_is_checked_again_at_delivery_time(endpoint, connection, receiver, resolves_to):
    """DNS changed after the endpoint was saved (rebinding): refused before anything is sent."""
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    resolves_to("10.0.0.7")
    (delivery,) = send_all()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "refused" in delivery.last_error and "private" in delivery.last_error
    assert receiver.requests == []


def test_redirects_are_not_followed(endpoint, connection, receiver):
    receiver.status = 302
    receiver.headers = {"Location": "http://127.0.0.1:9/elsewhere"}
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    (delivery,) = send_all()
    assert delivery.status == "pending" and delivery.last_status_code == 302
    assert "not followed" in delivery.last_error
    assert len(receiver.requests) == 1


def test_the_secret_is_encrypted_at_rest(endpoint):
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM provisioning_webhookendpoint WHERE id = %s", [endpoint.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith("gAAAA") and endpoint.plain_secret not in raw
    _ = json


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_receiver_that_cannot_be_reached_is_said_in_words(owner, loopback_allowed, connection):
    # it read "NewConnectionError: HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new
    # connection: [Errno 111] Connection refused"
    services.webhook_endpoint_create(owner=owner, url=f"http://127.0.0.1:{closed_port()}/hook", events=ALL)
    services.connection_quarantine(connection=connection, reason="by hand", requested_by=STAFF)
    (delivery,) = send_all()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error == (
        "Could not connect: the connection was refused, so nothing listens at that address and port.")


@pytest.mark.parametrize(("error", "words"), [
    (lambda: urllib3.exceptions.ReadTimeoutError(None, "/hook", "Read timed out. (read timeout=5.0)"),
     "Connected and sent, but no answer came within 5 s."),
    (lambda: urllib3.exceptions.ConnectTimeoutError(None, "Connection to 203.0.113.9 timed out."),
     "Could not connect: no answer within 3 s."),
    (lambda: urllib3.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
     "The secure connection failed ([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed)."),
    (lambda: urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
     "The connection broke before an answer came"),
])
def test_why_nothing_came_back_is_a_sentence(settings, error, words):
    assert net.unsent_words(error(), settings.PROVISIONING).startswith(words)
