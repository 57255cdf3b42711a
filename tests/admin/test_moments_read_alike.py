"""A moment reads the same on every admin page: "2026-12-04 05:23:10 UTC" (change pages' dates,
an account's history, a list's time in its title), not Django's "Dec. 4, 2026, 5:23 a.m."."""

from datetime import datetime, timedelta, timezone

from django.urls import reverse

from provisioning import explain
from provisioning.models import Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus

MOMENT = datetime(2026, 12, 4, 5, 23, 10, tzinfo=timezone.utc)
WORDS = "2026-12-04 05:23:10 UTC"


def test_a_moment_reads_alike_on_the_operation_page_the_account_history_and_the_list(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    operation = Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=account,
                                         connection=account.connection, requested_by="t", finished_at=MOMENT)
    Operation.objects.filter(pk=operation.pk).update(created_at=MOMENT)
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert page.count(WORDS) >= 2 and "a.m." not in page  # created at, finished at
    history = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert f"<td>{WORDS}</td>" in history
    listing = admin_client.get(reverse("admin:provisioning_operation_changelist")).content.decode()
    assert f'title="{WORDS}">04 Dec 05:23</time>' in listing


def test_full_time_is_in_utc_whatever_the_moments_zone():
    assert explain.full_time(MOMENT) == WORDS
    assert explain.full_time(MOMENT.astimezone(timezone(timedelta(hours=8)))) == WORDS
