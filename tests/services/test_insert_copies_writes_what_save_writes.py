"""``bulk.insert_copies`` writes exactly the row ``save()`` would write for its template (defaults,
timestamps, JSON and encrypted fields prepared by the fields themselves), but the varying columns."""

from django.db import DatabaseError, transaction
from django.forms.models import model_to_dict

from provisioning.bulk import insert_copies
from provisioning.models import Account, Member, Operation
from provisioning.services import Requester
from provisioning.services.operations import operation_new


def comparable(row, *, without=("id", "account", "created_at", "updated_at", "dispatched_at")):
    values = model_to_dict(row, fields=[f.name for f in type(row)._meta.concrete_fields])
    values["secret_input"] = row.secret_input  # not editable: model_to_dict leaves it out
    return {name: value for name, value in values.items() if name not in without}


def test_copies_of_an_operation_are_the_operation_save_writes_for_each_account(connection):
    members = Member.objects.bulk_create(Member(email=f"c{i}@example.org") for i in range(3))
    accounts = [Account.objects.create(member=m, connection=connection, external_id=f"x{m.pk}") for m in members]
    template = operation_new(kind="provision", account=None, connection=connection, batch=None,
                             input=({"plain": "v"}, {"code": "123456"}), requested_by=Requester("test:copies"))
    saved = operation_new(kind="provision", account=accounts[0], connection=connection, batch=None,
                          input=({"plain": "v"}, {"code": "123456"}), requested_by=Requester("test:copies"))
    saved.save()

    returned = insert_copies(template, ("account_id",), [(a.pk,) for a in accounts[1:]])

    copies = Operation.objects.exclude(pk=saved.pk).order_by("pk")
    assert sorted(pk for (pk,) in returned) == list(copies.values_list("pk", flat=True))
    assert [op.account_id for op in copies] == [a.pk for a in accounts[1:]]
    reference = comparable(Operation.objects.get(pk=saved.pk))
    for copy in copies:
        assert comparable(copy) == reference
        assert copy.secret_input == {"code": "123456"} and copy.created_at and copy.dispatched_at


def test_copies_of_an_account_take_their_member_and_remote_id(connection):
    members = Member.objects.bulk_create(Member(email=f"d{i}@example.org") for i in range(2))
    returned = insert_copies(Account(connection=connection), ("member_id", "external_id"),
                             [(m.pk, f"remote-{m.pk}") for m in members], returning=("pk", "member_id"))
    assert sorted(member for _, member in returned) == [m.pk for m in members]
    for account in Account.objects.filter(member__in=members):
        assert account.external_id == f"remote-{account.member_id}"
        assert account.status == "pending" and account.secrets == {} and account.details == {}
    assert insert_copies(Account(connection=connection), ("member_id", "external_id"), []) == []


def outcome(write) -> str:
    try:
        with transaction.atomic():
            write()
    except DatabaseError:
        return "refused"
    return "written"


def test_a_value_too_long_for_its_column_is_refused_as_save_refuses_it_never_cut(connection):
    first, second = Member.objects.bulk_create(Member(email=f"long{i}@example.org") for i in range(2))
    too_long = "x" * (Account._meta.get_field("external_id").max_length + 1)
    saved = outcome(lambda: Account.objects.create(member=first, connection=connection, external_id=too_long))
    copied = outcome(lambda: insert_copies(Account(connection=connection), ("member_id", "external_id"),
                                           [(second.pk, too_long)]))
    assert copied == saved  # PostgreSQL refuses both; SQLite keeps both whole
    assert set(Account.objects.values_list("external_id", flat=True)) <= {too_long}
