"""``bulk.count_by``: what the ORM's grouped count returns, in a statement not compiled each time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from provisioning import bulk
from provisioning.models import Connection, Operation
from provisioning.states import OperationStatus

pytestmark = pytest.mark.django_db


def _operation(connection_, status, lease_in_seconds):
    return Operation.objects.create(connection=connection_, kind="health_check", status=status,
                                    lease_expires_at=timezone.now() + timedelta(seconds=lease_in_seconds))


def test_rows_are_counted_per_value_among_those_that_match():
    first, second, third = (Connection.objects.create(provider="snaptrade", name=f"c{i}", base_url="http://x.test")
                            for i in range(3))
    _operation(first, OperationStatus.RUNNING, 60)
    _operation(first, OperationStatus.RUNNING, 60)
    _operation(first, OperationStatus.RUNNING, -60)  # its lease expired
    _operation(first, OperationStatus.QUEUED, 60)  # not running
    _operation(second, OperationStatus.RUNNING, 60)
    _operation(third, OperationStatus.RUNNING, 60)  # not asked for
    now = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        counts = bulk.count_by(Operation, "connection_id", [first.pk, second.pk], status=OperationStatus.RUNNING,
                               lease_expires_at__gt=now)

    assert counts == {first.pk: 2, second.pk: 1} and len(queries) == 1
    assert counts == dict(
        Operation.objects.filter(connection_id__in=[first.pk, second.pk], status=OperationStatus.RUNNING,
                                 lease_expires_at__gt=now)
        .order_by().values("connection_id").annotate(n=Count("pk")).values_list("connection_id", "n")
    )


def test_nothing_matching_counts_nothing():
    assert bulk.count_by(Operation, "connection_id", [], status=OperationStatus.RUNNING) == {}


def test_a_lookup_it_does_not_know_is_refused_rather_than_read_as_an_equality():
    with pytest.raises(ValueError, match="lease_expires_at__lt"):
        bulk.count_by(Operation, "connection_id", [1], lease_expires_at__lt=timezone.now())
