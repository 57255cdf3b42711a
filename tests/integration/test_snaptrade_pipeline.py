"""A member's SnapTrade account, end to end: the API, PostgreSQL, Redis, a Celery worker process
and the sandbox process. Provisioned, its secret encrypted at rest, a login link that opens,
a rotated secret, deprovisioning until SnapTrade's listUsers no longer has it."""

import pytest
import requests
from django.db import connection as db_connection

from provisioning.models import Account, ExternalCall
from provisioning.providers.exceptions import NeedsAttention
from provisioning.providers.snaptrade import SnapTradeClient

pytestmark = pytest.mark.integration


def raw_secrets(account_id: int) -> str:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM provisioning_account WHERE id = %s", [account_id])
        return cursor.fetchone()[0]


def test_provision_login_link_and_deprovision_through_the_api(api, snaptrade, celery_worker_process):
    celery_worker_process()

    account, operation = api.provision("jane@example.org", snaptrade.connection)
    assert operation["kind"] == "provision"
    done = api.operation(operation["id"])

    account = api.call("GET", f"accounts/{account['id']}/")
    assert done["status"] == "succeeded", done
    assert account["status"] == "active" and account["secrets_set"] == ["user_secret"]
    user_id = account["external_id"]
    assert snaptrade.users() == [user_id]

    # the secret SnapTrade issued is stored, encrypted: raw SQL sees only a Fernet token
    secret = Account.objects.get(pk=account["id"]).secrets["user_secret"]
    stored = raw_secrets(account["id"])
    assert stored.startswith("gAAAA") and secret not in stored and user_id not in stored
    recorded = ExternalCall.objects.filter(operation_id=operation["id"]).values_list(
        "url", "request_headers", "request_body", "response_body"
    )
    assert recorded and secret not in str(list(recorded))

    # and it works: SnapTrade accepts it for a login link, and the link opens
    link_operation = api.call("POST", f"accounts/{account['id']}/login-link/", {"connectionType": "read"})
    link = api.operation(link_operation["id"])
    assert link["status"] == "succeeded", link
    page = requests.get(link["result"]["redirect_uri"], timeout=10)
    assert page.status_code == 200 and f"valid for SnapTrade user {user_id}" in page.text
    assert link["result"]["expires_at"] and link["result"]["session_id"]
    assert secret not in str(link["result"])

    # rotating the secret stores the new one; SnapTrade accepts only that one from now on
    rotation = api.call("POST", f"accounts/{account['id']}/rotate-secret/")
    assert api.operation(rotation["id"])["status"] == "succeeded"
    rotated = Account.objects.get(pk=account["id"]).secrets["user_secret"]
    assert rotated != secret and rotated not in raw_secrets(account["id"])
    client = SnapTradeClient(snaptrade.connection)
    assert client.login(user_id, rotated)["redirectURI"]
    with pytest.raises(NeedsAttention):
        client.login(user_id, secret)

    # deprovision: SnapTrade only queues the deletion; the operation succeeds, the secret is
    # forgotten, and the account stays deprovisioning until SnapTrade confirms (test_webhooks.py)
    deprovision = api.call("DELETE", f"accounts/{account['id']}/")
    assert api.operation(deprovision["id"])["status"] == "succeeded"
    account = api.call("GET", f"accounts/{account['id']}/")
    assert account["status"] == "deprovisioning" and account["secrets_set"] == []
    assert account["details"]["remote_deletion"] == "queued"
    assert snaptrade.control.state("snaptrade")["pending_deletion"] == [user_id]

    snaptrade.control.clock(advance_seconds=60)  # past the simulated deletion delay
    assert snaptrade.listed_by_snaptrade() == []
