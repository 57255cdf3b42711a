"""/metrics needs the token or an allowed address; /readyz tells anonymous callers up or down only;
the API's schema and docs need a signed-in user in production (README, "Security")."""

import pytest

from provisioning.models import Connection, ExternalCall, Operation
from tests.conftest import pass_second_factor

TOKEN = "s3cret-metrics-token"
OUTSIDE = "203.0.113.9"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def test_metrics_without_the_token_is_401_and_with_it_200(client, db, token):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401  # loopback no exception then
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert "# TYPE portal_operations gauge" in response.content.decode()


def test_metrics_from_an_allowed_address(client, db, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16", "192.0.2.4"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_metrics_with_nothing_configured_answer_loopback_only(client, db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403


def test_metrics_label_connections_by_id_unless_names_are_allowed(client, db, settings, token):
    connection = Connection.objects.create(provider="kandy", name="Very secret customer", base_url="http://x.test")
    operation = Operation.objects.create(kind="sync", connection=connection, requested_by="t")
    ExternalCall.objects.create(operation=operation, connection=connection, method="GET", url="u", status_code=200)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    text = client.get("/metrics", **auth).content.decode()
    assert f'portal_external_calls_last_5m{{connection_id="{connection.pk}",status_class="2xx"}} 1' in text
    assert "Very secret customer" not in text
    settings.METRICS_CONNECTION_NAMES = True
    assert 'connection="Very secret customer"' in client.get("/metrics", **auth).content.decode()


def test_readyz_says_up_or_down_only_to_anonymous_callers(client, db, token, admin_user, monkeypatch):
    from provisioning.api import probes

    monkeypatch.setattr(probes, "CHECKS", {"database": lambda: (True, "ok"), "broker": lambda: (True, "ok")})
    assert client.get("/readyz").json() == {"status": "ok"}
    detailed = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()
    assert detailed["checks"] == {"database": "ok", "broker": "ok"}
    client.force_login(admin_user)
    assert "checks" in client.get("/readyz").json()


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_api_docs_need_sign_in_in_production(client, db, settings, url, admin_user):
    settings.DEBUG, settings.API_DOCS_PUBLIC = False, False
    response = client.get(url)
    assert response.status_code in (302, 401, 403)
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/")
    client.force_login(admin_user)
    pass_second_factor(client, admin_user)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_api_docs_may_be_public(client, db, settings, url):
    settings.API_DOCS_PUBLIC = True
    assert client.get(url).status_code == 200


def test_sessions_expire_when_idle(settings):
    assert settings.SESSION_COOKIE_AGE == 1800
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
