"""What ``/readyz`` and ``/metrics`` report (the views are in ``provisioning/views.py``)."""

from __future__ import annotations

import logging

from django.db import connection as db_connection

from .. import selectors, services
from ..models import Connection

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3.0


def _database_ready() -> tuple[bool, str]:
    try:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready"; the type says enough
        logger.warning("readyz: database not reachable: %s", type(exc).__name__)
        return False, f"unreachable ({type(exc).__name__})"
    return True, "ok"


def _broker_ready() -> tuple[bool, str]:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("readyz: broker not reachable: %s", type(exc).__name__)
        return False, f"unreachable ({type(exc).__name__})"
    return True, "ok"


CHECKS = {"database": _database_ready, "broker": _broker_ready}


def readiness() -> tuple[bool, dict]:
    """``(ready, {"status", "checks": {name: detail}})``; messages never hold URLs or passwords."""
    results = {name: check() for name, check in CHECKS.items()}
    ready = all(ok for ok, _ in results.values())
    return ready, {
        "status": "ok" if ready else "unavailable",
        "checks": {name: detail for name, (_, detail) in results.items()},
    }


def _label_value(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric(name: str, help_text: str, samples: dict[tuple, int], labels: tuple[str, ...]) -> list[str]:
    samples, labels = _without_names(samples, labels)
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for values, count in sorted(samples.items(), key=lambda item: tuple(map(str, item[0]))):
        rendered = ",".join(f'{label}="{_label_value(v)}"' for label, v in zip(labels, values))
        lines.append(f"{name}{{{rendered}}} {count}")
    return lines


def _without_names(samples: dict[tuple, int], labels: tuple[str, ...]):
    """Series labelled by connection id only: the ``connection`` (name) label dropped."""
    from django.conf import settings

    if settings.METRICS_CONNECTION_NAMES or "connection" not in labels:
        return samples, labels
    i = labels.index("connection")
    return {key[:i] + key[i + 1:]: n for key, n in samples.items()}, labels[:i] + labels[i + 1:]


def metrics_text() -> str:
    """Prometheus text exposition format (version 0.0.4). Operations and accounts are counted in
    the background (``services.counts_current``): at most ``COUNTS_MAX_AGE_SECONDS`` old."""
    names = dict(Connection.objects.values_list("pk", "name"))
    calls = {
        (connection_id, names.get(connection_id, ""), status_class): n
        for (connection_id, status_class), n in selectors.external_calls_count_by_connection_and_status_class(
            seconds=300
        ).items()
    }
    lines = [
        *_metric(
            "portal_operations",
            "Operations by status and kind.",
            services.counts_current(name="operations_by_status_and_kind"),
            ("status", "kind"),
        ),
        *_metric(
            "portal_accounts",
            "Accounts by status and provider.",
            selectors.accounts_count_by_status_and_provider(
                services.counts_current(name="accounts_by_connection_and_status")
            ),
            ("status", "provider"),
        ),
        *_metric(
            "portal_external_calls_last_5m",
            "Calls to providers in the last 5 minutes by connection and HTTP status class "
            '("none": no answer).',
            calls,
            ("connection_id", "connection", "status_class"),
        ),
        *_metric(
            "portal_connection_quarantined",
            "1 while a connection is quarantined (its operations are held), else 0.",
            selectors.connections_quarantined(),
            ("connection_id", "connection"),
        ),
        *_metric(
            "portal_operations_held",
            'Held operations by connection and what they wait for ("quarantine" or "confirmation").',
            selectors.operations_held_by_connection(),
            ("connection_id", "connection", "awaiting"),
        ),
    ]
    return "\n".join(lines) + "\n"
