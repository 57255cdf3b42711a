"""A connection set up with wrong credentials, whose provider refused every request as coming
from someone it does not know (a wrong key), holds accounts that exist nowhere: they do not keep it (or their members) from
being deleted. Any sign that a request may have done something keeps them, as before."""

import pytest

from provisioning import services
from provisioning.models import Account, Connection, ExternalCall, Member, Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.services.conftest import BASE

STAFF = services.Requester("test:staff")


@pytest.fixture
def refused(account, http):
    """``account``'s provisioning, refused with 401 (the connection's key is wrong)."""
    http.post(f"{BASE}/users", status=401, json={"detail": "bad key"})
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    account.refresh_from_db()
    assert operation.status == OperationStatus.FAILED and operation.attempts == 1
    assert account.status in (AccountStatus.FAILED, AccountStatus.PENDING)
    return operation


def test_accounts_the_provider_refused_every_time_do_not_keep_their_connection(refused, connection, member, http):
    # a second try, and a deprovisioning to clean up, refused alike
    http.delete(f"{BASE}/users/{refused.account.external_id}", status=403, json={"detail": "forbidden"})
    services.operation_execute(operation_id=services.operation_request(
        kind="provision", account=refused.account, requested_by=STAFF).pk)

    services.connection_delete(connection=connection)

    assert not Connection.objects.filter(pk=connection.pk).exists() and not Account.objects.exists()
    assert not Member.objects.get(pk=member.pk).has_accounts


def test_nor_their_member(refused, member):
    services.member_delete(member=member)
    assert not Member.objects.filter(pk=member.pk).exists()


@pytest.mark.parametrize("doubt", [
    "a request went unanswered",  # it may have reached the provider
    "a request was answered otherwise",
    "an operation was tried twice",  # a worker may have died during an attempt whose call is not recorded
    "its requests are no longer recorded",  # older than the records kept: what they were is not known
    "an operation succeeded",
])
def test_any_doubt_keeps_them(refused, connection, doubt):
    if doubt == "a request went unanswered":
        ExternalCall.objects.create(operation=refused, connection=connection, method="POST", url=f"{BASE}/users",
                                    status_code=None, error="unknown_outcome: ReadTimeout")
    elif doubt == "a request was answered otherwise":
        ExternalCall.objects.filter(operation=refused).update(status_code=500, error="transient: Kandy answered HTTP 500.")
    elif doubt == "an operation was tried twice":
        Operation.objects.filter(pk=refused.pk).update(attempts=2)
    elif doubt == "its requests are no longer recorded":
        Operation.objects.create(kind="provision", account=refused.account, connection=connection,
                                 status=OperationStatus.FAILED, attempts=1, requested_by="test:staff")
    else:
        Operation.objects.create(kind="sync", account=refused.account, connection=connection,
                                 status=OperationStatus.SUCCEEDED, attempts=1, requested_by="test:staff")

    with pytest.raises(services.Conflict):
        services.connection_delete(connection=connection)
    assert Account.objects.filter(pk=refused.account.pk).exists()


def test_a_refusal_in_the_providers_own_words_counts_too(member, http):
    """Kandy says "invalid key" in an HTTP 200 (its envelope's status 1)."""
    kandy = Connection.objects.create(provider="kandy", name="Kandy typo", base_url="https://api.kandy.test/v1.2",
                                      credentials={"api_key": "wrong", "api_secret": "wrong"})
    http.get("https://api.kandy.test/v1.2/domains/accesstokens", json={"status": 1, "message": "invalid key"})
    account = Account.objects.create(member=member, connection=kandy)
    operation = services.operation_request(kind="provision", account=account, requested_by=STAFF)
    services.operation_execute(operation_id=operation.pk)
    assert ExternalCall.objects.get().status_code == 200

    services.connection_delete(connection=kandy)

    assert not Account.objects.exists()


def test_the_delete_pages_say_why_those_accounts_may_go(refused, connection, member, admin_client):
    from django.urls import reverse

    for url in (reverse("admin:provisioning_connection_delete", args=[connection.pk]),
                reverse("admin:provisioning_member_delete", args=[member.pk])):
        page = admin_client.get(url).content.decode()
        assert ("Of its accounts, 1 is pending or failed: it exists nowhere at the provider, since no request for it "
                "went out, or the provider refused each one as coming from a caller it does not know.") in page
