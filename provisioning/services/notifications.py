"""Telling staff by email: a connection was quarantined, a quarantine ended.

Messages are composed when the event happens (in the caller's transaction) and sent after
commit by a Celery task (``tasks.staff_notify``): never inside a transaction, never holding up
the worker that hit the event. Recipients: active staff users with an email address who hold
``provisioning.manage_connection``, and superusers (``selectors.staff_to_notify``).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from .. import selectors

logger = logging.getLogger(__name__)


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "—"


def _provider(connection) -> str:
    """" (SnapTrade)" after a connection's name, unless the name says it already."""
    return f" ({connection.provider_beside_name})" if connection.provider_beside_name else ""


def _send_after_commit(subject: str, body: str) -> None:
    def send():
        from .. import tasks

        try:
            tasks.staff_notify.delay(subject, body)
        except Exception:  # no broker: tell staff from here rather than not at all
            logger.warning("could not queue a staff email; sending it from this process", exc_info=True)
            staff_notify(subject=subject, body=body)

    transaction.on_commit(send)


def quarantine_started(connection, *, by: str) -> None:
    next_probe = (
        f"The portal tries again with one request at {_when(connection.next_probe_at)}, then at growing "
        "intervals, and lifts the quarantine at the first success."
        if connection.next_probe_at
        else "It was imposed by hand: nothing is tried until a person lifts it."
    )
    body = (
        f"The connection '{connection}'{_provider(connection)} is quarantined since "
        f"{_when(connection.quarantined_since)}.\n\n"
        f"Why: {connection.quarantine_reason}\n\n"
        "Its operations are held: they are not sent, and they use up neither attempts nor their "
        f"retry horizon while they wait.\n{next_probe}\n\n"
        "The connection's page in the admin shows its state and lets you lift the quarantine."
    )
    _send_after_commit(f"[portal] {connection} is quarantined", body)


def quarantine_ended(connection, *, since, reason: str, why: str, by: str, released: int) -> None:
    body = (
        f"The quarantine of the connection '{connection}'{_provider(connection)} ended: {why}.\n\n"
        f"It had started at {_when(since)} ({reason}).\n"
        f"{released} held operations are released gradually, a few at a time."
    )
    _send_after_commit(f"[portal] {connection} is back", body)


def staff_notify(*, subject: str, body: str) -> int:
    """Send one email to the staff who look after connections; returns how many were addressed."""
    recipients = selectors.staff_to_notify()
    if not recipients:
        logger.warning("no staff to tell (no active staff with manage_connection and an email): %s", subject)
        return 0
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
    logger.info("staff notified subject=%r recipients=%s", subject, len(recipients))
    return len(recipients)
