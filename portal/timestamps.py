"""Timestamps read from PostgreSQL by C code, as the rest of a row is.

Django (6.0, with psycopg 3) reads every ``timestamptz`` with a loader of its own, derived from
psycopg's pure-Python one: the optimised loaders of ``psycopg[binary]`` cannot be derived from,
so with them the rest of a row is parsed in C and its timestamps in Python (Django ticket
#36960). An operation read with its connection, account and member carries about twenty; on
the 2-core machine of the benchmarks, 100,000 timestamps took 1.31 s to fetch that way and
0.47 s with ``datetime.fromisoformat`` (implemented in C).

``connection_use_iso_timestamps`` (on ``connection_created``) gives each new PostgreSQL connection
a subclass of Django's loader that parses the text with ``fromisoformat`` and gives the instant in
the connection's time zone, as Django's does. What ``fromisoformat`` cannot read (a date before
year 1, ``infinity``, a ``DateStyle`` other than ISO) goes to Django's loader, which answers or
refuses it as before.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache


def connection_use_iso_timestamps(sender, connection, **kwargs) -> None:
    """Receiver of ``connection_created``: ``connection`` (a Django wrapper) reads its timestamps
    with ``iso_loader`` for its time zone, if it is PostgreSQL through psycopg 3."""
    if connection.vendor != "postgresql":
        return
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if is_psycopg3:
        connection.connection.adapters.register_loader("timestamptz", iso_loader(connection.timezone))


@lru_cache
def iso_loader(timezone):
    """A loader of ``timestamptz`` that reads ISO text in C and gives it ``timezone`` (Django's
    loader class for it, with a faster ``load``). One class per time zone; Django's cursors
    compare its ``timezone`` with the connection's and keep it."""
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    class IsoTzLoader(BaseTzLoader):
        def load(self, data):
            try:
                value = datetime.fromisoformat(bytes(data).decode())
            except ValueError:
                return super().load(data)
            if value.tzinfo is None:  # not a timestamptz's text
                return super().load(data)
            # the instant the text gives, in the connection's time zone (the text's offset is the
            # session's, which Django sets to it: converting costs nothing when they agree)
            return value.astimezone(self.timezone)

    IsoTzLoader.timezone = timezone
    return IsoTzLoader
