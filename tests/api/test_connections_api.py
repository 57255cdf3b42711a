"""Connections: credentials are write-only and checked per provider; health checks on demand."""

from provisioning import services
from provisioning.models import Account, Connection, HealthStatus, Member, Operation
from provisioning.providers.xhoppe import XhoppeProvider
from provisioning.states import AccountStatus, OperationKind

from .conftest import FAKE_URL


def create_body(**changes):
    body = {
        "name": "Fake live",
        "provider": "kandy",
        "base_url": "https://fake-provider.test/v1",
        "max_accounts": 5,
        "requests_per_minute": 60,
        "credentials": {"api_key": "the-key-123456", "api_secret": "the-secret-654321"},
    }
    return {**body, **changes}


def test_created_connection_never_shows_its_credentials(admin_client_api):
    response = admin_client_api.post("/api/v1/connections/", create_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "credentials" not in body
    assert body["credentials_set"] == ["api_key", "api_secret"]
    assert body["health"] == {"status": "unknown", "checked_at": None, "detail": ""}
    assert body["account_counts"] == {}
    assert "the-secret-654321" not in response.content.decode()
    assert Connection.objects.get(pk=body["id"]).credentials["api_secret"] == "the-secret-654321"
    detail = admin_client_api.get(f"/api/v1/connections/{body['id']}/")
    assert "the-key-123456" not in detail.content.decode()


def test_missing_and_unknown_credential_keys_are_field_errors(admin_client_api):
    response = admin_client_api.post(
        "/api/v1/connections/", create_body(credentials={"api_secret": "s", "password": "x"}), format="json"
    )
    assert response.status_code == 400
    messages = " ".join(response.json()["credentials"])
    assert "api_key" in messages and "password" in messages
    assert not Connection.objects.exists()


def test_unknown_provider_and_bad_fields_are_400(admin_client_api):
    response = admin_client_api.post(
        "/api/v1/connections/",
        create_body(provider="nope", base_url="not a url", max_accounts=-1, name=""),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"provider", "base_url", "max_accounts", "name"}


def test_the_credentials_a_provider_needs_are_required_on_create(admin_client_api):
    body = create_body()
    del body["credentials"]
    response = admin_client_api.post("/api/v1/connections/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["credentials"]) == {"api_key"}  # the one the fake provider requires


def test_a_provider_that_needs_no_credentials_takes_none(admin_client_api, install_providers):
    install_providers(XhoppeProvider)
    body = {"name": "Xhoppe", "provider": "xhoppe", "base_url": "http://xhoppe.test/api/v1"}
    response = admin_client_api.post("/api/v1/connections/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["credentials_set"] == []


def test_quarantine_reason_is_null_unless_quarantined_and_the_retry_horizon_is_a_json_number(
    admin_client_api, connection
):
    url = f"/api/v1/connections/{connection.pk}/"
    assert admin_client_api.get(url).json()["quarantine_reason"] is None
    for text in ("48", 48.5):
        response = admin_client_api.patch(url, {"retry_horizon_hours": text}, format="json")
        assert response.status_code == 400 and "retry_horizon_hours" in response.json()


def test_duplicate_name_is_a_field_error(admin_client_api, connection):
    response = admin_client_api.post("/api/v1/connections/", create_body(name=connection.name), format="json")
    assert response.status_code == 400
    assert "name" in response.json()


def test_patch_merges_credentials_and_null_removes_a_key(admin_client_api, connection):
    url = f"/api/v1/connections/{connection.pk}/"
    response = admin_client_api.patch(url, {"credentials": {"api_secret": "added-secret"}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["credentials_set"] == ["api_key", "api_secret"]
    connection.refresh_from_db()
    assert connection.credentials == {"api_key": "KEY-abcdef-123456", "api_secret": "added-secret"}

    response = admin_client_api.patch(url, {"credentials": {"api_secret": None}}, format="json")
    assert response.json()["credentials_set"] == ["api_key"]


def test_patch_cannot_remove_a_required_credential_or_change_the_provider(admin_client_api, connection):
    url = f"/api/v1/connections/{connection.pk}/"
    assert admin_client_api.patch(url, {"credentials": {"api_key": None}}, format="json").status_code == 400
    response = admin_client_api.patch(url, {"provider": "snaptrade"}, format="json")
    assert response.status_code == 400
    assert "provider" in response.json()
    connection.refresh_from_db()
    assert connection.provider == "kandy" and connection.credentials["api_key"] == "KEY-abcdef-123456"


def test_patch_of_other_fields_keeps_the_credentials(admin_client_api, connection):
    response = admin_client_api.patch(
        f"/api/v1/connections/{connection.pk}/", {"enabled": False, "max_concurrency": 3}, format="json"
    )
    assert response.status_code == 200
    connection.refresh_from_db()
    assert (connection.enabled, connection.max_concurrency) == (False, 3)
    assert connection.credentials == {"api_key": "KEY-abcdef-123456"}


def test_put_is_not_offered(admin_client_api, connection):
    response = admin_client_api.put(f"/api/v1/connections/{connection.pk}/", create_body(), format="json")
    assert response.status_code == 405


def test_account_counts_by_status(admin_client_api, connection):
    for i, status in enumerate([AccountStatus.ACTIVE, AccountStatus.ACTIVE, AccountStatus.FAILED]):
        member = Member.objects.create(email=f"m{i}@example.org")
        Account.objects.create(member=member, connection=connection, status=status)
    body = admin_client_api.get(f"/api/v1/connections/{connection.pk}/").json()
    assert body["account_counts"] == {"active": 2, "failed": 1}


def test_delete_refuses_while_accounts_are_not_deprovisioned(admin_client_api, account):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.ACTIVE)
    url = f"/api/v1/connections/{account.connection_id}/"
    response = admin_client_api.delete(url)
    assert response.status_code == 409
    assert response.json()["code"] == "connection_has_accounts"
    assert response.json()["detail"] == (
        "This connection still holds 1 account that may exist at the provider (active: 1). Deprovision them "
        "first, or disable the connection instead."
    )

    Account.objects.filter(pk=account.pk).update(status=AccountStatus.DEPROVISIONED)
    assert admin_client_api.delete(url).status_code == 204
    assert not Connection.objects.filter(pk=account.connection_id).exists()


def test_check_requests_a_health_check_and_reports_it(admin_client_api, connection, fake_http):
    response = admin_client_api.post(f"/api/v1/connections/{connection.pk}/check/")
    assert response.status_code == 202
    operation = response.json()
    assert operation["kind"] == OperationKind.HEALTH_CHECK and operation["status"] == "queued"
    assert response["Location"].endswith(f"/api/v1/operations/{operation['id']}/")

    services.operation_execute(operation_id=operation["id"])
    health = admin_client_api.get(f"/api/v1/connections/{connection.pk}/").json()["health"]
    assert health["status"] == HealthStatus.OK
    assert health["checked_at"] is not None
    assert fake_http.calls[0].request.url == f"{FAKE_URL}/health_check"


def test_a_provider_without_a_health_check_says_so_in_the_health_detail(admin_client_api, install_providers):
    install_providers(XhoppeProvider)  # the real one, not this folder's stand-in
    shop = Connection.objects.create(provider="xhoppe", name="Shop", base_url="http://x.test/api/v1", credentials={})
    health = admin_client_api.get(f"/api/v1/connections/{shop.pk}/").json()["health"]
    assert health == {"status": "unknown", "checked_at": None, "detail": (
        "Xhoppe offers no way to check its health: its operations' outcomes show whether it works.")}


def test_check_on_a_provider_without_it_is_409(admin_client_api, connection, monkeypatch):
    from .conftest import FakeProvider

    monkeypatch.setattr(FakeProvider, "operations", frozenset({OperationKind.PROVISION}))
    response = admin_client_api.post(f"/api/v1/connections/{connection.pk}/check/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_supported"
    assert not Operation.objects.exists()


def test_unknown_connection_is_404(admin_client_api, db):
    assert admin_client_api.get("/api/v1/connections/999/").status_code == 404
    assert admin_client_api.post("/api/v1/connections/999/check/").status_code == 404


def test_new_credentials_drop_what_the_provider_cached_with_the_old_ones(admin_client_api, connection):
    connection.secret_state = {"domain_access_token": "DAT-of-the-old-project"}
    connection.save()
    url = f"/api/v1/connections/{connection.pk}/"

    admin_client_api.patch(url, {"enabled": True}, format="json")
    connection.refresh_from_db()
    assert connection.secret_state == {"domain_access_token": "DAT-of-the-old-project"}

    admin_client_api.patch(url, {"credentials": {"api_key": "KEY-of-another-project"}}, format="json")
    connection.refresh_from_db()
    assert connection.secret_state == {}


def test_a_pending_account_never_sent_is_deleted_with_its_connection(admin_client_api, account):
    assert admin_client_api.delete(f"/api/v1/connections/{account.connection_id}/").status_code == 204
    assert not Account.objects.exists()


def test_a_connection_that_had_batches_is_deleted_with_them(admin_client_api, account):
    from provisioning.models import Batch

    Batch.objects.create(connection=account.connection, requested_by="api:x")
    assert admin_client_api.delete(f"/api/v1/connections/{account.connection_id}/").status_code == 204
    assert not Batch.objects.exists()


def test_a_connection_with_more_operations_than_a_request_deletes_is_refused_with_what_to_do(
        admin_client_api, account, monkeypatch):
    """Django's deletion reads every row: a connection of a million accounts and five million
    operations would take minutes, and the server cuts a request off after 30 s, rolling it back."""
    from provisioning import selectors

    monkeypatch.setattr(selectors, "DELETE_OPERATIONS_LIMIT", 2)
    for _ in range(3):
        Operation.objects.create(kind="sync", status="succeeded", account=account, connection=account.connection,
                                 requested_by="api:x")
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.DEPROVISIONED)
    response = admin_client_api.delete(f"/api/v1/connections/{account.connection_id}/")
    assert response.status_code == 409 and response.json()["code"] == "connection_too_big"
    assert response.json()["detail"] == (
        "This connection has more than 2 operations on record: deleting them with it would take longer than a "
        "request may last. Disable the connection instead: it then sends nothing to its provider, and its history "
        "stays readable.")
    assert Connection.objects.filter(pk=account.connection_id).exists()


def test_a_connection_with_many_accounts_is_refused_without_counting_them_all(admin_client_api, connection, monkeypatch):
    from provisioning import selectors

    monkeypatch.setattr(selectors, "COUNT_LIMIT", 2)
    for i in range(3):
        Account.objects.create(member=Member.objects.create(email=f"k{i}@example.org"), connection=connection,
                               status=AccountStatus.ACTIVE)
    response = admin_client_api.delete(f"/api/v1/connections/{connection.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "This connection still holds more than 2 accounts that may exist at the provider. Deprovision them first, "
        "or disable the connection instead."
    )


def test_a_limit_of_zero_is_refused_with_what_to_do_instead(admin_client_api, connection):
    # the limits' code reads 0 as no limit: a 0 meant as "none" would have let every request through
    response = admin_client_api.post("/api/v1/connections/", create_body(max_concurrency=0, requests_per_minute=0),
                                     format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"max_concurrency", "requests_per_minute"}
    assert not Connection.objects.filter(name="Fake live").exists()
    response = admin_client_api.patch(f"/api/v1/connections/{connection.pk}/", {"max_concurrency": 0}, format="json")
    # the admin's words, not DRF's "Ensure this value is greater than or equal to 1."
    assert response.status_code == 400 and response.json() == {"max_concurrency": [
        "At least 1. Leave it empty for no limit; to send nothing, disable the connection."]}
    response = admin_client_api.patch(f"/api/v1/connections/{connection.pk}/", {"max_concurrency": None}, format="json")
    assert response.status_code == 200 and response.json()["max_concurrency"] is None
