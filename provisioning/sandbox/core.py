"""The sandbox's tiny WSGI framework: requests, responses, routing, clock, outbox, simulators.

Stdlib only, no Django: the sandbox runs as its own process (``python -m provisioning.sandbox``).

Adding a simulator
------------------
1. Write ``provisioning/sandbox/<provider>.py`` with a subclass of :class:`Simulator`::

       class KandySimulator(Simulator):
           name = "kandy"                      # mounted at /kandy
           default_settings = {"quota": 5}     # runtime-tunable: POST /_sandbox/kandy/settings

           def reset_state(self):              # called by __init__ and reset(), under the lock
               self.users = {}

           def state(self):                    # JSON-able, merged into snapshot()
               return {"users": sorted(self.users)}

           def error_response(self, status, message, *, code=None, headers=None):
               return Response.json({"status": status, "message": message}, status, headers)

           @route("POST", "/v1.2/domains/users/user_id")
           def create_user(self, request):
               with self.lock:
                   ...
               return Response.json({...})

   Handlers take the :class:`Request` and return a :class:`Response`, or raise
   :class:`HTTPError`, which :meth:`Simulator.error_response` renders in the provider's shape.
   Patterns may hold ``<name>`` placeholders (one path segment), found in ``request.params``.
2. Its dotted path goes in ``SANDBOX_SIMULATORS`` (the built-in ones are listed by default, see
   ``provisioning/sandbox/app.py``); its demo credentials in ``demo_credentials``.

Use ``self.clock.now()`` for every timestamp and expiry (tests move the clock through the control
API), ``self.outbox.send(...)`` for SMS and emails a provider would send, and ``self.lock`` around
state. Fault injection, counters and the control API come from the base class: see ``faults.py``
and ``control.py``.
"""

from __future__ import annotations

import collections
import datetime
import http
import itertools
import json
import logging
import os
import re
import threading
import time
import typing
import urllib.parse

from .faults import Faults
from .ratelimit import RollingWindowLimiter

logger = logging.getLogger("provisioning.sandbox")

JSONType = typing.Any


class HTTPError(Exception):
    """Raised by handlers (or Request.json()); rendered by the simulator in its provider's shape."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


class Request:
    """One HTTP request, with ``path`` relative to the mount of the simulator that serves it."""

    def __init__(self, *, method: str, path: str, raw_path: str, query_string: str, headers: dict[str, str],
                 body: bytes, client_ip: str, root_url: str, mount: str = ""):
        self.method = method.upper()
        self.path = path  # decoded, used for routing
        self.raw_path = raw_path  # as received on the wire (percent-encoding kept), used for signatures
        self.query_string = query_string  # exactly as received, without the "?"
        self.query = urllib.parse.parse_qs(query_string, keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self.client_ip = client_ip
        self.root_url = root_url  # scheme://host:port of the sandbox, as the client addressed it
        self.mount = mount  # "/snaptrade"; "" for the control API
        self.params: dict[str, str] = {}  # path placeholders of the matched route
        self.context: dict[str, typing.Any] = {}  # per-request scratch space for simulators

    @classmethod
    def from_environ(cls, environ: dict) -> Request:
        length = environ.get("CONTENT_LENGTH") or "0"
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() and int(length) > 0 else b""
        headers = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO") or "/"
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        raw_path = raw_uri.split("?", 1)[0] if raw_uri else urllib.parse.quote(path, safe="/~!$&'()*+,;=:@%")
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        return cls(
            method=environ.get("REQUEST_METHOD", "GET"), path=path, raw_path=raw_path,
            query_string=environ.get("QUERY_STRING", ""), headers=headers, body=body,
            client_ip=environ.get("REMOTE_ADDR", ""), root_url=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
        )

    def mounted_at(self, prefix: str) -> Request:
        """Strip the mount prefix (``/snaptrade``) from both paths, in place."""
        self.mount = prefix
        self.path = self.path[len(prefix):] or "/"
        self.raw_path = self.raw_path[len(prefix):] or "/"
        return self

    @property
    def base_url(self) -> str:
        """Absolute URL of the simulator's mount point, e.g. ``http://127.0.0.1:8001/snaptrade``."""
        return self.root_url + self.mount

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self, *, empty: JSONType = None) -> JSONType:
        """The body parsed as JSON (``empty`` when there is no body); HTTPError 400 when malformed."""
        if not self.body.strip():
            return empty
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"JSON parse error - {exc}") from None


