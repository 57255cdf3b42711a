"""A batch costs the request no model instance and no query parameter per member: members,
accounts and operations go through it as ids and tuples, thousands of ids as one parameter
(``bulk.IdList``, ``bulk.insert_copies``), and a provider's remote id is derived from the member
fields it declares (``external_id_member_fields``), read once per chunk."""

import pytest
from django.db import connection as db
from django.db.models.signals import pre_init

from provisioning import selectors, services
from provisioning.bulk import IdList, insert_copies
from provisioning.models import Account, Connection, Member, Operation
from provisioning.providers import registry

STAFF = services.Requester("test:staff")


def members(n, prefix):
    return Member.objects.bulk_create(
        Member(email=f"{prefix}{i}@example.org", phone=f"+4479460{i:05d}") for i in range(n)
    )


def instances_made(action) -> int:
    """How many Member, Account and Operation instances ``action()`` builds."""
    made = []

    def count(sender, **kwargs):
        made.append(sender)

    for model in (Member, Account, Operation):
        pre_init.connect(count, sender=model)
    try:
        action()
    finally:
        for model in (Member, Account, Operation):
            pre_init.disconnect(count, sender=model)
    return len(made)


def test_a_batch_builds_no_model_instance_per_member(connection):
    few, many = members(2, "few"), members(60, "many")
    small = instances_made(lambda: services.batch_create(connection=connection, members=few, requested_by=STAFF))
    big = instances_made(lambda: services.batch_create(connection=connection, members=many, requested_by=STAFF))
    assert big == small
    assert Operation.objects.filter(account__member__in=many).count() == 60


def parameters_per_statement(action) -> list[int]:
    counted = []

    def count(execute, sql, params, many, context):
        counted.append(len(params or ()))
        return execute(sql, params, many, context)

    with db.execute_wrapper(count):
        action()
    return counted


def test_thousands_of_ids_are_one_query_parameter(db):
    chosen = members(30, "ids")
    wanted = [m.pk for m in chosen[::2]] + [10**9]
    found = Member.objects.filter(pk__in=IdList(wanted))
    assert sorted(found.values_list("pk", flat=True)) == sorted(m.pk for m in chosen[::2])
    assert parameters_per_statement(lambda: list(found.values_list("pk"))) == [1]
    assert list(Member.objects.filter(pk__in=IdList([])).values_list("pk")) == []


def test_copies_are_sent_with_as_many_parameters_for_forty_rows_as_for_two(connection):
    def copies(chosen):
        return parameters_per_statement(lambda: insert_copies(
            Account(connection=connection), ("member_id", "external_id"), [(m.pk, f"x{m.pk}") for m in chosen]))

    two, forty = copies(members(2, "two")), copies(members(40, "forty"))
    assert len(forty) == 1 and forty == two
    assert Account.objects.filter(external_id__startswith="x").count() == 42


@pytest.mark.parametrize("kind", sorted(registry.all_providers()))
def test_a_provider_reads_only_the_member_fields_it_declares_for_a_remote_id(db, kind, django_assert_num_queries):
    provider = registry.get(kind)
    member = members(1, f"{kind}-")[0]
    connection = Connection.objects.create(provider=kind, name=kind)
    account = Account(connection=connection, member=Member.objects.only(*provider.external_id_member_fields).get())
    assert account.member.pk == member.pk
    with django_assert_num_queries(0):  # a field it did not declare would be read now, one query per member
        assert provider(connection).external_id_for(account)


@pytest.mark.parametrize("kind", sorted(registry.all_providers()))
def test_a_batch_gives_each_account_the_remote_id_its_provider_derives(db, kind):
    provider = registry.get(kind)
    connection = Connection.objects.create(provider=kind, name=kind)
    chosen = members(3, f"{kind}-")
    Account.objects.create(member=chosen[0], connection=connection, status="failed")  # no remote id yet
    batch = services.batch_create(connection=connection, members=chosen, requested_by=STAFF)
    assert (batch.preview.new_count, batch.preview.again_count) == (2, 1)
    for account in Account.objects.filter(connection=connection).select_related("member"):
        assert account.external_id == provider(connection).external_id_for(account)


def test_a_member_deleted_while_its_batch_is_written_is_a_conflict_not_a_crash(db):
    from provisioning.services.batches import _external_ids

    connection = Connection.objects.create(provider="kandy", name="kandy")  # its remote id reads the email
    gone = members(1, "gone-")[0]
    gone_id = gone.pk
    gone.delete()  # after the batch listed its id, before its chunk was read: read as None
    with pytest.raises(services.Conflict) as refused:
        _external_ids(registry.get("kandy")(connection), [selectors.BatchMember(gone_id, None, None, "")])
    assert refused.value.code == "busy"


def test_a_chunk_reads_the_members_fields_once_for_the_rule_and_the_remote_ids(db):
    """Where the provider reads members' fields (Kandy: the email), a batch reads them once per
    chunk: for what a member lacks and for the remote ids, not again when the accounts are made."""
    from django.db import connection as database
    from django.test.utils import CaptureQueriesContext

    connection = Connection.objects.create(provider="kandy", name="kandy")
    chosen = members(3, "once-")
    with CaptureQueriesContext(database) as queries:
        services.batch_create(connection=connection, members=[m.pk for m in chosen],
                              requested_by=services.Requester("test"))
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and '"provisioning_member"."email"' in q["sql"]
             and 'FROM "provisioning_member"' in q["sql"]]
    assert len(reads) == 1, reads
    assert sorted(Account.objects.values_list("external_id", flat=True)) == sorted(
        registry.get("kandy")(connection).external_id_for(Account(connection=connection, member=m)) for m in chosen)
