"""Operations: filters, the count of calls, retry (failed only) and cancel (queued or waiting)."""

import pytest

from provisioning import services
from provisioning.models import Account, Batch, Connection, ExternalCall, Member, Operation
from provisioning.providers.xhoppe import XhoppeProvider
from provisioning.states import AccountStatus, OperationKind, OperationStatus

from .conftest import account_in


def make_operation(account, kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, **fields):
    return Operation.objects.create(
        kind=kind, status=status, account=account, connection=account.connection, requested_by="test", **fields
    )


def test_list_filters(admin_client_api, account, no_delete_connection):
    other = Account.objects.create(member=Member.objects.create(email="o@example.org"), connection=no_delete_connection)
    batch = Batch.objects.create(connection=account.connection, requested_by="test")
    first = make_operation(account, OperationKind.PROVISION, OperationStatus.FAILED, batch=batch)
    second = make_operation(account, OperationKind.SYNC, OperationStatus.SUCCEEDED)
    third = make_operation(other, OperationKind.SYNC, OperationStatus.QUEUED)

    def ids(query):
        response = admin_client_api.get(f"/api/v1/operations/?{query}")
        assert response.status_code == 200, response.json()
        return [o["id"] for o in response.json()["results"]]

    assert ids("") == [third.pk, second.pk, first.pk]
    assert ids("status=failed") == [first.pk]
    assert ids("kind=sync") == [third.pk, second.pk]
    assert ids(f"account={other.pk}") == [third.pk]
    assert ids(f"connection={account.connection_id}") == [second.pk, first.pk]
    assert ids(f"batch={batch.pk}") == [first.pk]
    assert admin_client_api.get("/api/v1/operations/?kind=dance").status_code == 400


def test_operation_shows_calls_count_error_and_no_secret_input(admin_client_api, account, fake_http):
    account_in(account, AccountStatus.AWAITING_VERIFICATION)
    requested = admin_client_api.post(f"/api/v1/accounts/{account.pk}/verify/", {"code": "654321"}, format="json")
    services.operation_execute(operation_id=requested.json()["id"])
    response = admin_client_api.get(f"/api/v1/operations/{requested.json()['id']}/")
    body = response.json()
    assert body["calls"] == ExternalCall.objects.filter(operation_id=body["id"]).count() == 1
    assert body["status"] == "succeeded" and body["error"] is None
    assert body["started_at"] and body["finished_at"]
    assert "654321" not in response.content.decode()


def test_error_has_code_message_and_retryable(admin_client_api, account):
    failed = make_operation(
        account, status=OperationStatus.FAILED, error_code="quota_exceeded", error_message="Full.", error_retryable=False
    )
    body = admin_client_api.get(f"/api/v1/operations/{failed.pk}/").json()
    assert body["error"] == {"code": "quota_exceeded", "message": "Full.", "retryable": False}


def test_retry_of_a_failed_operation_requests_a_new_one(admin_client_api, account):
    account_in(account, AccountStatus.ACTIVE)
    failed = make_operation(
        account, OperationKind.LOGIN_LINK, OperationStatus.FAILED, input={"darkMode": True}, error_code="transient"
    )
    response = admin_client_api.post(f"/api/v1/operations/{failed.pk}/retry/")
    assert response.status_code == 202
    body = response.json()
    assert body["id"] != failed.pk
    assert (body["kind"], body["status"], body["input"]) == ("login_link", "queued", {"darkMode": True})
    assert response["Location"].endswith(f"/api/v1/operations/{body['id']}/")


def test_retry_keeps_the_secret_input(admin_client_api, account):
    account_in(account, AccountStatus.AWAITING_VERIFICATION)
    failed = make_operation(
        account, OperationKind.VERIFY, OperationStatus.FAILED, secret_input={"code": "111111"}, error_code="transient"
    )
    response = admin_client_api.post(f"/api/v1/operations/{failed.pk}/retry/")
    assert Operation.objects.get(pk=response.json()["id"]).secret_input == {"code": "111111"}


