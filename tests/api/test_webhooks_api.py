"""/api/v1/webhooks/: endpoints, deliveries and redelivery, behind manage_connection."""

import pytest

from provisioning.models import Connection, WebhookDelivery, WebhookEndpoint

MANAGE = "provisioning.manage_connection"


@pytest.fixture
def loopback(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "WEBHOOKS_ALLOW_HTTP_LOOPBACK": True}


def test_create_shows_the_secret_once(make_client, loopback):
    client = make_client(MANAGE)
    answer = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in", "events": ["account.active"],
                                                "enabled": True}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["secret"].startswith("whsec_") and body["id"]
    again = client.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in again and again["events"] == ["account.active"]
    assert body["secret"] not in str(client.get("/api/v1/webhooks/").json())


def test_permissions(make_client, loopback):
    for client in (make_client(), make_client("provisioning.view_connection")):
        assert client.get("/api/v1/webhooks/").status_code == 403
        assert client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/", "events": ["account.active"]},
                           format="json").status_code == 403


@pytest.mark.parametrize("url, events", [
    ("http://example.org/in", ["account.active"]),
    ("https://127.0.0.1/in", ["account.active"]),
    ("https://10.0.0.1/in", ["account.active"]),
    ("https://example.org/in", ["account.nope"]),
    ("https://example.org/in", []),
])
def test_bad_endpoints_are_refused(make_client, url, events, monkeypatch):
    from provisioning.webhooks import net

    monkeypatch.setattr(net, "resolve", lambda host, port: ["93.184.216.34"] if host == "example.org" else [host])
    answer = make_client(MANAGE).post("/api/v1/webhooks/", {"url": url, "events": events}, format="json")
    assert answer.status_code == 400
    assert WebhookEndpoint.objects.count() == 0


def test_patch_delete_deliveries_and_redeliver(make_client, loopback, settings, django_capture_on_commit_callbacks):
    from provisioning import services

    client = make_client(MANAGE)
    created = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in",
                                                 "events": ["connection.quarantined"]}, format="json").json()
    patched = client.patch(f"/api/v1/webhooks/{created['id']}/", {"enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    client.patch(f"/api/v1/webhooks/{created['id']}/", {"enabled": True}, format="json")

    connection = Connection.objects.create(provider="kandy", name="c", base_url="https://k.test",
                                           credentials={"api_key": "k"})
    with django_capture_on_commit_callbacks(execute=False):
        services.connection_quarantine(connection=connection, reason="x", requested_by=services.Requester("t"))
    deliveries = client.get(f"/api/v1/webhooks/{created['id']}/deliveries/").json()["results"]
    assert [d["type"] for d in deliveries] == ["connection.quarantined"]
    assert deliveries[0]["event_id"].startswith("evt_")
    delivery = deliveries[0]["id"]
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(f"/api/v1/webhooks/{created['id']}/deliveries/{delivery}/redeliver/")
    assert answer.status_code == 202 and answer.json()["status"] == "pending"
    assert client.post(f"/api/v1/webhooks/{created['id']}/deliveries/999999/redeliver/").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{created['id']}/").status_code == 204
    assert WebhookDelivery.objects.count() == 0


def test_connections_show_their_webhook_url(admin_client_api, connection):
    assert admin_client_api.get(f"/api/v1/connections/{connection.pk}/").json()["webhook_url"] is None


@pytest.mark.parametrize("event_type", ["\x00", "account.nope"])
def test_deliveries_filtered_by_a_type_that_is_none_is_a_400(make_client, loopback, event_type):
    client = make_client(MANAGE)
    endpoint = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in", "events": ["account.active"]},
                           format="json").json()
    response = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/", {"type": event_type})
    assert response.status_code == 400
    assert "type" in response.json()


def test_an_answer_that_echoes_a_nul_is_not_kept_for_its_idempotency_key(make_client, loopback):
    client = make_client(MANAGE)
    for _ in range(2):  # the key stays free: the same request is answered again, not "in use"
        response = client.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in", "events": ["\x00"]},
                               format="json", HTTP_IDEMPOTENCY_KEY="nul-1")
        assert response.status_code == 400, response.content
