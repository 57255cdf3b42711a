"""Webhooks providers send (inbound), and deletions a provider only queued (SnapTrade).

A webhook is checked by its connection's provider (``Provider.webhook_receiver``: signature,
age), recorded as an ``InboundWebhook`` (headers and body redacted), and each event is applied
once, here, in the transaction that records it. An id already accepted for the connection (a
provider delivering again because our answer got lost, or a replay) is not applied again: the
unique constraint decides, so two copies arriving together cannot both pass. It is still answered
200, as the Standard Webhooks convention asks of a duplicate, so that the provider stops sending it.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Account, Connection, InboundWebhook
from ..providers import registry
from ..providers.base import ProviderEvent, WebhookRefused
from ..providers.exceptions import ProviderError
from ..states import UNFINISHED_OPERATION_STATUSES, AccountStatus, OperationKind
from . import webhooks
from .errors import ServiceError
from .operations import SCHEDULE, operation_request

logger = logging.getLogger(__name__)

KEPT_HEADERS = ("content-type", "user-agent", "x-request-id", "signature")
MASK = "***"


def account_remote_deletion_finish(*, account: Account, via: str) -> bool:
    """``deprovisioning`` -> ``deprovisioned`` for an account whose queued remote deletion is done.

    Only an account waiting for it (``details.remote_deletion == "queued"``) with no operation
    under way; ``account`` must be locked by the caller. Returns whether it changed.
    """
    from .execution import account_set_status

    if account.status != AccountStatus.DEPROVISIONING or account.details.get("remote_deletion") != "queued":
        return False
    if account.operations.filter(status__in=UNFINISHED_OPERATION_STATUSES).exists():
        return False
    before = account.status
    account_set_status(account, AccountStatus.DEPROVISIONED)
    account.details = {
        **account.details,
        "remote_deletion": "deleted",
        "remote_deleted_at": timezone.now().isoformat(),
        "remote_deletion_confirmed_by": via,
    }
    account.save()
    logger.info("account %s deprovisioned: remote deletion confirmed by %s", account.pk, via)
    webhooks.account_changed(account, before_status=before)
    return True


def _redact(provider, body: bytes, headers: dict[str, str]) -> tuple[dict, str]:
    kept = {}
    for name, value in headers.items():
        if name.lower() in KEPT_HEADERS:
            kept[name] = MASK if name.lower() == "signature" else value[:200]
    limit = settings.PROVISIONING["RECORDED_BODY_CHARS"]
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return kept, body[:limit].decode("utf-8", "replace")
    if isinstance(data, dict):
        data = {k: (MASK if k in provider.webhook_secret_names else v) for k, v in data.items()}
    return kept, json.dumps(data, sort_keys=True)[:limit]


def inbound_webhook_receive(*, connection_id: int, body: bytes, headers: dict[str, str],
                            remote_addr: str | None = None) -> tuple[int, dict]:
    """What the public receiver answers: ``(status code, JSON body)``. Never raises for bad input."""
    connection = Connection.objects.filter(pk=connection_id).first()
    provider_class = registry.all_providers().get(connection.provider) if connection else None
    if connection is None or provider_class is None or not provider_class.receives_webhooks:
        return 404, {"detail": "No webhook receiver here."}
    provider = provider_class(connection)
    recorded_headers, recorded_body = _redact(provider_class, body, headers)
    record = {"connection": connection, "request_headers": recorded_headers, "request_body": recorded_body,
              "remote_addr": remote_addr or None}
    try:
        events = provider.webhook_receiver(body, headers)
    except WebhookRefused as refused:
        InboundWebhook.objects.create(**record, webhook_id=refused.webhook_id, event_type=refused.type,
                                      accepted=False, status_code=refused.status_code, detail=refused.message)
        logger.warning("inbound webhook refused connection=%s: %s", connection.pk, refused.message)
        return refused.status_code, {"detail": refused.message}
    except Exception:  # a receiver's bug is not the sender's 500
        logger.exception("webhook receiver of connection %s crashed", connection.pk)
        InboundWebhook.objects.create(**record, accepted=False, status_code=400, detail="unreadable webhook")
        return 400, {"detail": "The webhook could not be read."}
    answers = []
    for event in events:
        try:
            with transaction.atomic():
                inbound = InboundWebhook.objects.create(
                    **record, webhook_id=event.webhook_id, event_type=event.type, accepted=True, status_code=200,
                )
                inbound.applied = _apply(connection, event)
                inbound.detail = inbound.applied.get("detail", "")
                inbound.save(update_fields=["applied", "detail"])
            answers.append({"webhookId": event.webhook_id, "received": True})
        except IntegrityError:
            InboundWebhook.objects.create(**record, webhook_id=event.webhook_id, event_type=event.type, accepted=False,
                                          status_code=200, detail="duplicate: already received, not applied again")
            logger.warning("inbound webhook duplicate ignored connection=%s id=%s", connection.pk, event.webhook_id)
            answers.append({"webhookId": event.webhook_id, "received": True, "duplicate": True,
                            "detail": "already received: not applied again"})
    return 200, {"events": answers}


def _apply(connection: Connection, event: ProviderEvent) -> dict:
    if event.action not in ("user_deleted", "user_registered") or not event.user_id:
        return {"detail": f"{event.type or 'event'} recorded; nothing to apply"}
    account = Account.objects.select_for_update().filter(connection=connection, external_id=event.user_id).first()
    if account is None:
        return {"detail": f"no account of this connection has user {event.user_id}"}
    if event.action == "user_registered":
        account.details = {**account.details, "remote_registered_confirmed_at": timezone.now().isoformat()}
        account.save(update_fields=["details", "updated_at"])
        return {"account": account.pk, "detail": "registration confirmed"}
    if account_remote_deletion_finish(account=account, via=f"{event.type} webhook {event.webhook_id}"):
        return {"account": account.pk, "status": account.status, "detail": "deletion confirmed: deprovisioned"}
    return {"account": account.pk, "status": account.status,
            "detail": f"the account is {account.status}, not waiting for a deletion: nothing changed"}


def accounts_finish_pending_deletions() -> int:
    """For each enabled connection with accounts waiting for a queued remote deletion (and a
    provider that lists its users), request a reconcile, which finishes the accounts whose user
    is gone. How connections without webhooks get there. Returns how many were requested."""
    count = 0
    pending = (
        Account.objects.filter(status=AccountStatus.DEPROVISIONING, details__remote_deletion="queued",
                               connection__enabled=True)
        .values_list("connection_id", flat=True)
        .distinct()
    )
    for connection in Connection.objects.filter(pk__in=list(pending)):
        provider = registry.all_providers().get(connection.provider)
        if provider is None or not provider.supports(OperationKind.RECONCILE):
            continue
        if connection.operations.filter(kind=OperationKind.RECONCILE, status__in=UNFINISHED_OPERATION_STATUSES).exists():
            continue
        try:
            operation_request(kind=OperationKind.RECONCILE, connection=connection, requested_by=SCHEDULE)
            count += 1
        except (ServiceError, ProviderError) as exc:
            logger.warning("could not request a reconcile of connection %s: %s", connection.pk, exc)
    return count
