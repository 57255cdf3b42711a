"""An operation's "Progress" shows what applies to its state: when it is tried again and when
retries stop while it waits, when another worker takes it over while it runs; a finished one
showed "Retry deadline" and "Lease expires at: —" as well."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from provisioning.models import Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus

ROWS = ("Next attempt at:", "Retries stop at:", "If its worker stops, taken over at:")


@pytest.mark.parametrize(
    "status, shown",
    [
        (OperationStatus.SUCCEEDED, ()),
        (OperationStatus.FAILED, ()),
        (OperationStatus.WAITING_RETRY, ("Next attempt at:", "Retries stop at:")),
        (OperationStatus.RUNNING, ("Retries stop at:", "If its worker stops, taken over at:")),
        (OperationStatus.HELD, ("Retries stop at:",)),
    ],
)
def test_the_progress_rows_follow_the_state(admin_client, make_account, status, shown):
    account = make_account(AccountStatus.ACTIVE)
    soon = timezone.now() + timedelta(minutes=5)
    operation = Operation.objects.create(
        kind=OperationKind.SYNC, status=status, account=account, connection=account.connection, requested_by="t",
        next_attempt_at=soon, retry_deadline=soon, lease_expires_at=soon,
    )
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert [row for row in ROWS if row in page] == list(shown)
    assert "Retry deadline" not in page and "Lease expires" not in page
