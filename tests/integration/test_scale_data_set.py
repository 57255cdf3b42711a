"""The scale data set (``manage.py generate_scale_data``) on PostgreSQL: valid rows, made once,
and the admin's estimated counts over it."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from provisioning.admin.paging import list_count
from provisioning.models import Account, Batch, Connection, ExternalCall, Member, Operation
from provisioning.states import UNFINISHED_OPERATION_STATUSES

pytestmark = pytest.mark.django_db(transaction=True)  # the command ends with VACUUM ANALYZE


def generate(accounts=40) -> str:
    out = StringIO()
    call_command("generate_scale_data", accounts=accounts, stdout=out)
    return out.getvalue()


def test_the_data_set_is_made_once_in_proportion():
    generate()
    counts = [m.objects.count() for m in (Member, Account, Operation, ExternalCall, Batch, Connection)]
    assert counts == [20, 40, 200, 80, 1, 10]
    assert "nothing to do" in generate()
    assert [m.objects.count() for m in (Member, Account, Operation, ExternalCall, Batch, Connection)] == counts
    # a realistic spread, and the rules the database does not check hold too
    assert Operation.objects.values("status").distinct().count() >= 3
    assert Operation.objects.filter(batch__isnull=False).count() == 40
    for operation in Operation.objects.select_related("account"):
        assert operation.connection_id == operation.account.connection_id
    unfinished = Operation.objects.filter(status__in=UNFINISHED_OPERATION_STATUSES)
    assert unfinished.values("account").distinct().count() == unfinished.count()


def test_the_admin_opens_what_it_made(admin_client):
    generate()
    account = Account.objects.order_by("pk")[7]
    operation = account.operations.order_by("pk").first()
    for url in (
        reverse("admin:provisioning_account_change", args=[account.pk]),
        reverse("admin:provisioning_operation_change", args=[operation.pk]),
        reverse("admin:provisioning_member_change", args=[account.member_id]),
        reverse("admin:provisioning_operation_changelist") + "?status__exact=failed",
        reverse("admin:provisioning_account_changelist") + f"?q={account.member.email.upper()}",
        reverse("admin:provisioning_member_changelist") + "?country=FR",
        reverse("admin:provisioning_externalcall_changelist") + "?answer=2xx",
        reverse("admin:provisioning_batch_changelist"),
        reverse("admin:index"),
    ):
        assert admin_client.get(url).status_code == 200, url
    found = admin_client.get(reverse("admin:provisioning_account_changelist") + f"?q={account.member.email.upper()}")
    assert account in found.context["cl"].result_list  # the email search index answers on PostgreSQL too


def test_the_api_pages_by_cursor_on_postgresql(admin_client):
    generate()
    seen, url = [], "/api/v1/operations/?status=succeeded&page_size=40"
    while url:
        page = admin_client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == list(Operation.objects.filter(status="succeeded").order_by("-id").values_list("pk", flat=True))
    for url in ("/api/v1/connections/", "/api/v1/batches/", "/metrics"):
        assert admin_client.get(url).status_code == 200, url


def test_counts_beyond_the_bound_are_the_planners_estimate():
    generate()
    n, exact = list_count(Operation.objects.all(), bound=10)
    assert not exact and 100 <= n <= 400  # statistics, not a count: near the 200 rows
    assert list_count(Operation.objects.filter(pk__lt=0), bound=10) == (0, True)


def test_another_data_set_is_refused():
    generate(accounts=20)
    with pytest.raises(Exception, match="Another scale data set"):
        generate(accounts=40)
