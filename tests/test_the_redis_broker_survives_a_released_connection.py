"""When Redis goes away, the consumer closes its channel and kombu gives the unacknowledged messages
back through a new pool, which reads the host from the connection. If the connection was already
released, that read was an ``AttributeError``: the worker stopped for good (seen once in the test of
Redis down for 20 s). ``portal.redis_broker`` makes it a connection error, which the closing ignores."""

from types import SimpleNamespace

import pytest
from kombu.transport import redis as kombu_redis

from portal import redis_broker


def test_a_pool_asked_of_a_released_connection_is_a_connection_error_the_close_ignores():
    released = SimpleNamespace(connection=SimpleNamespace(client=None))

    with pytest.raises(AttributeError):  # kombu's own
        kombu_redis.Channel._connparams(released)
    with pytest.raises(redis_broker.Transport.connection_errors) as raised:
        redis_broker.Channel._connparams(released)
    assert "released" in str(raised.value)
