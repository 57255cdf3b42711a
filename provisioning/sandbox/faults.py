"""Fault injection settings of one simulator, set at runtime through ``POST /_sandbox/<name>/faults``.

Keys (all optional, merged into the current settings):

- ``latency_ms``: sleep before handling every request.
- ``error_rate``: fraction (0..1) of requests answered 503 in the provider's error shape.
- ``timeout_rate``: fraction of requests that sleep ``timeout_seconds`` (default 35) and are not
  processed, so a client's read timeout fires.
- ``rate_limit_per_minute``: requests allowed per rolling minute (the simulator's own 429).
- ``rate_limit_window_seconds``: the rolling window of that limit (default 60), shorter for tests
  that must see it hold over several windows quickly.
- ``fail_next``: faults for the next requests, in order, each one of
  ``{"status": 503}``, ``{"status": 429, "retry_after": 2}``, ``{"timeout": true, "seconds": 3}``,
  ``{"drop_after_processing": true, "seconds": 3}`` (processed normally, answered late), with an
  optional ``"path"``: the fault waits for a request whose path contains that string. Merging
  appends to the queue.
- ``seed``: seeds the random draws of ``error_rate``/``timeout_rate`` for repeatable runs.
"""

from __future__ import annotations

import random
import threading

DEFAULT_TIMEOUT_SECONDS = 35.0
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60.0


def _number(value, name, *, low=0.0, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be between {low} and {high}" if high is not None else f"{name} must be >= {low}")
    return value


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._random = random.Random()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.latency_ms = 0
            self.error_rate = 0.0
            self.timeout_rate = 0.0
            self.timeout_seconds = DEFAULT_TIMEOUT_SECONDS
            self.rate_limit_per_minute: int | None = None
            self.rate_limit_window_seconds = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
            self.fail_next: list[dict] = []

    def update(self, changes: dict) -> dict:
        """Validate and merge; ValueError (nothing applied) when anything is invalid."""
        if not isinstance(changes, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(changes) - {"latency_ms", "error_rate", "timeout_rate", "timeout_seconds",
                                  "rate_limit_per_minute", "rate_limit_window_seconds", "fail_next", "seed"}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        checked = {}
        for key in ("latency_ms", "timeout_seconds"):
            if key in changes:
                checked[key] = _number(changes[key], key)
        for key in ("error_rate", "timeout_rate"):
            if key in changes:
                checked[key] = float(_number(changes[key], key, high=1.0))
        if "rate_limit_window_seconds" in changes:
            checked["rate_limit_window_seconds"] = float(_number(changes["rate_limit_window_seconds"],
                                                                 "rate_limit_window_seconds", low=0.1))
        if "rate_limit_per_minute" in changes:
            limit = changes["rate_limit_per_minute"]
            if limit is not None:
                limit = int(_number(limit, "rate_limit_per_minute", low=1))
            checked["rate_limit_per_minute"] = limit
        timeout_seconds = checked.get("timeout_seconds", self.timeout_seconds)
        queued = changes.get("fail_next", [])
        if not isinstance(queued, list):
            raise ValueError("fail_next must be a list")
        queued = [self._checked_fault(f, timeout_seconds) for f in queued]
        with self._lock:
            for key, value in checked.items():
                setattr(self, key, value)
            self.fail_next.extend(queued)
            if "seed" in changes:
                self._random.seed(changes["seed"])
        return self.to_dict()

    @staticmethod
    def _checked_fault(fault, timeout_seconds: float) -> dict:
        if not isinstance(fault, dict):
            raise ValueError("each fail_next entry must be an object")
        kinds = [k for k in ("status", "timeout", "drop_after_processing") if fault.get(k)]
        if len(kinds) != 1:
            raise ValueError('a fail_next entry needs exactly one of "status", "timeout", "drop_after_processing"')
        unknown = set(fault) - {"status", "retry_after", "timeout", "drop_after_processing", "seconds", "path"}
        if unknown:
            raise ValueError(f"unknown fail_next keys: {sorted(unknown)}")
        checked = {"path": str(fault["path"])} if fault.get("path") else {}
        if kinds == ["status"]:
            status = fault["status"]
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                raise ValueError("status must be an integer from 400 to 599")
            checked["status"] = status
            if status == 429:
                checked["retry_after"] = int(_number(fault.get("retry_after", 1), "retry_after"))
        else:
            checked[kinds[0]] = True
            checked["seconds"] = _number(fault.get("seconds", timeout_seconds), "seconds")
        return checked

    def draw(self, path: str) -> dict | None:
        """The fault for this request, if any: the first queued one that applies, else a random one."""
        with self._lock:
            for index, fault in enumerate(self.fail_next):
                if fault.get("path", "") in path:
                    return self.fail_next.pop(index)
            if self.error_rate and self._random.random() < self.error_rate:
                return {"status": 503}
            if self.timeout_rate and self._random.random() < self.timeout_rate:
                return {"timeout": True, "seconds": self.timeout_seconds}
        return None

    def to_dict(self) -> dict:
        with self._lock:
            return {"latency_ms": self.latency_ms, "error_rate": self.error_rate, "timeout_rate": self.timeout_rate,
                    "timeout_seconds": self.timeout_seconds, "rate_limit_per_minute": self.rate_limit_per_minute,
                    "rate_limit_window_seconds": self.rate_limit_window_seconds,
                    "fail_next": [dict(f) for f in self.fail_next]}