class Response:
    def __init__(self, body: bytes = b"", status: int = 200, headers: dict[str, str] | None = None,
                 content_type: str = "application/octet-stream"):
        self.status = status
        self.body = body
        self.headers = {"Content-Type": content_type, **(headers or {})}

    @classmethod
    def json(cls, data: JSONType, status: int = 200, headers: dict | None = None) -> Response:
        return cls(json.dumps(data).encode(), status, headers, "application/json")

    @classmethod
    def raw(cls, body: bytes, content_type: str, status: int = 200, headers: dict | None = None) -> Response:
        return cls(body, status, headers, content_type)

    @classmethod
    def html(cls, text: str, status: int = 200, headers: dict | None = None) -> Response:
        return cls(text.encode(), status, headers, "text/html; charset=utf-8")

    @property
    def status_line(self) -> str:
        try:
            return f"{self.status} {http.HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"{self.status} Unknown"

    def json_body(self) -> JSONType:
        return json.loads(self.body)


# --- routing -------------------------------------------------------------------------------------

class Route(typing.NamedTuple):
    method: str
    pattern: str
    regex: re.Pattern
    handler: str  # attribute name on the router

    @property
    def key(self) -> str:
        return f"{self.method} {self.pattern}"


def route(method: str, *patterns: str):
    """Declare a handler method for one HTTP method and one or more path patterns."""
    def decorate(func):
        func._sandbox_routes = [*getattr(func, "_sandbox_routes", []), *((method.upper(), p) for p in patterns)]
        return func
    return decorate


def _compile(pattern: str) -> re.Pattern:
    parts = re.split(r"<(\w+)>", pattern)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


class Router:
    """Collects ``@route`` methods of a class into a route table."""

    routes: typing.ClassVar[list[Route]] = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        table, seen = [], set()
        for klass in cls.__mro__:
            for attr, func in vars(klass).items():
                if attr in seen or not callable(func):
                    continue
                seen.add(attr)
                for method, pattern in getattr(func, "_sandbox_routes", ()):
                    table.append(Route(method, pattern, _compile(pattern), attr))
        cls.routes = table

    def match(self, request: Request) -> tuple[Route | None, bool]:
        """The route for the request, and whether the path exists under another method (405)."""
        path_known = False
        for candidate in self.routes:
            found = candidate.regex.match(request.path)
            if found:
                path_known = True
                if candidate.method == request.method:
                    request.params = found.groupdict()
                    return candidate, True
        return None, path_known


# --- shared services -----------------------------------------------------------------------------

class Clock:
    """Wall clock plus an offset that tests and staff move through ``POST /_sandbox/clock``."""

    def __init__(self, offset_seconds: float = 0.0):
        self._offset = float(offset_seconds)
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        """Unix time in seconds, as the sandbox sees it."""
        return time.time() + self._offset

    def now_datetime(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.now(), tz=datetime.timezone.utc)

    def isoformat(self, at: float | None = None) -> str:
        moment = self.now() if at is None else at
        return datetime.datetime.fromtimestamp(moment, tz=datetime.timezone.utc).isoformat()

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = float(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += float(seconds)


class Outbox:
    """SMS and emails the simulated providers 'sent'; listed at ``GET /_sandbox/outbox``."""

    CHANNELS = ("sms", "email")

    def __init__(self, clock: Clock, max_messages: int = 1000):
        self.clock = clock
        self._messages: collections.deque[dict] = collections.deque(maxlen=max_messages)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, *, simulator: str, channel: str, to: str, body: str, subject: str = "",
             data: dict | None = None) -> dict:
        if channel not in self.CHANNELS:
            raise ValueError(f"channel must be one of {self.CHANNELS}, not {channel!r}")
        with self._lock:
            message = {"id": next(self._ids), "simulator": simulator, "channel": channel, "to": to,
                       "subject": subject, "body": body, "data": dict(data or {}), "sent_at": self.clock.isoformat()}
            self._messages.append(message)
        logger.info("outbox: %s %s to %s", simulator, channel, to)
        return dict(message)

    def messages(self, *, simulator: str | None = None, to: str | None = None) -> list[dict]:
        """Messages oldest first (newest last), optionally filtered."""
        with self._lock:
            return [dict(m) for m in self._messages
                    if (simulator is None or m["simulator"] == simulator) and (to is None or m["to"] == to)]

    def last(self, *, simulator: str | None = None, to: str | None = None) -> dict | None:
        found = self.messages(simulator=simulator, to=to)
        return found[-1] if found else None

    def clear(self, *, simulator: str | None = None) -> None:
        with self._lock:
            kept = [m for m in self._messages if simulator is not None and m["simulator"] != simulator]
            self._messages.clear()
            self._messages.extend(kept)


