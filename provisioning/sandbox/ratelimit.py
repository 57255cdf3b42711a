"""Rolling-window rate limiter on the sandbox clock (advancing the clock frees the window)."""

from __future__ import annotations

import collections
import math
import threading
import typing


class Decision(typing.NamedTuple):
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # seconds until the oldest counted request leaves the window


class RollingWindowLimiter:
    def __init__(self, clock, window_seconds: float = 60.0):
        self.clock = clock
        self.window = window_seconds
        self._hits: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float | None = None) -> Decision:
        """Count one request for ``key`` unless it is over ``limit`` (refused requests are not counted)
        within the last ``window`` seconds (default: the limiter's)."""
        window = self.window if window is None else window
        now = self.clock.now()
        with self._lock:
            hits = self._hits.setdefault(key, collections.deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            allowed = len(hits) < limit
            if allowed:
                hits.append(now)
            reset = math.ceil(hits[0] + window - now) if hits else 0
            return Decision(allowed, limit, max(0, limit - len(hits)), max(reset, 1 if not allowed else 0))

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