def test_retry_that_cannot_help_is_409_with_what_to_do_instead(admin_client_api, account):
    """A wrong SMS code sent again would be refused again: the API refuses it like the admin."""
    account_in(account, AccountStatus.AWAITING_VERIFICATION)
    failed = make_operation(
        account, OperationKind.VERIFY, OperationStatus.FAILED, secret_input={"code": "111111"}, error_code="invalid_input"
    )
    response = admin_client_api.post(f"/api/v1/operations/{failed.pk}/retry/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "retry_cannot_help"
    assert body["detail"].startswith("Retrying cannot help: Xhoppe refused this SMS code")
    assert Operation.objects.filter(account=account).count() == 1


def test_retry_of_a_provisioning_whose_member_still_lacks_what_the_provider_needs_is_400_with_the_next_step(
        admin_client_api, install_providers):
    """The member is not a field of a retry: the sentence comes as ``detail``, with its code."""
    install_providers(XhoppeProvider)  # the real one, not this folder's stand-in
    xhoppe = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    account = Account.objects.create(member=Member.objects.create(email="no.phone@example.org"), connection=xhoppe,
                                     status=AccountStatus.FAILED)
    failed = make_operation(account, OperationKind.PROVISION, OperationStatus.FAILED, error_code="member_incomplete")

    response = admin_client_api.post(f"/api/v1/operations/{failed.pk}/retry/")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "No phone number: Xhoppe registers people by phone. Add the phone number, then provision.",
        "code": "member_incomplete",
    }
    assert Operation.objects.filter(account=account).count() == 1


@pytest.mark.parametrize("status", [OperationStatus.SUCCEEDED, OperationStatus.QUEUED, OperationStatus.CANCELLED])
def test_retry_of_an_operation_that_did_not_fail_is_409(admin_client_api, account, status):
    operation = make_operation(account, status=status)
    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/retry/")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


@pytest.mark.parametrize("status", [OperationStatus.QUEUED, OperationStatus.WAITING_RETRY])
def test_cancel_of_a_queued_or_waiting_operation(admin_client_api, account, status):
    operation = make_operation(account, status=status)
    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["error"]["code"] == "cancelled"
    assert body["calls"] == 0


@pytest.mark.parametrize("status", [OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.RUNNING])
def test_cancel_of_a_running_or_finished_operation_is_409(admin_client_api, account, status):
    operation = make_operation(account, status=status)
    response = admin_client_api.post(f"/api/v1/operations/{operation.pk}/cancel/")
    assert response.status_code == 409
    operation.refresh_from_db()
    assert operation.status == status


def test_unknown_operation_is_404(admin_client_api, db):
    assert admin_client_api.get("/api/v1/operations/12345/").status_code == 404
    assert admin_client_api.post("/api/v1/operations/12345/retry/").status_code == 404


@pytest.mark.parametrize(
    "status, query, index",
    [
        (OperationStatus.FAILED, {"status": "failed"}, "operation_failed_idx"),
        (OperationStatus.FAILED, {"status": "failed", "kind": "provision"}, "operation_failed_kind_idx"),
        (OperationStatus.CANCELLED, {"status": "cancelled"}, "operation_cancelled_idx"),
        (OperationStatus.SUCCEEDED, {"kind": "provision"}, "operation_kind_idx"),
    ],
)
def test_a_status_or_a_kind_is_served_by_an_index_in_the_lists_order(db, status, query, index):
    """Newest first by id (the cursor's order): walking every operation by id read 1.8 s for the
    failed provisionings of 5,000,000 operations, 514 ms for the cancelled ones and 1,987 ms for
    the provisionings, all older than the rest."""
    from django.db import connection as database

    from provisioning.api.filters import OperationFilter
    from provisioning.models import Connection, Operation
    from tests.conftest import plan_without_table_scans

    # many operations, an eighth of them of this kind, as at scale, and the planner told so: on a
    # nearly empty table, whatever statistics the tests before left, the indexes that can serve it
    # cost the same, and PostgreSQL took any of them (sorting a row or two)
    where = Connection.objects.create(provider="kandy", name="Failing", base_url="http://k.test", credentials={})
    Operation.objects.bulk_create(
        Operation(kind=OperationKind.PROVISION if n % 8 == 0 else OperationKind.SYNC, status=status,
                  connection=where, requested_by="t")
        for n in range(1200)
    )
    with database.cursor() as cursor:
        cursor.execute("ANALYZE provisioning_operation")  # in the test's transaction: undone after it
    listed = OperationFilter(query, queryset=Operation.objects.all()).qs.order_by("-id")[:51]

    plan = plan_without_table_scans(listed)
    assert f"{index} on" in plan and "Sort" not in plan
