"""The brokers' transports: kombu's, with two faults mended.

**The ``make run`` stack's folder: each message written whole.**

kombu's filesystem transport (5.7) opens a message's file under its final name and only then
writes it. A consumer that lists the folder in between takes the empty file, fails to decode it,
and the worker stops ("Unrecoverable error: JSONDecodeError"); its queued messages wait until
something starts it again (kombu issue 1551, open). The portal's workers send messages while they
consume them (a batch's chunks, a capped connection's waiting groups), so under load it happened
within minutes.

Here a message is written under a name no consumer looks at (it starts with a dot) and then
renamed to its final name in the same folder. A rename within a folder is atomic: a consumer sees
the whole message or none.

**Redis: one client object per channel.** kombu's Redis transport (5.7) builds a new ``redis.Redis``
client object for every message it sends and every one it acknowledges, over the same connection
pool; building one copies redis-py's table of 169 reply parsers (120 µs). py-spy found it in 6.5 % of
a busy worker's samples. A client over a pool is safe to share between threads (each command takes
a connection of the pool), so a channel here keeps one, made again if the channel's pool is.

``portal.celery`` makes these the transports of ``filesystem://`` and ``redis://`` (and
``rediss://``) URLs, in its process.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem, redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written aside, then renamed into place."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


class RedisChannel(redis.Channel):
    _client_of_pool = None  # (the pool, a client over it)

    def _create_client(self, asynchronous=False):
        """The channel's client over its pool, made once (kombu makes one for each send and
        acknowledgement); the consumer's client over the asynchronous pool is kombu's own."""
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._client_of_pool is None or self._client_of_pool[0] is not pool:
            self._client_of_pool = (pool, super()._create_client())
        return self._client_of_pool[1]


class RedisTransport(redis.Transport):
    Channel = RedisChannel


def serve_broker_urls() -> None:
    """Make these transports the ones of ``filesystem://`` and Redis broker URLs, in this process."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
    TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = f"{__name__}:RedisTransport"