# --- simulators ----------------------------------------------------------------------------------

class Simulator(Router):
    """Base class of a provider simulator mounted at ``/<name>``. See the module docstring."""

    name: typing.ClassVar[str] = ""
    # the demo credentials it accepts: {credential name: (environment variable, demo default)};
    # ``manage.py bootstrap`` configures the sandbox connection with them
    demo_credentials: typing.ClassVar[dict[str, tuple[str, str]]] = {}
    default_settings: typing.ClassVar[dict[str, typing.Any]] = {}
    secret_settings: typing.ClassVar[frozenset[str]] = frozenset()  # masked in snapshot()
    # Requests per minute when no fault sets ``rate_limit_per_minute``; None = unlimited.
    default_rate_limit_per_minute: typing.ClassVar[int | None] = None
    # True when the simulator enforces the limit itself (provider-native 429 and headers);
    # otherwise the base class applies a generic per-client-IP limit before the handler.
    native_rate_limit: typing.ClassVar[bool] = False

    def __init__(self, *, clock: Clock | None = None, outbox: Outbox | None = None,
                 settings: dict | None = None, stopping: threading.Event | None = None):
        self.clock = clock or Clock()
        self.outbox = outbox or Outbox(self.clock)
        self.stopping = stopping or threading.Event()  # set on shutdown: wakes injected sleeps
        self.lock = threading.RLock()
        self._initial_settings = self._checked_settings(self.initial_settings(), settings or {})
        self.faults = Faults()
        self.limiter = RollingWindowLimiter(self.clock)
        self.reset()

    @classmethod
    def credentials(cls) -> dict[str, str]:
        """The demo credentials, read from the environment now (defaults where unset)."""
        return {name: os.environ.get(variable) or default for name, (variable, default) in cls.demo_credentials.items()}

    # -- hooks for subclasses --

    def initial_settings(self) -> dict:
        """Defaults of the runtime-tunable settings (override to read the environment)."""
        return dict(self.default_settings)

    def reset_state(self) -> None:
        """(Re)create the in-memory state. Called under the lock."""

    def state(self) -> dict:
        """JSON-able provider state for snapshot(): users, pending items... never secrets."""
        return {}

    def error_response(self, status: int, message: str, *, code: str | None = None,
                       headers: dict | None = None) -> Response:
        """Render an error in the provider's shape."""
        body = {"error": message, "status": status}
        if code is not None:
            body["code"] = code
        return Response.json(body, status, headers)

    def throttled_response(self, retry_after: int) -> Response:
        """The provider's 429; must carry Retry-After."""
        return self.error_response(429, "Too many requests", headers={"Retry-After": str(retry_after)})

    def unavailable_response(self) -> Response:
        return self.error_response(503, "Service unavailable")

    def timeout_response(self) -> Response:
        """What finally comes back after an injected timeout (the client has usually given up)."""
        return self.error_response(504, "Gateway timeout")

    def finalize_response(self, request: Request, response: Response) -> Response:
        """Last look at every response (headers every answer carries, such as a request id)."""
        return response

    # -- settings, state, counters --

    def _checked_settings(self, base: dict, changes: dict) -> dict:
        unknown = set(changes) - set(base)
        if unknown:
            raise ValueError(f"unknown {self.name} settings: {sorted(unknown)}")
        merged = dict(base)
        for key, value in changes.items():
            default = base[key]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"setting {key!r} must be a number")
                value = type(default)(value)
            elif default is not None and not isinstance(value, type(default)):
                raise ValueError(f"setting {key!r} must be a {type(default).__name__}")
            merged[key] = value
        return merged

    def configure(self, changes: dict) -> dict:
        """Merge runtime settings (ValueError on an unknown key or a wrong type)."""
        with self.lock:
            self.settings = self._checked_settings(self.settings, changes)
            return self.public_settings()

    def public_settings(self) -> dict:
        return {k: ("***" if k in self.secret_settings else v) for k, v in self.settings.items()}

    def reset(self) -> None:
        """Back to a clean start: state, settings, faults, counters, rate limits, own outbox messages."""
        with self.lock:
            self.settings = dict(self._initial_settings)
            self.faults.clear()
            self.limiter.clear()
            self.counters: dict[str, collections.Counter] = {}
            self.outbox.clear(simulator=self.name)
            self.reset_state()

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "name": self.name,
                "requests_total": sum(sum(c.values()) for c in self.counters.values()),
                "counters": {key: {str(status): n for status, n in sorted(counts.items())}
                             for key, counts in sorted(self.counters.items())},
                "faults": self.faults.to_dict(),
                "settings": self.public_settings(),
                **self.state(),
            }

    def rate_limit_per_minute(self) -> int | None:
        configured = self.faults.rate_limit_per_minute
        return self.default_rate_limit_per_minute if configured is None else configured

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the sandbox shuts down."""
        self.stopping.wait(max(0.0, float(seconds)))

    # -- the request pipeline --

    def handle(self, request: Request) -> Response:
        found, path_known = self.match(request)
        key = found.key if found else ("method not allowed" if path_known else "not found")
        response = self._faulted(request, lambda: self._dispatch(request, found, path_known))
        response = self.finalize_response(request, response)
        with self.lock:
            self.counters.setdefault(key, collections.Counter())[response.status] += 1
        return response

    def _faulted(self, request: Request, proceed: typing.Callable[[], Response]) -> Response:
        fault = self.faults.draw(request.path)
        if self.faults.latency_ms:
            self.sleep(self.faults.latency_ms / 1000)
        if fault and "status" in fault:
            if fault["status"] == 429:
                return self.throttled_response(fault["retry_after"])
            if fault["status"] == 503:
                return self.unavailable_response()
            return self.error_response(fault["status"], "Injected fault")
        if fault and fault.get("timeout"):
            self.sleep(fault["seconds"])
            return self.timeout_response()
        response = proceed()
        if fault and fault.get("drop_after_processing"):
            self.sleep(fault["seconds"])
        return response

    def _dispatch(self, request: Request, found: Route | None, path_known: bool) -> Response:
        try:
            if found is None:
                if path_known:
                    raise HTTPError(405, f'Method "{request.method}" not allowed.')
                raise HTTPError(404, "Not found.")
            throttled = None if self.native_rate_limit else self._generic_rate_limit(request)
            return throttled or getattr(self, found.handler)(request)
        except HTTPError as exc:
            return self.error_response(exc.status, exc.message, code=exc.code, headers=exc.headers)
        except Exception:
            logger.exception("%s: unhandled error in %s", self.name, found.key if found else request.path)
            return self.error_response(500, "Encountered an unexpected exception.")

    def _generic_rate_limit(self, request: Request) -> Response | None:
        limit = self.rate_limit_per_minute()
        if limit is not None:
            decision = self.limiter.hit(request.client_ip, limit, self.faults.rate_limit_window_seconds)
            if not decision.allowed:
                return self.throttled_response(decision.reset_seconds)
        return None
