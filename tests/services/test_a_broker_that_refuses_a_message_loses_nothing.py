"""The broker is only a wake-up call: when it refuses an ``operations_execute`` message, the
request or the worker that sent it goes on, and the sweeper sends the operations again."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from provisioning import services, tasks
from provisioning.models import Account, Member, Operation
from provisioning.services import slots

STAFF = services.Requester("test:staff")


def test_a_refused_message_is_logged_and_its_operations_are_swept_again(
    connection, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    accounts = [Account.objects.create(member=Member.objects.create(email=f"m{i}@example.org"), connection=connection)
                for i in range(3)]
    ids = [services.operation_request(kind="provision", account=a, requested_by=STAFF).pk for a in accounts]

    def refuse(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(tasks.operations_execute, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        slots.send_in_slot_groups(ids)

    assert "the sweeper will send them again" in caplog.text
    Operation.objects.filter(pk__in=ids).update(dispatched_at=timezone.now() - timedelta(minutes=5))
    sent = []
    monkeypatch.setattr(tasks.operations_dispatch, "apply_async", lambda args, **kwargs: sent.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.operations_sweep() == 3
    assert sent == [sorted(ids)]
