"""The integration environment is the real thing: PostgreSQL behind Django, a live Redis."""

import os

import pytest
import redis
from django.db import connection

pytestmark = pytest.mark.integration


@pytest.mark.django_db
def test_django_talks_to_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("select current_database(), version()")
        database, version = cursor.fetchone()
    assert database.startswith("test_")  # pytest-django's test database, not the server's own
    assert version.startswith("PostgreSQL ")


def test_redis_answers_ping():
    with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
        assert client.ping() is True
