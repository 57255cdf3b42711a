"""A connection's page says where its provider must send webhooks, and says nothing of webhooks
when its provider sends none (it read "Configure this URL at the provider. Webhook URL: — (its
provider sends no webhooks)")."""

import pytest
from django.urls import reverse

from provisioning.models import Connection


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["portal.example.org", "other.example.org"]


def page(admin_client, connection, host="portal.example.org"):
    response = admin_client.get(reverse("admin:provisioning_connection_change", args=[connection.pk]), HTTP_HOST=host)
    assert response.status_code == 200
    return response.content.decode()


def test_a_snaptrade_connection_shows_its_webhook_url(admin_client):
    connection = Connection.objects.create(provider="snaptrade", name="Trades", base_url="http://s.test", credentials={})
    html = page(admin_client, connection)
    assert "Configure this URL at the provider" in html
    path = reverse("provider-webhook", kwargs={"connection_id": connection.pk})
    assert f'<code class="provisioning-webhook-url">http://portal.example.org{path}</code>' in html
    # built from each request: the next one, on another host, reads its own
    assert f"http://other.example.org{path}" in page(admin_client, connection, host="other.example.org")


def test_a_connection_whose_provider_sends_no_webhooks_has_no_webhook_section(admin_client):
    connection = Connection.objects.create(provider="kandy", name="Kandy", base_url="http://k.test", credentials={})
    html = page(admin_client, connection)
    assert "Configure this URL" not in html and "sends no webhooks" not in html and 'fieldset-heading">Webhooks<' not in html
