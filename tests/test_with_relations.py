"""``bulk.with_relations``: what ``select_related`` (and ``select_for_update(of=("self",))``)
reads, in a statement written once."""

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from provisioning import bulk
from provisioning.models import Account, Connection, Member, Operation

pytestmark = pytest.mark.django_db


def _fields(instance):
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.fixture
def operations():
    connection_ = Connection.objects.create(provider="snaptrade", name="c", base_url="http://x.test",
                                            credentials={"clientId": "id", "consumerKey": "secret"})
    member = Member.objects.create(email="m@example.org", external_ref="r-1", first_name="Zoë")
    account = Account.objects.create(member=member, connection=connection_, secrets={"userSecret": "s"},
                                     details={"nested": [1, None]})
    return [
        Operation.objects.create(connection=connection_, account=account, kind="provision", input={"a": 1},
                                 secret_input={"password": "p"},
                                 next_attempt_at=datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)),
        Operation.objects.create(connection=connection_, kind="health_check"),  # no account
    ]


def test_it_reads_what_select_related_reads_and_caches_the_relations(operations):
    ids = [operation.pk for operation in reversed(operations)]
    expected = list(Operation.objects.select_related("connection", "account__member").filter(pk__in=ids).order_by("pk"))

    with CaptureQueriesContext(connection) as queries:
        read = bulk.with_relations(Operation, ids, ("connection", "account__member"))
        related = [(op.connection, op.account, op.account.member if op.account else None) for op in read]

    assert len(queries) == 1  # the relations came with the operations
    assert [op.pk for op in read] == [op.pk for op in expected]
    for got, want, (got_connection, got_account, got_member) in zip(read, expected, related):
        assert _fields(got) == _fields(want)
        assert _fields(got_connection) == _fields(want.connection)
        assert (got_account is None) == (want.account is None)
        if got_account is not None:
            assert _fields(got_account) == _fields(want.account)
            assert _fields(got_member) == _fields(want.account.member)
        assert got._state.adding is False and got._state.db == "default"
    assert read[0].secret_input == {"password": "p"} and read[0].connection.credentials["consumerKey"] == "secret"


def test_with_lock_only_the_models_own_rows_are_locked(operations):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        bulk.with_relations(Operation, [operations[0].pk], ("connection",), lock=True)

    if connection.features.has_select_for_update_of:
        assert queries[0]["sql"].endswith("FOR UPDATE OF t0")


def test_no_ids_no_statement():
    with CaptureQueriesContext(connection) as queries:
        assert bulk.with_relations(Operation, [], ("connection",), lock=True) == []
    assert len(queries) == 0  # a group of health checks has no account to read


def test_a_path_that_is_not_a_forward_relation_is_refused():
    with pytest.raises(ValueError, match="calls"):
        bulk.with_relations(Operation, [1], ("calls",))
