"""Counts of the big tables, taken in the background and read by ``/metrics`` and the API.

A ``GROUP BY`` over five million operations reads every one of them (a second or more): too
much for each ``/metrics`` scrape or connections list. ``counts_refresh`` (scheduled every
``COUNTS_REFRESH_INTERVAL_SECONDS`` by beat) stores each grouped count as a ``CountSnapshot``
row in the database, which every web process shares; ``counts_current`` reads it, and counts
anew (storing the result) only when it is missing or older than ``COUNTS_MAX_AGE_SECONDS``
(beat not running). Readers see counts at most that old.

Why not a cache: the default cache is per process, and a scrape every 15 s would find it
expired each time. Why not counters kept by the services: every status change of every worker
would update the same few rows, serialising the workers on their locks.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .. import selectors
from ..models import CountSnapshot

COUNTS = {
    "operations_by_status_and_kind": selectors.operations_count_by_status_and_kind,
    "accounts_by_connection_and_status": selectors.accounts_count_by_connection_and_status,
}


def counts_refresh(*, names=None) -> dict[str, dict[tuple, int]]:
    """Count each of ``names`` (all by default) now and store the snapshots; returns them."""
    taken = {}
    for name in names or COUNTS:
        counts = COUNTS[name]()
        CountSnapshot.objects.update_or_create(
            name=name, defaults={"counts": [[*key, n] for key, n in counts.items()], "taken_at": timezone.now()}
        )
        taken[name] = counts
    return taken


def counts_current(*, name: str) -> dict[tuple, int]:
    """``{key: n}`` of the snapshot ``name``, counted anew when missing or too old."""
    max_age = timedelta(seconds=settings.PROVISIONING["COUNTS_MAX_AGE_SECONDS"])
    snapshot = CountSnapshot.objects.filter(name=name, taken_at__gte=timezone.now() - max_age).first()
    if snapshot is None:
        return counts_refresh(names=[name])[name]
    return {tuple(row[:-1]): row[-1] for row in snapshot.counts}
