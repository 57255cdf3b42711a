"""A capped connection's requests in flight, held in Redis across workers and machines.

A provider's concurrency limit counts the requests it is answering, and a connection's
``max_concurrency`` is that limit. Counted as the operations running (``slots``), a slot stays
taken while the worker claims an operation and writes what it ended with, about a third of a
round at 100 ms of provider latency, idle for the provider. With Redis (``CONCURRENCY_REDIS_URL``,
by default the Celery broker's when that is Redis) each request takes one of the connection's
``max_concurrency`` places right before it is sent and gives it back when its answer is read:

- a place is a member of a sorted set per connection, scored with when it expires (taken under a
  script, atomically: at most the cap at once, from every worker of every machine);
- one that nobody gave back (its worker died mid-request) expires after a request's longest
  time, so that a crash cannot shrink a connection's cap for good;
- a request that finds every place taken waits on the connection's wake-up list, to which every
  place given back adds one: the next request goes out within a round trip of Redis, not after a
  poll.

The claim then runs up to ``slots.ADMITTED_PER_PLACE`` times the cap of operations at once: those
beyond the cap are claimed and ready, and wait here for a place. Without Redis (``make run``'s
stack) there are no places, and the claim alone holds the cap (operations running at once).

A provider's 429 pauses the connection here too (``pause``), so that the requests waiting for a
place do not go out in it. When Redis cannot be reached, a capped connection's requests are not
sent (their operations are tried again); a Redis that restarts empty forgets the places taken,
so that for the length of the requests then out a connection may have up to twice its cap in
flight.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# takes a place if the connection is not paused and fewer than the cap are taken (expired ones
# dropped first): 1 when taken, 0 when all are, minus the milliseconds left of a pause. Redis's own
# clock, so that the machines' clocks need not agree.
_TAKE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then
  return -paused
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# gives a place back and wakes one waiting request (the wake-up list kept at most cap long)
_GIVE_BACK = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 0
"""
# pauses the connection for ARGV[1] ms, unless it is already paused for longer (a script, not
# PEXPIRE's GT option: that one needs Redis 7)
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""
# how long a waiting request blocks on the wake-up list before it looks again by itself (a place
# that expired wakes nobody)
LOOK_AGAIN_SECONDS = 0.5


class Unavailable(Exception):
    """Redis could not be reached: no request is sent without its place."""


class Paused(Exception):
    """The connection is paused (a provider's 429) for ``seconds`` more."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


class InFlight:
    """The places of every capped connection in one Redis; thread-safe (one per process)."""

    def __init__(self, url: str, namespace: str):
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=LOOK_AGAIN_SECONDS + 5)
        self.namespace = namespace
        self._take = self.redis.register_script(_TAKE)
        self._give_back = self.redis.register_script(_GIVE_BACK)
        self._pause = self.redis.register_script(_PAUSE)

    def _keys(self, connection_id: int) -> tuple[str, str, str]:
        base = f"portal:{self.namespace}:in-flight:{connection_id}"
        return base, f"{base}:wake", f"{base}:paused"

    @staticmethod
    def lease_ms() -> int:
        """How long a place not given back stays taken: longer than any request may last."""
        conf = settings.PROVISIONING
        return int((conf["CONNECT_TIMEOUT_SECONDS"] + conf["READ_TIMEOUT_SECONDS"]) * 2 * 1000)

    def take(self, connection_id: int, cap: int, *, wait: float) -> str | None:
        """One of the connection's ``cap`` places, waiting up to ``wait`` seconds for one to free;
        its token (for ``give_back``), or ``None`` when none freed in time. Raises ``Paused``
        while the connection is paused (``pause``): a request waiting for a place does not go out
        in a pause that began meanwhile."""
        places, wake, paused = self._keys(connection_id)
        token, lease = uuid.uuid4().hex, self.lease_ms()
        deadline = time.monotonic() + wait
        try:
            while True:
                taken = self._take(keys=[places, paused], args=[cap, lease, token])
                if taken < 0:
                    raise Paused(-taken / 1000)
                if taken:
                    return token
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # at least 10 ms: before Redis 7.0.8 a timeout under a millisecond meant for ever
                self.redis.blpop([wake], timeout=max(0.01, min(left, LOOK_AGAIN_SECONDS)))
        except redis.RedisError as exc:
            raise Unavailable(str(exc)) from exc

    def give_back(self, connection_id: int, cap: int, token: str) -> None:
        """Give the place of ``token`` back (a place already expired: nothing). A Redis that
        cannot be reached is logged: the place expires by itself."""
        places, wake, _ = self._keys(connection_id)
        try:
            self._give_back(keys=[places, wake], args=[token, cap, self.lease_ms()])
        except redis.RedisError:
            logger.warning("could not give back a place of connection %s in Redis; it expires by itself",
                           connection_id, exc_info=True)

    def pause(self, connection_id: int, seconds: float) -> None:
        """No place of the connection is taken for ``seconds`` (a pause only ever lengthens)."""
        _, _, paused = self._keys(connection_id)
        try:
            self._pause(keys=[paused], args=[max(1, int(seconds * 1000))])
        except redis.RedisError:
            logger.warning("could not pause connection %s in Redis", connection_id, exc_info=True)

    def taken(self, connection_id: int) -> int:
        """Places of the connection taken now (expired ones not counted)."""
        places, _, _ = self._keys(connection_id)
        seconds, microseconds = self.redis.time()
        now_ms = seconds * 1000 + microseconds // 1000
        return self.redis.zcount(places, now_ms, "+inf")


def in_flight() -> InFlight | None:
    """This process's ``InFlight``, or ``None`` when no Redis holds the places (then the claim
    holds each cap by itself)."""
    url = settings.PROVISIONING["CONCURRENCY_REDIS_URL"]
    return _in_flight(url, settings.DATABASES["default"]["NAME"]) if url else None


@functools.lru_cache(maxsize=4)
def _in_flight(url: str, namespace) -> InFlight:
    return InFlight(url, str(namespace))
