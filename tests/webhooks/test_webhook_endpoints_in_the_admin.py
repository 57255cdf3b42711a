"""The admin's webhook endpoint form speaks to a person: "URL", the events in words with the
type their payloads carry, and no rows of "—" for what a new endpoint does not have yet."""

from html import unescape
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.urls import reverse

from provisioning import explain, services
from provisioning.models import Connection, WebhookDelivery, WebhookEndpoint
from tests.webhooks.test_webhooks_out import closed_port

ADD = reverse("admin:provisioning_webhookendpoint_add")


def test_the_add_page_names_its_fields_and_events_in_words(admin_client):
    html = admin_client.get(ADD).content.decode()
    assert re.search(r"<label[^>]*>URL:</label>", html)
    # it read "Account Active", "Connection Quarantine Lifted"
    assert "An account became active (account.active)" in html
    assert "A connection&#x27;s quarantine was lifted (connection.quarantine_lifted)" in html
    for row in ("Owner:", "State:", "Deliveries:", "Created at:"):
        assert row not in html
    # a list of choices as the admin lays one out: each label as wide as its words (the admin's
    # 160 px for a form's labels cut "connection.health_cha nged" in two)
    assert '<div id="id_events" class="radiolist">' in html


def test_an_endpoint_is_made_from_the_form_and_its_secret_shown_once(admin_client, loopback_allowed, receiver):
    response = admin_client.post(ADD, {"url": receiver.url, "description": "ops", "events": ["account.failed"],
                                       "enabled": "on"})
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["account.failed"] and endpoint.description == "ops"
    assert any("shown this once only" in str(m) for m in get_messages(response.wsgi_request))
    page = admin_client.get(reverse("admin:provisioning_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert "Owner:" in page and "Created at:" in page  # what it has now


# --- what became of the events: in words, with what to do ----------------------------------------

DELIVERIES = reverse("admin:provisioning_webhookdelivery_changelist")


def text(response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.fixture
def quarantined(db):
    """An event for every endpoint subscribed to it: a connection put in quarantine."""

    def event():
        connection = Connection.objects.create(provider="kandy", name="Kandy", base_url="https://kandy.example.org",
                                               credentials={"api_key": "k"})
        services.connection_quarantine(connection=connection, reason="by hand",
                                       requested_by=services.Requester("test:staff"))

    return event


def endpoint_at(url: str) -> WebhookEndpoint:
    owner = User.objects.get_or_create(username="owner")[0]
    return services.webhook_endpoint_create(owner=owner, url=url, events=["connection.quarantined"])[0]


def send_all():
    for pk in WebhookDelivery.objects.values_list("pk", flat=True):
        services.webhook_delivery_send(delivery_id=pk)


def test_a_delivery_says_what_became_of_it_and_what_comes_next(admin_client, loopback_allowed, receiver,
                                                               quarantined):
    working, closed = endpoint_at(receiver.url), endpoint_at(f"http://127.0.0.1:{closed_port()}/hook")
    quarantined()
    send_all()
    listed = text(admin_client.get(DELIVERIES))
    # the event in words, not "evt_c96aa9621dec49ad894f02308970e845" / "connection.quarantined"
    assert "A connection was quarantined" in listed and not re.search(r"evt_[0-9a-f]{8}", listed)
    assert "Delivered at " in listed and "(HTTP 204), after 1 attempt." in listed
    assert ("Attempt 1 failed: Could not connect: the connection was refused, so nothing listens at that address "
            "and port. Next attempt at ") in listed

    failed = WebhookDelivery.objects.get(endpoint=closed)
    response = admin_client.get(reverse("admin:provisioning_webhookdelivery_change", args=[failed.pk]))
    page = text(response)
    assert failed.event_id in page and '"type": "connection.quarantined"' in page  # what was sent
    # headed by the event and where it went, not "evt_3f… -> endpoint 2 (pending)"
    heading = f"A connection was quarantined, sent to {closed.url}"
    html = unescape(response.content.decode())
    assert f"<h2>{heading}</h2>" in html and f"<title>{heading} | View webhook delivery" in html
    assert f"Webhook deliveries › {heading}" in page  # the breadcrumbs
    assert "Lease expires" not in page

    # the schedule spent: given up, and how to send it once the receiver works
    WebhookDelivery.objects.filter(pk=failed.pk).update(status="failed", next_attempt_at=None, attempts=9)
    assert ("Gave up after 9 attempts: Could not connect: the connection was refused, so nothing listens at that "
            "address and port. Once the receiver works, send it again (action “Send again now”).") in text(
        admin_client.get(DELIVERIES, {"endpoint__id__exact": closed.pk}))
    # found by the id the receiver got
    found = text(admin_client.get(DELIVERIES, {"q": failed.event_id}))
    assert "2 webhook deliveries" in found and working.url in found


def test_an_endpoint_says_whether_events_reach_it(admin_client, loopback_allowed, quarantined):
    endpoint = endpoint_at(f"http://127.0.0.1:{closed_port()}/hook")
    change = reverse("admin:provisioning_webhookendpoint_change", args=[endpoint.pk])
    assert "Working: its last delivery succeeded (or none has been sent yet)." in text(admin_client.get(change))

    quarantined()
    send_all()
    page = admin_client.get(change)
    endpoint.refresh_from_db()
    # it read "Failing since: 2026-12-04 12:04:00 UTC" and "Disabled reason: —"
    assert (f"Deliveries have failed since {explain.full_time(endpoint.failing_since)}; each is retried. If none "
            "succeeds by ") in text(page)
    assert f'href="{DELIVERIES}?endpoint__id__exact={endpoint.pk}"' in page.content.decode()
    assert "Failing since" in text(admin_client.get(reverse("admin:provisioning_webhookendpoint_changelist")))

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason="Disabled at 2026-12-04 12:00 UTC: every delivery failed since 2026-12-01 "
                                       "12:00 UTC.")
    assert ("every delivery failed since 2026-12-01 12:00 UTC. Fix the receiver, then tick Enabled and save: the "
            "deliveries still waiting are then sent.") in text(admin_client.get(change))
    assert ("Waiting: the endpoint is disabled. It is sent once the endpoint is enabled again."
            in text(admin_client.get(DELIVERIES)))


def test_sending_again_to_a_disabled_endpoint_says_it_waits(admin_client, loopback_allowed, receiver, quarantined):
    working, disabled = endpoint_at(receiver.url), endpoint_at(receiver.url + "2")
    quarantined()
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(enabled=False)
    response = admin_client.post(DELIVERIES, {
        "action": "redeliver", ACTION_CHECKBOX_NAME: list(WebhookDelivery.objects.values_list("pk", flat=True))})
    # it said "2 deliveries sent again.", and nothing goes to a disabled endpoint
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 delivery sent again.",
        "1 delivery waits for an endpoint that is disabled: enable the endpoint to send it.",
    ]
