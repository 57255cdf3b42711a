"""The API's account and operation lists and pages show no credential and no secret input: they
do not read (and decrypt) them either, row after row. An account's own secrets are read, for the
names in ``secrets_set``; a member's accounts, shown in short, are read without them."""

import pytest

from provisioning import crypto, services
from provisioning.models import Account, Operation

STAFF = services.Requester("test:staff")


@pytest.fixture
def decrypted(monkeypatch):
    texts = []
    decrypt = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda value: texts.append(decrypt(value)) or texts[-1])
    return texts


@pytest.fixture
def operation(account):
    Account.objects.filter(pk=account.pk).update(secrets={"user_secret": "s3cr3t"})
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    Operation.objects.filter(pk=operation.pk).update(secret_input={"code": "123456"})
    return operation


@pytest.mark.parametrize("path", ["/api/v1/accounts/", "/api/v1/accounts/{account}/",
                                  "/api/v1/operations/", "/api/v1/operations/{operation}/"])
def test_a_list_or_page_reads_no_credential_and_no_secret_input(admin_client_api, operation, decrypted, path):
    response = admin_client_api.get(path.format(account=operation.account_id, operation=operation.pk))

    assert response.status_code == 200
    assert not [text for text in decrypted if "KEY-abcdef" in text or "123456" in text]
    if "accounts" in path:
        assert "user_secret" in str(response.json())  # its secrets' names, read for secrets_set


@pytest.mark.parametrize("path", ["/api/v1/members/", "/api/v1/members/{member}/"])
def test_the_members_list_or_page_decrypts_nothing(admin_client_api, operation, decrypted, path):
    """A member's accounts are shown in short (connection, provider, state): neither their secrets
    nor their connections' credentials are read."""
    response = admin_client_api.get(path.format(member=operation.account.member_id))

    assert response.status_code == 200
    body = response.json()
    (account,) = (body["results"][0] if "results" in body else body)["accounts"]
    assert (account["id"], account["provider"]) == (operation.account_id, operation.connection.provider)
    assert decrypted == []
