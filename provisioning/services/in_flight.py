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
- a request that finds every place taken joins the connection's queue of waiting requests, and
  a place given back goes straight to the first of them (taken for it under the same script): it
  goes out as soon as Redis's answer reaches it, without a poll or a second try at the places
  (target 2's bound run, 2-core AMD EPYC, six runs each: 151-166/s, 17.7 of the 20 places taken
  on average, when a give-back woke any waiting request to try again; 159-177/s and 18.7 so).

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
# dropped first): 1 when taken, 0 when all are (then, with ARGV[4] > 0, the token joins the queue
# of waiting requests for ARGV[4] ms: scored with when it leaves it, a request that died is soon
# out of it), minus the milliseconds left of a pause. Redis's own clock, so that the machines'
# clocks need not agree.
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
if tonumber(ARGV[4]) > 0 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return 0
"""
# gives a place back and, unless the connection is paused, takes it at once for the request
# waiting longest (the queue's entries that outlived their wait dropped first): its token is
# added to the places and told on its own list (ARGV[3] is that list's name without the token: a
# key the script names itself, which a single Redis allows)
_GIVE_BACK = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 or redis.call('PTTL', KEYS[3]) > 0 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local waiting = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if not waiting then
  return 0
end
redis.call('ZREM', KEYS[2], waiting)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), waiting)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local told = ARGV[3] .. waiting
redis.call('RPUSH', told, '1')
redis.call('PEXPIRE', told, ARGV[2])
return 1
"""
# a waiting request that stops waiting leaves the queue: 1 when a place was given to it
# meanwhile (it holds it), else 0
_LEAVE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) > 0 then
  return 0
end
redis.call('DEL', KEYS[3])
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 1
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
# how long a waiting request blocks for a place before it looks again by itself (a place that
# expired is given to nobody, and a pause that ended tells nobody)
LOOK_AGAIN_SECONDS = 0.5
# how long its place in the queue lasts: the wait and a margin for a busy worker to leave it. A
# request that died waiting (its worker killed) is out of the queue after that; within it, it may
# still be given a freed place, which then stays taken until its lease expires
QUEUED_SECONDS = LOOK_AGAIN_SECONDS + 1.0


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
        self._leave = self.redis.register_script(_LEAVE)
        self._pause = self.redis.register_script(_PAUSE)

    def _keys(self, connection_id: int) -> tuple[str, str, str]:
        """The connection's places, its queue of waiting requests and its pause."""
        base = f"portal:{self.namespace}:in-flight:{connection_id}"
        return base, f"{base}:waiting", f"{base}:paused"

    def _told(self, connection_id: int) -> str:
        """The prefix of the lists on which a waiting request is told that a place is its: the
        request's token ends the name (the give-back's script adds it)."""
        return f"portal:{self.namespace}:in-flight:{connection_id}:given:"

    @staticmethod
    def lease_ms() -> int:
        """How long a place not given back stays taken: longer than any request may last."""
        conf = settings.PROVISIONING
        return int((conf["CONNECT_TIMEOUT_SECONDS"] + conf["READ_TIMEOUT_SECONDS"]) * 2 * 1000)

    def take(self, connection_id: int, cap: int, *, wait: float) -> str | None:
        """One of the connection's ``cap`` places, waiting up to ``wait`` seconds for one to free;
        its token (for ``give_back``), or ``None`` when none freed in time. Raises ``Paused``
        while the connection is paused (``pause``): a request waiting for a place does not go out
        in a pause that began meanwhile (no place is given to a waiting one in a pause)."""
        places, waiting, paused = self._keys(connection_id)
        token, lease = uuid.uuid4().hex, self.lease_ms()
        told = self._told(connection_id) + token
        deadline = time.monotonic() + wait
        try:
            while True:
                left = deadline - time.monotonic()
                queued = int(QUEUED_SECONDS * 1000) if left > 0 else 0
                taken = self._take(keys=[places, paused, waiting], args=[cap, lease, token, queued])
                if taken < 0:
                    raise Paused(-taken / 1000)
                if taken:
                    return token
                if left <= 0:
                    return None
                # at least 10 ms: before Redis 7.0.8 a timeout under a millisecond meant for ever
                if self.redis.blpop([told], timeout=max(0.01, min(left, LOOK_AGAIN_SECONDS))):
                    return token  # a place given back was taken for this request
                if self._leave(keys=[waiting, places, told], args=[token]) == 1:
                    return token  # given to it just as it stopped waiting
        except redis.RedisError as exc:
            raise Unavailable(str(exc)) from exc

    def give_back(self, connection_id: int, token: str) -> None:
        """Give the place of ``token`` back: to the request waiting longest for one, unless the
        connection is paused (a place already expired: nothing). A Redis that cannot be reached
        is logged: the place expires by itself."""
        places, waiting, paused = self._keys(connection_id)
        try:
            self._give_back(keys=[places, waiting, paused], args=[token, self.lease_ms(), self._told(connection_id)])
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
