"""What the schedules do: sweep lost work, check health, reconcile, clean up."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..bulk import IdList
from ..models import (
    Connection, ExternalCall, IdempotencyRecord, InboundWebhook, Operation, RequestReservation, WebhookDelivery,
    WebhookDeliveryStatus, WebhookEvent,
)
from ..providers import registry
from ..selectors import operations_due
from ..states import UNFINISHED_OPERATION_STATUSES, OperationKind, OperationStatus
from . import slots
from .errors import ServiceError
from .operations import SCHEDULE, operation_request, operations_dispatch_on_commit
from .quarantine import connections_probe_due

logger = logging.getLogger(__name__)

# reservations older than this count in no budget (the longest window, GLPI's captchas, is an hour)
RESERVATION_RETENTION = timedelta(days=1)


def operations_sweep() -> int:
    """Dispatch again every operation that a lost message or a dead worker left behind.

    That is: queued ones not dispatched recently, retries that are due, and running ones whose
    lease expired (sent as a batch's are); those waiting for a slot of a connection whose slots
    are free; and the probe of every quarantined connection whose next probe is due. Held
    operations are not touched (they wait for a probe, a lift or a person). Claiming is atomic,
    so an operation that is in fact still moving is not run twice. Returns how many were sent.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PROVISIONING["REDISPATCH_AFTER_SECONDS"])
    due = operations_due(now)
    not_sent_lately = Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale)
    lease_expired = Q(status=OperationStatus.RUNNING, lease_expires_at__lte=now)
    lost = list(Operation.objects.filter(due & not_sent_lately | lease_expired).order_by("pk")
                .values_list("pk", flat=True))
    # sent as a batch's are: a message per DISPATCH_CHUNK, turned by a worker into messages of a
    # few, and those of a capped connection beyond its free slots put back in its queue, not
    # sent to be refused (a long queue at a slow provider comes back so, past its time)
    Operation.objects.filter(pk__in=IdList(lost)).update(dispatched_at=now)
    operations_dispatch_on_commit(lost)
    count = len(lost)
    if count:
        logger.info("sweeper dispatched %s operations", count)
    count += slots.connections_wake_free_slots()
    # quarantined connections whose next probe is due (a countdown task normally beats us to it)
    count += connections_probe_due()
    return count


def _request_for_enabled_connections(kind: str) -> int:
    count = 0
    for connection in Connection.objects.filter(enabled=True):
        provider = registry.all_providers().get(connection.provider)
        if provider is None or not provider.supports(kind):
            continue
        if connection.operations.filter(kind=kind, status__in=UNFINISHED_OPERATION_STATUSES).exists():
            continue
        try:
            operation_request(kind=kind, connection=connection, requested_by=SCHEDULE)
            count += 1
        except ServiceError as exc:
            logger.warning("schedule could not request %s for connection %s: %s", kind, connection.pk, exc)
    return count


def connections_health_check() -> int:
    return _request_for_enabled_connections(OperationKind.HEALTH_CHECK)


def connections_reconcile() -> int:
    return _request_for_enabled_connections(OperationKind.RECONCILE)


def records_clean_up() -> dict[str, int]:
    """Drop old exchange records, old webhook events and their deliveries (none still to be
    sent), old providers' webhooks, expired idempotency records and reservations past every window."""
    conf = settings.PROVISIONING
    now = timezone.now()
    calls, _ = ExternalCall.objects.filter(
        created_at__lt=now - timedelta(days=conf["CALL_RETENTION_DAYS"])
    ).delete()
    webhooks_before = now - timedelta(days=conf["WEBHOOK_RETENTION_DAYS"])
    events, deliveries = _events_delete(
        WebhookEvent.objects.filter(created_at__lt=webhooks_before)
        .exclude(deliveries__status=WebhookDeliveryStatus.PENDING)
    )
    inbound, _ = InboundWebhook.objects.filter(created_at__lt=webhooks_before).delete()
    keys, _ = IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(hours=conf["IDEMPOTENCY_TTL_HOURS"])
    ).delete()
    slots, _ = RequestReservation.objects.filter(reserved_at__lt=now - RESERVATION_RETENTION).delete()
    return {"external_calls": calls, "webhook_events": events, "webhook_deliveries": deliveries,
            "inbound_webhooks": inbound, "idempotency_records": keys, "request_reservations": slots}


def _events_delete(events, chunk: int = 2000) -> tuple[int, int]:
    """Delete ``events`` with their deliveries, ``chunk`` events at a time: Django reads the rows
    it deletes with their cascades, and months of events are millions. (events, deliveries)."""
    deleted_events = deleted_deliveries = 0
    while pks := list(events.values_list("pk", flat=True)[:chunk]):
        _, per_model = WebhookEvent.objects.filter(pk__in=pks).delete()
        deleted_events += per_model.get(WebhookEvent._meta.label, 0)
        deleted_deliveries += per_model.get(WebhookDelivery._meta.label, 0)
    return deleted_events, deleted_deliveries
