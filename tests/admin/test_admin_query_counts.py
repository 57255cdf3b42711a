"""Pages cost the same number of queries with 2 rows as with 20: no query per row anywhere.

Each list and page is measured twice, after adding rows in between; the overview's figures are
measured uncached (the cache is cleared before each request).
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from provisioning.models import Account, Batch, Connection, ExternalCall, Member, Operation, SecretAccess
from provisioning.states import AccountStatus, OperationKind, OperationStatus

STATUSES = [
    AccountStatus.AWAITING_CAPTCHA,
    AccountStatus.AWAITING_VERIFICATION,
    AccountStatus.FAILED,
    AccountStatus.ACTIVE,
    AccountStatus.AWAITING_VALIDATION,
]


class World:
    """Rows of every kind, added ``n`` at a time, all on one member/connection/batch/account for
    the change pages (whose inlines and tables grow with them)."""

    def __init__(self, admin_user):
        self.admin_user = admin_user
        self.count = 0
        now = timezone.now()
        self.connection = Connection.objects.create(
            provider="snaptrade", name="Main", base_url="http://main.test", credentials={"client_id": "x"}, max_accounts=100
        )
        self.member = Member.objects.create(email="main@example.org", first_name="Main")
        self.account = Account.objects.create(member=self.member, connection=self.connection, status=AccountStatus.ACTIVE)
        self.batch = Batch.objects.create(connection=self.connection, requested_by="admin:x")
        self.operation = Operation.objects.create(
            kind=OperationKind.PROVISION, status=OperationStatus.SUCCEEDED, account=self.account,
            connection=self.connection, batch=self.batch, requested_by="admin:x", finished_at=now,
        )
        self.add(2)

    def add(self, n):
        now = timezone.now()
        for _ in range(n):
            i = self.count
            self.count += 1
            connection = Connection.objects.create(
                provider="snaptrade", name=f"C{i}", base_url="http://c.test", credentials={"client_id": "x"},
                quarantined_since=now if i % 2 else None, quarantine_reason="down" if i % 2 else "",
            )
            member = Member.objects.create(email=f"m{i}@example.org", first_name=f"M{i}")
            status = STATUSES[i % len(STATUSES)]
            account = Account.objects.create(
                member=member, connection=connection, status=status, attention="Drift: x" if i % 3 == 0 else "",
                last_error={"code": "quota_exceeded", "message": "full"} if status == AccountStatus.FAILED else None,
            )
            # the main member, connection and batch grow too
            main_account = Account.objects.create(member=self.member, connection=connection, status=status)
            Account.objects.create(member=member, connection=self.connection, status=status)
            for target, batch in ((account, None), (main_account, self.batch)):
                operation = Operation.objects.create(
                    kind=OperationKind.PROVISION, status=OperationStatus.FAILED if i % 2 else OperationStatus.SUCCEEDED,
                    account=target, connection=target.connection, batch=batch, requested_by="admin:x",
                    error_code="quota_exceeded" if i % 2 else "", finished_at=now - timedelta(days=i % 30),
                )
                ExternalCall.objects.create(operation=operation, connection=target.connection, method="POST", url="http://c.test/u")
            Operation.objects.create(
                kind=OperationKind.SYNC, status=OperationStatus.HELD if i % 2 else OperationStatus.QUEUED,
                account=Account.objects.create(
                    member=member, status=AccountStatus.ACTIVE,
                    connection=Connection.objects.create(provider="snaptrade", name=f"D{i}", base_url="http://d.test", credentials={}),
                ),
                connection=connection, requested_by="admin:x",
            )
            ExternalCall.objects.create(operation=self.operation, connection=self.connection, method="GET", url=f"http://main.test/{i}")
            Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=self.account,
                                     connection=self.connection, requested_by="admin:x", finished_at=now)
            SecretAccess.objects.create(account=account, user=self.admin_user, via="admin", keys=["user_secret"])
            Batch.objects.create(connection=connection, requested_by="admin:x")


def queries(client, url) -> int:
    cache.clear()
    with CaptureQueriesContext(db_connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


PAGES = {
    "overview": lambda w: reverse("admin:index"),
    **{
        f"{model} list": (lambda model: lambda w: reverse(f"admin:provisioning_{model}_changelist"))(model)
        for model in ("member", "connection", "account", "operation", "batch", "externalcall", "secretaccess")
    },
    "member page": lambda w: reverse("admin:provisioning_member_change", args=[w.member.pk]),
    "connection page": lambda w: reverse("admin:provisioning_connection_change", args=[w.connection.pk]),
    "account page": lambda w: reverse("admin:provisioning_account_change", args=[w.account.pk]),
    "operation page": lambda w: reverse("admin:provisioning_operation_change", args=[w.operation.pk]),
    "batch page": lambda w: reverse("admin:provisioning_batch_change", args=[w.batch.pk]),
}


@pytest.mark.parametrize("where", PAGES)
def test_queries_do_not_grow_with_the_rows(admin_client, admin_user, where):
    world = World(admin_user)
    url = PAGES[where](world)
    queries(admin_client, url)  # warm: permissions, content types, sessions
    with_2 = queries(admin_client, url)
    world.add(18)
    with_20 = queries(admin_client, url)
    print(f"{where}: {with_2} queries with 2 rows, {with_20} with 20")
    assert with_20 == with_2, f"{where}: {with_2} queries with 2 rows, {with_20} with 20"

