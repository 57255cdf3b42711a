"""/metrics and the connections' account counts read snapshots taken in the background."""

from datetime import timedelta

from django.utils import timezone

from provisioning import services
from provisioning.models import Account, CountSnapshot, Member, Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus

NAME = "operations_by_status_and_kind"


def provision(connection, status=OperationStatus.SUCCEEDED):
    return Operation.objects.create(kind=OperationKind.PROVISION, status=status, connection=connection, requested_by="x")


def test_a_missing_snapshot_is_counted_and_kept(connection):
    provision(connection)
    assert services.counts_current(name=NAME) == {("succeeded", "provision"): 1}
    assert CountSnapshot.objects.get(name=NAME).counts == [["succeeded", "provision", 1]]


def test_a_fresh_snapshot_is_read_not_counted(connection, django_assert_num_queries):
    provision(connection)
    services.counts_refresh()
    provision(connection, OperationStatus.FAILED)
    with django_assert_num_queries(1):
        assert services.counts_current(name=NAME) == {("succeeded", "provision"): 1}
    services.counts_refresh()  # what beat does every COUNTS_REFRESH_INTERVAL_SECONDS
    assert services.counts_current(name=NAME) == {("succeeded", "provision"): 1, ("failed", "provision"): 1}


def test_a_snapshot_older_than_the_max_age_is_counted_again(connection, settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "COUNTS_MAX_AGE_SECONDS": 30}
    provision(connection)
    services.counts_refresh()
    CountSnapshot.objects.update(taken_at=timezone.now() - timedelta(seconds=31))
    provision(connection)
    assert services.counts_current(name=NAME) == {("succeeded", "provision"): 2}


def test_accounts_are_counted_by_connection_and_status(connection):
    for i, status in enumerate([AccountStatus.ACTIVE, AccountStatus.ACTIVE, AccountStatus.FAILED]):
        Account.objects.create(member=Member.objects.create(email=f"c{i}@example.org"), connection=connection, status=status)
    counts = services.counts_current(name="accounts_by_connection_and_status")
    assert counts == {(connection.pk, "active"): 2, (connection.pk, "failed"): 1}
