"""Outbound webhooks (Standard Webhooks): the outbox, deliveries, their retries, endpoints.

Events are rows (``WebhookEvent``) written **in the transaction of the change they describe**,
with one ``WebhookDelivery`` per subscribed, enabled endpoint: a rollback leaves none, a commit
leaves them for a worker even if the process dies before the after-commit dispatch (the
sweeper, ``webhook_deliveries_sweep``, sends every due or lost delivery). Delivery is at least
once, with the event's stable id as ``webhook-id`` so receivers can drop duplicates. An event
nobody subscribes to is not written at all.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from ..models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from ..states import AccountStatus
from ..webhooks import net
from .errors import InvalidRequest

logger = logging.getLogger(__name__)

EVENT_TYPES = tuple(WebhookEventType.values)
# a countdown longer than this is left to the sweeper (broker visibility timeouts are an hour)
LONGEST_COUNTDOWN_SECONDS = 600.0
NEEDS_PERSON_STATUSES = (
    AccountStatus.AWAITING_CAPTCHA,
    AccountStatus.AWAITING_VERIFICATION,
    AccountStatus.AWAITING_VALIDATION,
)


def _conf():
    return settings.PROVISIONING


# --- what an event says: the resource as the API shows it --------------------------------------

def _jsonable(data) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def account_data(account) -> dict:
    from ..api.serializers import AccountSerializer

    return _jsonable(AccountSerializer(account).data)


def operation_data(operation) -> dict:
    from ..api.serializers import OperationSerializer

    return _jsonable(OperationSerializer(operation).data)


def batch_data(batch) -> dict:
    from ..api.serializers import BatchSerializer

    return _jsonable(BatchSerializer(batch).data)


def connection_data(connection) -> dict:
    from ..api.serializers import ConnectionSerializer

    return _jsonable(ConnectionSerializer(connection).data)


# --- the outbox -------------------------------------------------------------------------------

def _subscribers(event_type: str) -> list[int]:
    # events is a small JSON list: filtered in Python (JSON containment differs across databases)
    return [
        pk
        for pk, events in WebhookEndpoint.objects.filter(enabled=True).values_list("pk", "events")
        if event_type in (events or [])
    ]


def event_record(event_type: str, data) -> WebhookEvent | None:
    """Write ``event_type`` with ``data()`` (called only when someone subscribes) in the current
    transaction, with its deliveries, and dispatch them after commit."""
    endpoints = _subscribers(event_type)
    if not endpoints:
        return None
    event = WebhookEvent.objects.create(type=event_type, payload=data() if callable(data) else data)
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event, endpoint_id=pk, next_attempt_at=event.created_at) for pk in endpoints]
    )
    ids = [d.pk for d in deliveries if d.pk] or list(
        WebhookDelivery.objects.filter(event=event).values_list("pk", flat=True)
    )
    transaction.on_commit(lambda: [_dispatch(pk) for pk in ids])
    return event


def _dispatch(delivery_id: int, countdown: float | None = None) -> None:
    from .. import tasks

    WebhookDelivery.objects.filter(pk=delivery_id).update(dispatched_at=timezone.now())
    try:
        tasks.webhook_delivery_send.apply_async((delivery_id,), countdown=countdown)
    except Exception:  # no broker: the sweeper sends it
        logger.warning("could not queue webhook delivery %s; the sweeper will", delivery_id, exc_info=True)


# --- hooks called by the services that make the changes ---------------------------------------

def operation_finished(operation, account, *, before_status: str | None, before_attention: str | None) -> None:
    """``operation.finished``, the account.* event its outcome means, and ``batch.finished``."""
    operations_finished([(operation, account, {"before_status": before_status, "before_attention": before_attention})])


def operations_finished(finished: list[tuple]) -> None:
    """``operation_finished`` for each ``(operation, account, {"before_status": ...,
    "before_attention": ...})``, with one look for an endpoint to tell, and each batch once."""
    if not finished or not WebhookEndpoint.objects.filter(enabled=True).exists():
        return
    batches = []
    for operation, account, before in finished:
        event_record(WebhookEventType.OPERATION_FINISHED, lambda operation=operation: operation_data(operation))
        kind = _account_event(account, **before) if account is not None else None
        if kind is not None:
            event_record(kind, lambda account=account: account_data(account))
        if operation.batch_id and operation.batch_id not in batches:
            batches.append(operation.batch_id)
    for batch_id in batches:
        batch_maybe_finished(batch_id)


def _account_event(account, *, before_status: str | None, before_attention: str | None) -> str | None:
    """The account.* event an operation's outcome means for ``account``, if any."""
    status = account.status
    kind = None
    if status != before_status:
        kind = {
            AccountStatus.ACTIVE: WebhookEventType.ACCOUNT_ACTIVE,
            AccountStatus.FAILED: WebhookEventType.ACCOUNT_FAILED,
            AccountStatus.DEPROVISIONED: WebhookEventType.ACCOUNT_DEPROVISIONED,
        }.get(status)
        if status in NEEDS_PERSON_STATUSES:
            kind = WebhookEventType.ACCOUNT_NEEDS_PERSON
    if kind is None and account.attention and account.attention != (before_attention or ""):
        kind = WebhookEventType.ACCOUNT_NEEDS_PERSON
    return kind


