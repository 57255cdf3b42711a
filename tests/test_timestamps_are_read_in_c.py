"""PostgreSQL's timestamps are read with ``datetime.fromisoformat`` (C), not with psycopg's
pure-Python loader that Django's derives from, and read the same (``portal.timestamps``)."""

import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader, register_tzloader

from portal.timestamps import iso_loader

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL loader")]

TIMESTAMPS = """
    SELECT timestamptz '2026-12-01 12:00:00.5+00' - (n * 1.7 || ' seconds')::interval FROM generate_series(1, 50) n
    UNION ALL SELECT timestamptz '2026-03-29 01:30:00+00'
    UNION ALL SELECT timestamptz '1900-01-01 00:00:00+05:53:28'
    UNION ALL SELECT timestamptz '0001-01-01 00:00:00+00'
    UNION ALL SELECT timestamptz '9999-12-31 23:59:59.999999+00'
    UNION ALL SELECT NULL
"""


def rows(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def test_a_connection_reads_its_timestamps_with_the_iso_loader():
    connection.ensure_connection()
    with connection.cursor() as cursor:  # Django's cursor keeps it: same time zone
        loader = cursor.connection.adapters.get_loader(1184, 0)  # timestamptz, text

    assert loader is iso_loader(connection.timezone)
    assert issubclass(loader, BaseTzLoader)


def test_the_iso_loader_reads_what_djangos_reads():
    connection.ensure_connection()
    ours = rows(TIMESTAMPS)
    register_tzloader(connection.timezone, connection.connection)  # Django's own, for this connection
    try:
        djangos = rows(TIMESTAMPS)
    finally:
        connection.connection.adapters.register_loader("timestamptz", iso_loader(connection.timezone))

    assert ours == djangos
    assert [value.tzinfo for value in ours if value] == [value.tzinfo for value in djangos if value]
    assert ours[-1] is None


def test_what_iso_text_cannot_say_is_refused_as_django_refuses_it():
    with pytest.raises(DataError, match="before year 1"):
        rows("SELECT timestamptz '0044-03-15 12:00:00+00 BC'")


def test_a_session_in_another_time_zone_reads_the_same_instants():
    """The text's offset is converted, not replaced: a session whose ``TimeZone`` is not the
    connection's (set by hand) still reads the instant it stores."""
    from datetime import datetime, timezone

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Kolkata'")
    try:
        [value] = rows("SELECT timestamptz '2026-12-01 12:00:00+00'")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE %s", [connection.timezone_name])

    assert value == datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert value.utcoffset().total_seconds() == 0  # in the connection's time zone (UTC)
