"""What a worker spends on each task besides the task itself: a worker thread keeps its PostgreSQL
connection from one task to the next, as a web process does between requests (a new connection per
task, Celery's default with Django, costs PostgreSQL more CPU than all of the task's queries); and
the log has the portal's lines for an operation, not Celery's two more per task."""

import pytest
from django.db import connection

from provisioning import services
from provisioning.models import Member, Operation
from tests.integration.support import wait_until_finished

pytestmark = pytest.mark.integration

PROVISIONINGS = 20


def sessions_ended() -> int:
    """Sessions of the test database that have ended so far (PostgreSQL counts them at exit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_tasks_reuse_the_worker_threads_database_connections(snaptrade, celery_worker_process):
    worker = celery_worker_process(concurrency=2, pool="threads")
    before = sessions_ended()

    members = Member.objects.bulk_create(Member(email=f"reuse-{i}@example.org") for i in range(PROVISIONINGS))
    batch = services.batch_create(connection=snaptrade.connection, members=members,
                                  requested_by=services.Requester("test"))
    for operation in Operation.objects.filter(batch=batch):
        assert wait_until_finished(operation).status == "succeeded"

    # one task per provisioning: a connection closed after each would have ended 20 sessions
    assert sessions_ended() - before < PROVISIONINGS / 2

    log = worker.log()
    assert log.count("operation end id=") == PROVISIONINGS
    assert " received" not in log and "succeeded in" not in log