def batch_maybe_finished(batch_id: int) -> None:
    from ..models import Batch, Operation
    from ..states import UNFINISHED_OPERATION_STATUSES

    if not _subscribers(WebhookEventType.BATCH_FINISHED):
        return
    # the batch's row lock serialises the last operations finishing together: the last sees 0
    batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None or Operation.objects.filter(batch_id=batch_id, status__in=UNFINISHED_OPERATION_STATUSES).exists():
        return
    event_record(WebhookEventType.BATCH_FINISHED, lambda: batch_data(batch))


def account_changed(account, *, before_status: str) -> None:
    """An account changed outside an operation (a provider's webhook, a pending deletion)."""
    if account.status == before_status:
        return
    kind = {
        AccountStatus.DEPROVISIONED: WebhookEventType.ACCOUNT_DEPROVISIONED,
        AccountStatus.ACTIVE: WebhookEventType.ACCOUNT_ACTIVE,
        AccountStatus.FAILED: WebhookEventType.ACCOUNT_FAILED,
    }.get(account.status)
    if kind:
        event_record(kind, lambda: account_data(account))


def connection_health_changed(connection) -> None:
    event_record(WebhookEventType.CONNECTION_HEALTH_CHANGED, lambda: connection_data(connection))


def connection_quarantined(connection) -> None:
    event_record(WebhookEventType.CONNECTION_QUARANTINED, lambda: connection_data(connection))


def connection_quarantine_lifted(connection) -> None:
    event_record(WebhookEventType.CONNECTION_QUARANTINE_LIFTED, lambda: connection_data(connection))


# --- endpoints --------------------------------------------------------------------------------

def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_endpoint(*, url: str, events: list[str]) -> None:
    errors = {}
    try:
        net.check_url(url)
    except net.UnsafeURL as exc:
        errors["url"] = [str(exc)]
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        errors["events"] = [f"Unknown event types: {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})."]
    elif not events:
        errors["events"] = ["Choose at least one event type."]
    if errors:
        raise InvalidRequest("The webhook endpoint is not valid.", field_errors=errors)


