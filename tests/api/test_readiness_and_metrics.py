"""/readyz says whether the database and the broker answer; /metrics counts in Prometheus text."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from provisioning.api import probes
from provisioning.models import Account, ExternalCall, Member, Operation


@pytest.fixture
def client(client, settings):
    """A caller with the metrics token: sees /metrics and the detail of /readyz."""
    settings.METRICS_TOKEN = "metrics-test-token"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer metrics-test-token"
    return client


@pytest.fixture(autouse=True)
def names_in_labels(settings):
    settings.METRICS_CONNECTION_NAMES = True


def test_readyz_is_200_when_database_and_broker_answer(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.fixture
def unreachable_broker(monkeypatch):
    from portal.celery import app

    nowhere = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    monkeypatch.setenv("CELERY_BROKER_URL", nowhere)  # celery prefers the variable to its setting
    previous = app.conf.broker_url
    app.conf.broker_url = nowhere
    yield
    app.conf.broker_url = previous


def test_readyz_is_503_when_the_broker_is_unreachable(client, db, unreachable_broker):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("unreachable")
    assert "127.0.0.1" not in response.content.decode()


def test_readyz_is_503_when_the_database_fails(client, db, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("could not connect to server: password=hunter2")

    monkeypatch.setattr(probes, "db_connection", BrokenConnection())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"
    assert "hunter2" not in response.content.decode()


def test_healthz_still_answers(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_metrics_count_operations_accounts_and_recent_calls(client, account, no_delete_connection):
    other = Account.objects.create(
        member=Member.objects.create(email="m2@example.org"), connection=no_delete_connection, status="active"
    )
    operation = Operation.objects.create(
        kind="provision", status="succeeded", account=account, connection=account.connection, requested_by="t"
    )
    Operation.objects.create(kind="sync", status="failed", account=other, connection=other.connection, requested_by="t")
    for status_code in (200, 201, 503, None):
        ExternalCall.objects.create(
            operation=operation, connection=account.connection, method="POST", url="u", status_code=status_code
        )
    old = ExternalCall.objects.create(operation=operation, connection=account.connection, method="GET", url="u", status_code=404)
    ExternalCall.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=6))

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = response.content.decode().splitlines()
    assert "# TYPE portal_operations gauge" in lines
    assert 'portal_operations{status="succeeded",kind="provision"} 1' in lines
    assert 'portal_operations{status="failed",kind="sync"} 1' in lines
    assert 'portal_accounts{status="pending",provider="kandy"} 1' in lines
    assert 'portal_accounts{status="active",provider="xhoppe"} 1' in lines
    c = account.connection_id
    assert f'portal_external_calls_last_5m{{connection_id="{c}",connection="fake",status_class="2xx"}} 2' in lines
    assert f'portal_external_calls_last_5m{{connection_id="{c}",connection="fake",status_class="5xx"}} 1' in lines
    assert f'portal_external_calls_last_5m{{connection_id="{c}",connection="fake",status_class="none"}} 1' in lines
    assert not any('status_class="4xx"' in line for line in lines)  # older than 5 minutes


def test_metric_labels_are_escaped(client, connection, account):
    connection.name = 'quote " and \\ backslash'
    connection.save()
    operation = Operation.objects.create(kind="sync", account=account, connection=connection, requested_by="t")
    ExternalCall.objects.create(operation=operation, connection=connection, method="GET", url="u", status_code=200)
    text = client.get("/metrics").content.decode()
    assert 'connection="quote \\" and \\\\ backslash"' in text
