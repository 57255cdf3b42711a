"""Idempotency-Key: the first answer is replayed for the same request, a different request
with the same key is a 422, and "not now" answers (409, 429) leave the key free."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning.models import Account, IdempotencyRecord, Member, Operation
from provisioning.states import AccountStatus

from .conftest import account_in


def post_account(client, member, connection, key, **extra):
    return client.post(
        "/api/v1/accounts/", {"member": member.pk, "connection": connection.pk}, format="json",
        HTTP_IDEMPOTENCY_KEY=key, **extra,
    )


def test_same_key_and_body_replays_the_first_answer_without_acting_again(admin_client_api, member, connection):
    first = post_account(admin_client_api, member, connection, "key-1")
    again = post_account(admin_client_api, member, connection, "key-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Account.objects.count() == 1 and Operation.objects.count() == 1


def test_the_body_is_compared_as_json_not_as_bytes(admin_client_api, member, connection):
    post_account(admin_client_api, member, connection, "key-1")
    reordered = f'{{ "connection": {connection.pk},  "member": {member.pk} }}'
    again = admin_client_api.post(
        "/api/v1/accounts/", data=reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_with_a_different_body_is_422(admin_client_api, member, connection):
    post_account(admin_client_api, member, connection, "key-1")
    other = Member.objects.create(email="other@example.org")
    response = post_account(admin_client_api, other, connection, "key-1")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Account.objects.count() == 1


def test_same_key_on_another_path_is_422(admin_client_api, account):
    account_in(account, AccountStatus.ACTIVE)
    admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/", HTTP_IDEMPOTENCY_KEY="k")
    response = admin_client_api.delete(f"/api/v1/accounts/{account.pk}/", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422


def test_keys_belong_to_their_user(make_client, member, connection):
    perms = ("provisioning.add_account", "provisioning.provision_account")
    alice, bob = make_client(*perms), make_client(*perms)
    assert post_account(alice, member, connection, "shared").status_code == 202
    response = post_account(bob, member, connection, "shared")
    assert response.status_code == 409  # a real second attempt, not alice's replay
    assert response.json()["code"] == "account_exists"


def test_errors_of_the_request_itself_are_replayed_too(admin_client_api, connection):
    body = {"member": 9999, "connection": connection.pk}
    first = admin_client_api.post("/api/v1/accounts/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    again = admin_client_api.post("/api/v1/accounts/", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_409_does_not_use_up_the_key(admin_client_api, account):
    account_in(account, AccountStatus.ACTIVE)
    admin_client_api.post(f"/api/v1/accounts/{account.pk}/sync/")  # busy now
    busy = admin_client_api.post(f"/api/v1/accounts/{account.pk}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="k")
    assert busy.status_code == 409
    assert not IdempotencyRecord.objects.exists()
    Operation.objects.update(status="succeeded")
    later = admin_client_api.post(f"/api/v1/accounts/{account.pk}/rotate-secret/", HTTP_IDEMPOTENCY_KEY="k")
    assert later.status_code == 202
    assert not later.has_header("Idempotent-Replayed")


def test_delete_is_idempotent_with_a_key(admin_client_api, account):
    account_in(account, AccountStatus.ACTIVE)
    first = admin_client_api.delete(f"/api/v1/accounts/{account.pk}/", HTTP_IDEMPOTENCY_KEY="bye")
    again = admin_client_api.delete(f"/api/v1/accounts/{account.pk}/", HTTP_IDEMPOTENCY_KEY="bye")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert Operation.objects.count() == 1


def test_a_request_still_running_with_the_key_gets_409(admin_client_api, member, connection):
    first = post_account(admin_client_api, member, connection, "k")
    # as if the first request were still being processed: its record has no answer yet
    IdempotencyRecord.objects.filter(key="k").update(status_code=None, response_body=None)
    response = post_account(admin_client_api, member, connection, "k")
    assert first.status_code == 202
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert Account.objects.count() == 1


def test_records_expire_after_the_ttl(admin_client_api, member, connection):
    post_account(admin_client_api, member, connection, "old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post_account(admin_client_api, member, connection, "old")
    assert response.status_code == 409  # really executed again: the account exists now
    assert not response.has_header("Idempotent-Replayed")


@pytest.mark.parametrize("key", ["x" * 256, ""])
def test_a_key_too_long_or_empty_is_400(admin_client_api, member, connection, key):
    response = post_account(admin_client_api, member, connection, key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Account.objects.exists()


def test_a_key_of_255_characters_is_fine(admin_client_api, member, connection):
    assert post_account(admin_client_api, member, connection, "k" * 255).status_code == 202


def test_requests_without_a_key_are_not_recorded(admin_client_api, member, connection):
    response = admin_client_api.post("/api/v1/accounts/", {"member": member.pk, "connection": connection.pk}, format="json")
    assert response.status_code == 202
    assert not IdempotencyRecord.objects.exists()


def test_a_refused_request_is_not_recorded(make_client, member, connection):
    response = post_account(make_client(), member, connection, "k")
    assert response.status_code == 403
    assert not IdempotencyRecord.objects.exists()


def test_a_wrong_method_is_405_and_not_recorded(admin_client_api, account):
    response = admin_client_api.delete(f"/api/v1/accounts/{account.pk}/sync/", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 405
    assert not IdempotencyRecord.objects.exists()


def test_an_unexpected_error_releases_the_key(admin_client_api, member, connection, monkeypatch):
    from provisioning import services

    def explode(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(services, "account_create", explode)
    with pytest.raises(RuntimeError):
        post_account(admin_client_api, member, connection, "k")
    assert not IdempotencyRecord.objects.exists()