def webhook_endpoint_create(*, owner, url: str, events: list[str], enabled: bool = True,
                            description: str = "") -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (the only time the secret is returned)."""
    check_endpoint(url=url, events=events)
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        owner=owner, url=url, events=list(dict.fromkeys(events)), enabled=enabled,
        description=description, secret={"secret": secret},
    )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    url = changes.get("url", endpoint.url)
    events = changes.get("events", endpoint.events)
    if "url" in changes or "events" in changes:
        check_endpoint(url=url, events=events)
    for name in ("url", "events", "enabled", "description"):
        if name in changes:
            setattr(endpoint, name, list(dict.fromkeys(changes[name])) if name == "events" else changes[name])
    if changes.get("enabled"):  # enabled again by a person: a fresh start
        endpoint.failing_since = None
        endpoint.disabled_reason = ""
    endpoint.save()
    if changes.get("enabled"):
        transaction.on_commit(webhook_deliveries_sweep)
    return endpoint


# --- sending ----------------------------------------------------------------------------------

def retry_delay(attempts: int) -> float | None:
    """Seconds before the next attempt after ``attempts`` failed ones; ``None``: give up."""
    schedule = _conf()["WEBHOOK_RETRY_SCHEDULE_SECONDS"]
    return schedule[attempts - 1] if attempts - 1 < len(schedule) else None


def event_body(event: WebhookEvent) -> str:
    return json.dumps(
        # the API's own spelling of a moment (DRF's: ISO 8601, "Z" for UTC)
        {"type": event.type, "timestamp": event.created_at.isoformat().replace("+00:00", "Z"), "data": event.payload},
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )


def signed_headers(*, secret: str, event_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(dt_timezone.utc)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
        "Content-Type": "application/json",
        "User-Agent": "provisioning-portal-webhooks/1.1",
    }


def _claim(delivery_id: int, *, now) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING or not delivery.endpoint.enabled:
            return None
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None
        if delivery.lease_expires_at and delivery.lease_expires_at > now:
            return None  # another worker is sending it
        delivery.attempts += 1
        delivery.lease_expires_at = now + timedelta(seconds=_conf()["WEBHOOK_LEASE_SECONDS"])
        delivery.save(update_fields=["attempts", "lease_expires_at"])
    return delivery


def webhook_delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt of a delivery (what the Celery task does); ``None`` when not due or taken."""
    now = timezone.now()
    delivery = _claim(delivery_id, now=now)
    if delivery is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    secret = endpoint.signing_secret
    body = event_body(event)
    headers = signed_headers(secret=secret, event_id=event.id, body=body)
    result = net.post(endpoint.url, body.encode(), headers,
                      redact=lambda text: text.replace(secret, "***") if secret else text)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        now = timezone.now()
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        delivery.last_duration_ms = result.duration_ms
        delivery.response_excerpt = result.excerpt
        delivery.last_attempt_at = now
        delivery.lease_expires_at = None
        if result.ok:
            delivery.status = WebhookDeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            if locked.failing_since:
                locked.failing_since = None
                locked.save(update_fields=["failing_since", "updated_at"])
        else:
            delay = retry_delay(delivery.attempts)
            if delay is None:
                delivery.status = WebhookDeliveryStatus.FAILED
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            _endpoint_failed(locked, now=now)
        delivery.save()
    logger.info(
        "webhook delivery id=%s event=%s attempt=%s status=%s %s",
        delivery.pk, event.id, delivery.attempts, result.status_code, result.error,
    )
    if delivery.status == WebhookDeliveryStatus.PENDING and delivery.next_attempt_at:
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        if wait <= LONGEST_COUNTDOWN_SECONDS:
            _dispatch(delivery.pk, countdown=max(wait, 0))
    return delivery


def _endpoint_failed(endpoint: WebhookEndpoint, *, now) -> None:
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since", "updated_at"])
        return
    limit = _conf()["WEBHOOK_DISABLE_AFTER_SECONDS"]
    if endpoint.enabled and (now - endpoint.failing_since).total_seconds() >= limit:
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"Disabled at {now:%Y-%m-%d %H:%M} UTC: every delivery failed since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
        )
        endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        logger.warning("webhook endpoint %s disabled after failing since %s", endpoint.pk, endpoint.failing_since)
        _tell_owner(endpoint)


def _tell_owner(endpoint: WebhookEndpoint) -> None:
    email = getattr(endpoint.owner, "email", "")
    if not email:
        return
    subject = "[portal] Your webhook endpoint was disabled"
    body = (
        f"The portal stopped sending webhooks to {endpoint.url}: {endpoint.disabled_reason}\n\n"
        "Deliveries not made are kept. Fix the receiver, then enable the endpoint again (API: PATCH "
        "/api/v1/webhooks/{id}/ with enabled=true, or the admin); pending deliveries are then sent."
    )

    def send():
        from .. import tasks

        try:
            tasks.webhook_owner_notify.delay(email, subject, body)
        except Exception:  # no broker: tell the owner from here
            webhook_owner_notify(email=email, subject=subject, body=body)

    transaction.on_commit(send)


def webhook_owner_notify(*, email: str, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=False)


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (by hand), whatever became of it; same event id."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDeliveryStatus.PENDING, next_attempt_at=timezone.now(), lease_expires_at=None
    )
    transaction.on_commit(lambda: _dispatch(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_sweep() -> int:
    """Dispatch every pending delivery that is due and not recently sent (a lost message, a dead
    worker, a retry too far ahead for a countdown). Returns how many."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PROVISIONING["REDISPATCH_AFTER_SECONDS"])
    due = WebhookDelivery.objects.filter(
        status=WebhookDeliveryStatus.PENDING,
        endpoint__enabled=True,
        next_attempt_at__lte=now,
    ).filter(
        (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale) | Q(dispatched_at__lt=F_next()))
    )
    count = 0
    for pk in due.values_list("pk", flat=True)[:1000]:
        _dispatch(pk)
        count += 1
    if count:
        logger.info("webhook sweeper dispatched %s deliveries", count)
    return count


def F_next():  # noqa: N802 - a retry due after its last dispatch was never sent for it
    from django.db.models import F

    return F("next_attempt_at")
