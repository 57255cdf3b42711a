"""The mass-deletion guard: no connection loses many accounts at once without a person saying so.

One rule, one function (``mass_deletion_reason``), used in two places:

- **Deprovisioning** (``operation_request``, whatever asked: the admin's bulk action, a loop of
  ``DELETE /api/v1/accounts/{id}/``, a script): the deprovisions of a connection requested in
  the last hour are counted, this one included. Beyond the threshold the operation is created
  ``held`` with ``needs_confirmation`` and a sentence saying why; nothing is sent until a person
  confirms it (``operation_confirm``: the admin, or ``POST /api/v1/operations/{id}/confirm/``).
- **Reconciliation** stays non-destructive: it never deprovisions, it flags accounts whose
  remote user is gone (``Account.attention``). But a reconcile that would flag more accounts
  than the threshold at once (the usual cause: the connection points at another provider
  account or an emptied sandbox, not that hundreds of users left) applies nothing: the
  reconcile operation is held for confirmation with a sentence saying how many and why.
  Confirming runs it again and applies what it finds then, without the guard.

Threshold: more than ``max(MASS_DELETION_MIN_ACCOUNTS, MASS_DELETION_FRACTION x the connection's
accounts that are not deprovisioned)`` per connection and hour (defaults: 20 and 10 %).
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..models import Connection, Operation
from ..states import AccountStatus, OperationKind, OperationStatus

WINDOW = timedelta(hours=1)


def mass_deletion_threshold(connection: Connection) -> int:
    """How many accounts of ``connection`` may go within an hour without a person's confirmation."""
    conf = settings.PROVISIONING
    accounts = connection.accounts.exclude(status=AccountStatus.DEPROVISIONED).count()
    return max(conf["MASS_DELETION_MIN_ACCOUNTS"], math.floor(conf["MASS_DELETION_FRACTION"] * accounts))


def mass_deletion_reason(connection: Connection, count: int, *, reconcile: bool = False) -> str | None:
    """``None`` when ``count`` removals at ``connection`` are within the threshold; else the sentence
    a held operation shows ("awaiting confirmation: 27 deprovisions at X in the last hour ...")."""
    allowed = mass_deletion_threshold(connection)
    if count <= allowed:
        return None
    if reconcile:
        return (
            f"awaiting confirmation: this reconciliation would flag {count} accounts at {connection} as gone "
            f"from the provider, more than the {allowed} allowed without a person's confirmation "
            "(confirming runs it again and applies what it finds)"
        )
    return (
        f"awaiting confirmation: {count} deprovisions at {connection} in the last hour is more than the "
        f"{allowed} allowed without a person's confirmation"
    )


def recent_deprovisions(connection: Connection) -> int:
    """Deprovisions of ``connection`` requested in the last hour, not cancelled."""
    return (
        Operation.objects.filter(
            connection=connection, kind=OperationKind.DEPROVISION, created_at__gte=timezone.now() - WINDOW
        )
        .exclude(status=OperationStatus.CANCELLED)
        .count()
    )


def deprovision_guard(connection: Connection) -> str | None:
    """Whether one more deprovision at ``connection`` needs a person (the caller holds its row lock)."""
    return mass_deletion_reason(connection, recent_deprovisions(connection) + 1)


def reconcile_guard(connection: Connection, account_attention: dict[int, str]) -> str | None:
    """Whether a reconcile that would set these flags needs a person first."""
    flagged = sum(1 for message in account_attention.values() if message)
    return mass_deletion_reason(connection, flagged, reconcile=True)
