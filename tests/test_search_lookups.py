"""``__any_of``: the ids a search finds first go to PostgreSQL as one array, not a placeholder
each (parsing a thousand placeholders cost the driver more than the query took); and
``__istartswith_range``, an email's beginning in any case (``provisioning/lookups.py``)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning.models import Account, Connection, Member


@pytest.fixture
def accounts(db):
    connection_ = Connection.objects.create(provider="kandy", name="k", base_url="http://k.test/v1.2")
    return [Account.objects.create(member=Member.objects.create(email=f"m{n}@example.org"), connection=connection_)
            for n in range(3)]


def test_it_finds_what_in_finds_with_one_parameter(accounts):
    wanted = [accounts[0].pk, accounts[2].pk, 10**9]
    with CaptureQueriesContext(connection) as queries:
        found = sorted(Account.objects.filter(pk__any_of=wanted).values_list("pk", flat=True))
        members = sorted(Account.objects.filter(member_id__any_of=[accounts[1].member_id])
                         .values_list("pk", flat=True))  # a foreign key's too
    assert found == sorted(Account.objects.filter(pk__in=wanted).values_list("pk", flat=True)) == wanted[:2]
    assert members == [accounts[1].pk]
    if connection.vendor == "postgresql":
        assert all(" = ANY(" in query["sql"] and " IN (" not in query["sql"] for query in queries)


def test_none_finds_nothing_without_a_query(accounts):
    with CaptureQueriesContext(connection) as queries:
        assert list(Account.objects.filter(pk__any_of=[])) == []
    assert len(queries) == 0
    # beside another condition, as a search's "or its remote id is the term"
    from django.db.models import Q
    assert list(Account.objects.filter(Q(member_id__any_of=[]) | Q(pk=accounts[0].pk))) == [accounts[0]]


def test_an_emails_beginning_is_found_in_any_case_and_nothing_past_it(db):
    # on PostgreSQL a range of the upper-cased emails (lookups.IStartsWithRange): its end is the
    # beginning with its last character the next one, "AN" -> "AO"; "A_" sorts after "AZ"
    emails = ["Ann@x.org", "anna@x.org", "anz@x.org", "an_b@x.org", "AN@x.org", "ao@x.org", "am@x.org", "a_b@x.org"]
    for email in emails:
        Member.objects.create(email=email)

    def found(term):
        return set(Member.objects.filter(email__istartswith_range=term).values_list("email", flat=True))

    assert found("aN") == {"Ann@x.org", "anna@x.org", "anz@x.org", "an_b@x.org", "AN@x.org"}
    assert found("az") == set()
    assert found("A_") == {"a_b@x.org"}


def test_an_emails_beginning_is_found_from_another_table(accounts):
    # the accounts of those members, in one query: the range named the members' table, which
    # PostgreSQL knows under another name in a subquery (it failed: "invalid reference to
    # FROM-clause entry for table provisioning_member")
    members = Member.objects.filter(email__istartswith_range="M1").values("pk")
    assert list(Account.objects.filter(member_id__in=members)) == [accounts[1]]
    assert list(Account.objects.filter(member__email__istartswith_range="m2")) == [accounts[2]]
