"""The production broker: kombu's Redis transport, with one client object per channel.

kombu's Redis transport (5.7) builds a new ``redis.Redis`` client object for every message it
sends and every one it acknowledges, over the same connection pool; building one copies
redis-py's table of 169 reply parsers (120 µs). py-spy found it in 6.5 % of a busy worker's
samples. A client over a pool is safe to share between threads (each command takes a connection
of the pool), so a channel here keeps one, made again if the channel's pool is (after a fork).

``portal.broker.serve_broker_urls`` makes it the transport of ``redis://`` and ``rediss://`` URLs.
kombu's module needs ``packaging``, which kombu does not declare: ``requirements.txt`` pins it.
"""

from __future__ import annotations

from kombu.transport import redis
from redis import exceptions as redis_errors


class Channel(redis.Channel):
    _client_of_pool = None  # (the pool, a client over it)

    def _connparams(self, asynchronous=False):
        """kombu's, except when the broker connection is already released: the worker lost Redis,
        and while its consumer closes the old channel, kombu gives the unacknowledged messages back
        through a new pool, which asks the released connection for its host. That was an
        ``AttributeError``, which stopped the worker for good; a connection error is one the
        consumer ignores before it connects again (the messages come back by the visibility
        timeout, and the operations by the sweeper)."""
        if self.connection.client is None:
            raise redis_errors.ConnectionError("The broker connection was released: connecting again.")
        return super()._connparams(asynchronous=asynchronous)

    def _create_client(self, asynchronous=False):
        """The channel's client over its pool, made once (kombu makes one for each send and
        acknowledgement); the consumer's client over the asynchronous pool is kombu's own."""
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._client_of_pool is None or self._client_of_pool[0] is not pool:
            self._client_of_pool = (pool, super()._create_client())
        return self._client_of_pool[1]


class Transport(redis.Transport):
    Channel = Channel
