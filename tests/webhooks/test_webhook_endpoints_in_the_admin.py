"""The admin's webhook endpoint form speaks to a person: "URL", the events in words with the
type their payloads carry, and no rows of "—" for what a new endpoint does not have yet."""

import re

from django.contrib.messages import get_messages
from django.urls import reverse

from provisioning.models import WebhookEndpoint

ADD = reverse("admin:provisioning_webhookendpoint_add")


def test_the_add_page_names_its_fields_and_events_in_words(admin_client):
    html = admin_client.get(ADD).content.decode()
    assert re.search(r"<label[^>]*>URL:</label>", html)
    # it read "Account Active", "Connection Quarantine Lifted"
    assert "An account became active (account.active)" in html
    assert "A connection&#x27;s quarantine was lifted (connection.quarantine_lifted)" in html
    for row in ("Owner:", "Failing since:", "Disabled reason:", "Created at:"):
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
