"""``?wait=N``: 200 with the finished operation when it finishes in time, 202 otherwise; a bad
value is a 400 before anything happens."""

import pytest

from provisioning.models import Account, Member, Operation
from provisioning.states import AccountStatus

from .conftest import account_in


@pytest.fixture
def eager_worker(transactional_db, eager):
    """Celery runs each task in the request's process right when it is dispatched; dispatching
    waits for the commit, so the test's transactions must be real ones."""


@pytest.mark.parametrize("wait", ["abc", "-1", "31", "1.5", ""])
def test_a_bad_wait_is_400_and_requests_nothing(admin_client_api, account, wait):
    account_in(account, AccountStatus.ACTIVE)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/?wait={wait}")
    assert response.status_code == 400
    assert "wait" in response.json()
    assert not Operation.objects.exists()


def test_wait_answers_200_once_the_operation_finished(eager_worker, admin_client_api, account, fake_http):
    account_in(account, AccountStatus.ACTIVE)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/?wait=10")
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.json()["calls"] == 1
    assert response["Location"].endswith(f"/api/v1/operations/{response.json()['id']}/")


def test_without_wait_the_answer_is_202_even_if_already_finished(eager_worker, admin_client_api, account, fake_http):
    account_in(account, AccountStatus.ACTIVE)
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/")
    assert response.status_code == 202


def test_wait_runs_out_with_202(admin_client_api, account):
    account_in(account, AccountStatus.ACTIVE)  # no worker runs anything in this test
    response = admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/?wait=1")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_create_with_wait_shows_the_provisioned_account(eager_worker, admin_client_api, member, connection, fake_http):
    response = admin_client_api.post(
        "/api/v1/accounts/?wait=10", {"member": member.pk, "connection": connection.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["operation"]["status"] == "succeeded"
    assert response.json()["account"]["status"] == AccountStatus.ACTIVE


def test_batch_with_wait_answers_when_all_finished(eager_worker, admin_client_api, connection, fake_http):
    members = [Member.objects.create(email=f"b{i}@example.org") for i in range(2)]
    response = admin_client_api.post(
        "/api/v1/batches/?wait=10", {"connection": connection.pk, "members": [m.pk for m in members]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["finished"] is True
    assert response.json()["counts"] == {"succeeded": 2}
    assert Account.objects.filter(status=AccountStatus.ACTIVE).count() == 2
