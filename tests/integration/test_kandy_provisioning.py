"""Kandy end to end: services -> a real Celery worker -> the Kandy simulator in its own process.

PostgreSQL, Redis, the worker and the sandbox are real; nothing is faked.
"""

import pytest
import requests
from django.db import connection as db_connection

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.integration.support import STAFF, wait_until_finished

pytestmark = pytest.mark.integration


@pytest.fixture
def kandy(sandbox_connection):
    """A Kandy connection to the sandbox process, configured the way bootstrap does it."""
    return sandbox_connection("kandy")


def provision(connection, n: int) -> tuple[Account, Operation]:
    member = Member.objects.create(email=f"member.{n}@example.org", first_name=f"M{n}", last_name="Test",
                                   country="SG")
    return services.account_create(member=member, connection=connection, requested_by=STAFF)


def test_provisioning_up_to_the_quota_and_the_sixth_refused(kandy, sandbox_process, celery_worker_process):
    celery_worker_process(concurrency=2)
    assert kandy.max_accounts == 5

    started = [provision(kandy, n) for n in range(5)]
    for account, operation in started:
        assert wait_until_finished(operation).status == OperationStatus.SUCCEEDED, operation.error
        account.refresh_from_db()
        assert account.status == AccountStatus.ACTIVE
        assert set(account.secrets) == {"user_password", "user_api_key", "user_api_secret"}
        assert account.details["full_user_id"] == f"{account.external_id}@{account.details['domain_name']}"

    with pytest.raises(services.Conflict) as refused:
        provision(kandy, 5)

    assert refused.value.code == "quota_exceeded"
    state = sandbox_process.state("kandy")
    assert sorted(state["users"]) == sorted(a.external_id for a, _ in started)
    assert state["counters"]["POST /v1.2/domains/users/user_id"] == {"200": 5}  # the sixth never reached Kandy
    assert Account.objects.filter(connection=kandy).count() == 5


def test_kandys_own_quota_answer_fails_the_provisioning_permanently(kandy, sandbox_process, celery_worker_process):
    celery_worker_process()
    sandbox_process.settings("kandy", quota=1)
    Connection.objects.filter(pk=kandy.pk).update(max_accounts=None)  # the portal does not know the plan
    first, second = provision(kandy, 1), provision(kandy, 2)

    assert wait_until_finished(first[1]).status == OperationStatus.SUCCEEDED
    failed = wait_until_finished(second[1])

    assert failed.status == OperationStatus.FAILED and failed.attempts == 1
    assert failed.error == {"code": "quota_exceeded", "retryable": False,
                            "message": "Kandy refused a new user: the domain's user quota is full "
                                       "(failed to register user on compass)."}
    second[0].refresh_from_db()
    assert second[0].status == AccountStatus.FAILED


def test_the_token_is_fetched_again_after_the_sandbox_invalidates_it(kandy, sandbox_process, celery_worker_process):
    celery_worker_process()
    assert wait_until_finished(provision(kandy, 1)[1]).status == OperationStatus.SUCCEEDED
    kandy.refresh_from_db()
    first_token = kandy.secret_state["domain_access_token"]

    invalidated = requests.post(f"{sandbox_process.url}/kandy/_sandbox/invalidate-tokens", timeout=5).json()
    assert invalidated == {"invalidated": 1}
    account, operation = provision(kandy, 2)

    assert wait_until_finished(operation).status == OperationStatus.SUCCEEDED, operation.error
    account.refresh_from_db()
    kandy.refresh_from_db()
    second_token = kandy.secret_state["domain_access_token"]
    assert account.status == AccountStatus.ACTIVE and second_token != first_token
    calls = list(ExternalCall.objects.filter(operation=operation).order_by("id"))
    assert [(c.method, c.url.split("?")[0].rsplit("/v1.2", 1)[1]) for c in calls] == [
        ("POST", "/domains/users/user_id"),  # refused: invalid key
        ("GET", "/domains/accesstokens"),
        ("POST", "/domains/users/user_id"),
    ]
    assert "invalid key" in calls[0].response_body
    counters = sandbox_process.state("kandy")["counters"]
    assert counters["GET /v1.2/domains/accesstokens"] == {"200": 2}
    assert len(sandbox_process.state("kandy")["users"]) == 2

    records = " ".join(f"{c.url} {c.request_body} {c.response_body} {c.error}" for c in ExternalCall.objects.all())
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secret_state FROM provisioning_connection WHERE id = %s", [kandy.pk])
        stored = cursor.fetchone()[0]
    for token in (first_token, second_token):
        assert token not in records and token not in stored
