"""``bulk.update_rows``: several rows' fields in one UPDATE, on both databases."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning import bulk
from provisioning.models import Account, Connection, Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    connection_ = Connection.objects.create(provider="snaptrade", name="c", base_url="http://x.test")
    return [Account.objects.create(member=Member.objects.create(email=f"m{i}@example.org"), connection=connection_,
                                   secrets={"old": i}) for i in range(3)]


def test_shared_and_differing_values_are_written_in_one_statement(accounts):
    for i, account in enumerate(accounts):
        account.status = "active"  # shared
        account.external_id = f"remote-{i}"  # differs
        account.details = {"n": i, "nested": {"list": [i, None]}}
        account.secrets = {"secret": f"value-{i}"}  # encrypted
        account.attention = "" if i else "look at me"
        account.last_error = None

    with CaptureQueriesContext(connection) as queries:
        written = bulk.update_rows(accounts, ["status", "external_id", "details", "secrets", "attention", "last_error"])

    assert written == 3 and len(queries) == 1
    for i, account in enumerate(Account.objects.order_by("pk")):
        assert (account.status, account.external_id) == ("active", f"remote-{i}")
        assert account.details == {"n": i, "nested": {"list": [i, None]}}
        assert account.secrets == {"secret": f"value-{i}"}
        assert account.attention == ("" if i else "look at me") and account.last_error is None


def test_binary_values_that_differ_are_written(accounts):
    for i, account in enumerate(accounts):
        account.challenge_image = bytes([i, 0, 255])
    accounts[2].challenge_image = None

    bulk.update_rows(accounts, ["challenge_image"])

    images = [None if a.challenge_image is None else bytes(a.challenge_image) for a in Account.objects.order_by("pk")]
    assert images == [bytes([0, 0, 255]), bytes([1, 0, 255]), None]


def test_only_the_instances_given_are_written(accounts):
    accounts[0].external_id, accounts[1].external_id = "a", "b"

    bulk.update_rows(accounts[:2], ["external_id"])

    assert list(Account.objects.order_by("pk").values_list("external_id", flat=True)) == ["a", "b", ""]


def test_columns_are_written_by_primary_key_without_instances(accounts):
    """``update_columns``: a list gives each row its own value (in the order of the keys), any
    other value is shared; the rows not named are left alone."""
    pks = [accounts[2].pk, accounts[0].pk]

    with CaptureQueriesContext(connection) as queries:
        written = bulk.update_columns(Account, pks, {"external_id": ["third", "first"], "status": "active"})

    assert written == 2 and len(queries) == 1
    rows = list(Account.objects.order_by("pk").values_list("external_id", "status"))
    assert rows == [("first", "active"), ("", accounts[1].status), ("third", "active")]
    assert bulk.update_columns(Account, [], {"status": "active"}) == 0
