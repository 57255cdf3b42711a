"""The base HTTP client: every request to a provider goes through ``ProviderClient.request``.

That one choke point sets timeouts, injects credentials at the last moment (``authenticate``),
maps transport failures onto the error taxonomy, reads and classifies the answer, writes one log
line, and hands a redacted record of the exchange to the call log (which stores it as an
``ExternalCall`` and enforces the connection's rate limit).

Answers are read one way for every provider: the body is streamed and read up to
``PROVISIONING["MAX_RESPONSE_BYTES"]``, parsed as JSON once (``response.data``), and a broken
answer (a body that is too large, cut short, empty or not JSON where JSON is expected, or JSON
of the wrong shape) follows one rule (``broken_answer``): a 5xx or 429 is the status's usual
error, a 4xx the default status mapping, a 2xx an ``UnknownOutcome`` when the request was not
idempotent (it may have happened) and a ``TransientError`` otherwise. A redirect is a
configuration error. Provider modules only say what their own error bodies mean
(``error_for``); whatever goes wrong, the exchange is recorded with its error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import timezone as dt_timezone
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings

from .exceptions import ConfigurationError, ProviderError, TransientError, UnknownOutcome

logger = logging.getLogger("provisioning.providers")

MASK = "***"
# What ``ProviderClient.request`` makes of an answer's body (its ``expect`` argument).
EXPECT_JSON, EXPECT_BYTES, EXPECT_EMPTY = "json", "bytes", "empty"
READ_CHUNK_BYTES = 64 * 1024
# Header, query and JSON key names whose values are never recorded, whatever the provider.
ALWAYS_SECRET = frozenset(
    {
        "authorization",
        "signature",
        "password",
        "password2",
        "password_confirmation",
        "secret",
        "token",
        "key",
        "api_key",
        "api_secret",
    }
)


def recorded_error(code: str, detail: str = "") -> str:
    """How an exchange records what went wrong (``RecordedCall.error``, kept as
    ``ExternalCall.error``): the error's code, then what it says ("configuration: invalid key").
    With no ``detail``, the beginning of every such record for ``code``."""
    return f"{code}: {detail}"


@dataclass
class RecordedCall:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status_code: int | None = None
    response_body: str = ""
    duration_ms: int = 0
    provider_request_id: str = ""
    error: str = ""


class CallLog(Protocol):
    """What a client needs from the layer above: the connection's limits and a place for records.

    Every method that touches shared state does so in a short transaction of its own: no
    transaction is ever open while a request is on the wire.
    """

    def before_request(self) -> None:
        """Called right before a request is sent: raise ``Deferred`` when the connection is paused
        or its requests per minute are spent; otherwise reserve the request's slot (atomically,
        across workers) and count it as sent."""
        ...

    def after_request(self) -> None:
        """Called once the answer to a request is read, and a pause it asks for is set (before it
        is redacted and recorded): the request is no longer at the provider. ``record`` implies
        it, for a request that failed on the way."""
        ...

    def record(self, call: RecordedCall) -> None: ...

    def save_secret_state(self, state: dict) -> None: ...

    def pause(self, seconds: float) -> None:
        """The provider asked for a break (a 429's ``Retry-After``, rate-limit headers): no
        request of the connection is sent, by any worker, for ``seconds``."""
        ...

    def reserve(self, purpose: str, limits: Sequence[tuple[int, float]]) -> float:
        """Take one slot of the connection's budget ``purpose`` (``(count, within seconds)``
        limits, e.g. captchas per client IP), atomically across workers: ``0`` when taken,
        otherwise the seconds until one frees (and nothing is taken)."""
        ...

    def release(self, purpose: str) -> None:
        """Give back the slot this call log last reserved for ``purpose`` (nothing was made of it)."""
        ...

    def budget_wait(self, purpose: str, limits: Sequence[tuple[int, float]]) -> float:
        """What ``reserve`` would answer, without taking anything."""
        ...

    @property
    def requests_sent(self) -> int:
        """Requests that went out (or may have) through this call log."""
        ...


class NullCallLog:
    requests_sent = 0

    def before_request(self) -> None:
        self.requests_sent += 1

    def after_request(self) -> None:
        pass

    def record(self, call: RecordedCall) -> None:
        pass

    def save_secret_state(self, state: dict) -> None:
        pass

    def pause(self, seconds: float) -> None:
        pass

    def reserve(self, purpose: str, limits: Sequence[tuple[int, float]]) -> float:
        return 0.0

    def release(self, purpose: str) -> None:
        pass

    def budget_wait(self, purpose: str, limits: Sequence[tuple[int, float]]) -> float:
        return 0.0


@dataclass
class Redactor:
    """Masks secrets by name (query parameters, headers, JSON keys) and by value."""

    secret_names: frozenset[str] = ALWAYS_SECRET
    secret_values: set[str] = field(default_factory=set)

    def add_values(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, str) and len(value) >= 4:
                self.secret_values.add(value)

    def _is_secret_name(self, name: str) -> bool:
        lowered = name.lower().replace("-", "_")
        return lowered in self.secret_names or any(
            part in lowered for part in ("secret", "password", "token", "signature")
        )

    def text(self, value: str) -> str:
        for secret in sorted(self.secret_values, key=len, reverse=True):
            value = value.replace(secret, MASK)
        return value

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        query = [
            (k, MASK if self._is_secret_name(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return self.text(urlunsplit(parts._replace(query=urlencode(query, safe="*"))))

    def headers(self, headers) -> dict[str, str]:
        return {
            k: MASK if self._is_secret_name(k) else self.text(str(v)) for k, v in headers.items()
        }

    def data(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: MASK if self._is_secret_name(str(k)) and v not in (None, "") else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def body(self, raw: bytes | str | None, content_type: str = "", *, data: Any = None) -> str:
        """The recordable text of a body; ``data`` is the body already parsed as JSON, if it was."""
        if not raw:
            return ""
        if isinstance(raw, bytes):
            if data is None and "json" not in content_type and "text" not in content_type and content_type:
                return f"<{len(raw)} bytes of {content_type.split(';')[0]}>"
            raw = raw.decode("utf-8", errors="replace")
        if data is None:
            data = parse_json(raw)
        try:
            text = self.text(raw) if data is None else json.dumps(self.data(data), ensure_ascii=False)
        except RecursionError:  # absurdly nested JSON: keep it as (masked) text
            text = self.text(raw)
        limit = settings.PROVISIONING["RECORDED_BODY_CHARS"]
        return text if len(text) <= limit else text[:limit] + "…(truncated)"


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of ``raw``, or ``None`` when it is empty or not JSON (never an exception)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


class ProviderClient:
    """Base of every provider's HTTP client.

    Subclasses set ``provider_name`` (how messages name the provider), ``secret_names`` (extra
    names to mask) and ``retry_after_headers`` (reset headers besides ``Retry-After``), implement
    ``error_for`` (what their own error bodies mean) and, where credentials travel with each
    request, ``authenticate`` (called on the prepared request right before it is sent).
    """

    provider_name = "The provider"
    secret_names: frozenset[str] = frozenset()
    retry_after_headers: tuple[str, ...] = ()
    request_id_header = "X-Request-ID"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "raise_for_response" in vars(cls):  # the hook error_for replaced would be silently ignored
            raise TypeError(f"{cls.__name__}: raise_for_response is gone; implement error_for(response, data)")

    def __init__(self, connection, call_log: CallLog | None = None):
        self.connection = connection
        self.base_url = connection.base_url.rstrip("/")
        self.credentials: dict[str, str] = dict(connection.credentials)
        self.call_log = call_log or NullCallLog()
        self.session = connection_session(connection)
        self.redactor = Redactor(ALWAYS_SECRET | {n.lower() for n in self.secret_names})
        self.redactor.add_values(*self.credentials.values(), *connection.secret_state.values())
        conf = settings.PROVISIONING
        self.timeout = (conf["CONNECT_TIMEOUT_SECONDS"], conf["READ_TIMEOUT_SECONDS"])

    def remember_secret(self, **state: str | None) -> None:
        """Keep secret runtime state of the connection (e.g. a cached access token), encrypted.

        ``None`` forgets a key. It is written at once, so it survives a failing operation.
        """
        merged = {**self.connection.secret_state, **state}
        self.connection.secret_state = {k: v for k, v in merged.items() if v is not None}
        self.redactor.add_values(*(v for v in state.values() if v))
        self.call_log.save_secret_state(self.connection.secret_state)

    # --- hooks for provider modules ---------------------------------------------------------
    def authenticate(self, request: requests.PreparedRequest) -> None:
        """Add credentials to the prepared request (headers, signature). Default: nothing."""

    def error_for(self, response: requests.Response, data: Any) -> ProviderError | None:
        """The error a JSON answer stands for in the provider's own words, or ``None``.

        Called for every answer whose body was read and parsed as JSON (``data``, never
        ``None``), whatever its status: a 2xx can be an error too (Kandy's envelope). ``None``
        means "no error of mine": the base then maps a status >= 400 with ``error_for_status``
        and takes anything else as success. Default: ``None``.
        """
        return None

    def pause_seconds(self, response: requests.Response, error: ProviderError | None) -> float | None:
        """Seconds the whole connection must wait after this answer, or ``None``.

        Default: a 429's ``Retry-After`` (or the client's reset headers). Override to read a
        provider's rate-limit headers on successes too (SnapTrade's ``X-RateLimit-Remaining``).
        """
        if response.status_code == 429:
            return self.retry_after(response)
        return None

    # --- shared helpers for provider modules -------------------------------------------------
    def retry_after(self, response: requests.Response) -> float | None:
        """Seconds the provider asks us to wait (``Retry-After`` or its reset headers)."""
        return retry_after_seconds(response, *self.retry_after_headers)

    def broken_answer(self, response: requests.Response, what: str) -> ProviderError:
        """The one rule for an answer that cannot be read (``what`` says how it is broken).

        A 5xx or 429 is the status's usual error (a gateway's HTML page is still a 502); a
        4xx the default status mapping; a 2xx of a request that was not idempotent an
        ``UnknownOutcome`` (a create whose result we cannot read may have happened: the next
        attempt looks before it creates); any other 2xx a plain ``TransientError``.
        """
        status = response.status_code
        message = f"{self.provider_name} answered HTTP {status} with {what}."
        if status >= 400:
            return error_for_status(status, message, retry_after=self.retry_after(response))
        if getattr(response, "idempotent", True):
            return TransientError(message)
        return UnknownOutcome(f"{message} The request may have been carried out.")

    def shape_error(self, response: requests.Response, expected: type) -> ProviderError | None:
        """The broken-answer error when ``response.data`` is not of the ``expected`` type."""
        if isinstance(response.data, expected):
            return None
        name = {dict: "a JSON object", list: "a JSON list"}.get(expected, expected.__name__)
        return self.broken_answer(response, f"JSON that is not {name}")

    def expect_shape(self, response: requests.Response, expected: type) -> Any:
        """``response.data`` when it is of the ``expected`` type; otherwise raise the broken-answer
        error. (``request(..., shape=...)`` does the same check before the exchange is recorded.)"""
        error = self.shape_error(response, expected)
        if error is not None:
            raise error
        return response.data

    # --- the choke point --------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | list | None = None,
        json_body: Any = None,
        headers: dict | None = None,
        idempotent: bool | None = None,
        expect: str = EXPECT_JSON,
        shape: type | None = None,
    ) -> requests.Response:
        """Send one request to ``base_url + path`` and return the successful response.

        ``idempotent`` (default: GET/HEAD/PUT/DELETE are) decides whether a read timeout after
        sending, or a 2xx we cannot read, is a plain transient error or an ``UnknownOutcome``.
        ``expect`` says what the body of a success is: ``"json"`` (parsed into
        ``response.data``), ``"bytes"`` (e.g. an image, in ``response.content``) or ``"empty"``
        (none needed: a body that is not JSON is ignored; a JSON one still goes to ``error_for``,
        where a provider may say that the request failed). ``shape`` (``dict``, ``list``) is the
        type the JSON must have. The body is read once, at most ``MAX_RESPONSE_BYTES`` of it; errors are
        ``ProviderError`` instances only, and the exchange is always recorded.
        """
        if expect not in (EXPECT_JSON, EXPECT_BYTES, EXPECT_EMPTY):
            raise ValueError(f"expect must be json, bytes or empty, not {expect!r}")
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        prepared = self.session.prepare_request(
            requests.Request(
                method, self.base_url + path, params=params, json=json_body, headers=headers
            )
        )
        self.authenticate(prepared)
        call = RecordedCall(
            method=method,
            url=self.redactor.url(prepared.url),
            request_headers=self.redactor.headers(prepared.headers),
            request_body=self.redactor.body(prepared.body, prepared.headers.get("Content-Type", "")),
        )
        self.call_log.before_request()
        started, answered = time.monotonic(), None
        try:
            response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False, stream=True)
        except requests.ConnectTimeout as exc:
            raise self._failed(call, started, TransientError("The provider did not accept the connection in time."), exc)
        except requests.ReadTimeout as exc:
            err = (
                TransientError("The provider did not answer in time.")
                if idempotent
                else UnknownOutcome(
                    "The provider did not answer in time; the request may have been carried out."
                )
            )
            raise self._failed(call, started, err, exc)
        except requests.RequestException as exc:
            raise self._failed(call, started, TransientError(f"Could not reach the provider ({type(exc).__name__})."), exc)
        call.status_code = response.status_code
        call.provider_request_id = response.headers.get(self.request_id_header, "")[:100]
        try:
            problem = self._read(response, expect=expect, idempotent=idempotent)
            answered = time.monotonic()
            err = self._classify(response, problem=problem, expect=expect, shape=shape)
            pause = self.pause_seconds(response, err)
            if pause:  # before the request's place is free: no request waiting for it goes out in the pause
                self.call_log.pause(pause)
            self.call_log.after_request()  # the provider is done with it
            call.response_body = self.redactor.body(
                response.content, response.headers.get("Content-Type", ""), data=response.data
            )
            if err is not None:
                err.status_code = err.status_code or response.status_code
                call.error = recorded_error(err.code, self.redactor.text(err.message))
                raise err
        finally:
            call.duration_ms = int(((answered or time.monotonic()) - started) * 1000)
            self._log(call)
        return response

    # --- reading and classifying an answer ---------------------------------------------------
    def _read(self, response: requests.Response, *, expect: str, idempotent: bool) -> str:
        """Read the body (capped), attach ``response.data`` and ``response.idempotent``; say what
        was wrong with the body ("" when nothing). JSON is parsed unless bytes are expected, and
        for any error status (where the provider's error body may say more)."""
        limit = settings.PROVISIONING["MAX_RESPONSE_BYTES"]
        body, problem = read_capped(response, limit)
        response._content, response._content_consumed = body, True  # .content/.json() keep working
        response.idempotent = idempotent
        wants_json = expect != EXPECT_BYTES or response.status_code >= 400
        response.data = parse_json(body) if wants_json and not problem else None
        return problem

    def _classify(self, response: requests.Response, *, problem: str, expect: str, shape: type | None):
        """The ``ProviderError`` this answer is, or ``None`` for a success."""
        status = response.status_code
        if 300 <= status < 400:
            return ConfigurationError(
                f"{self.provider_name} answered with a redirect ({status}) to "
                f"{response.headers.get('Location', '?')}: check the connection's base URL."
            )
        if problem:
            return self.broken_answer(response, problem)
        if response.data is None:
            if status >= 400 or expect == EXPECT_JSON:
                return self.broken_answer(response, "a body that is not JSON" if response.content else "an empty body")
            return None
        err = self._provider_error_for(response)
        if err is None and status >= 400:
            err = error_for_status(status, f"{self.provider_name} answered HTTP {status}.", retry_after=self.retry_after(response))
        if err is None and shape is not None:
            err = self.shape_error(response, shape)
        return err

    def _provider_error_for(self, response: requests.Response) -> ProviderError | None:
        """``error_for``, where a provider's misreading of an odd body is a broken answer, not a crash."""
        try:
            return self.error_for(response, response.data)
        except (LookupError, TypeError, ValueError, AttributeError):
            logger.exception("%s could not read its own answer (connection %s)", type(self).__name__, self.connection.pk)
            return self.broken_answer(response, "JSON the client could not make sense of")

    def _failed(self, call: RecordedCall, started: float, err: ProviderError, exc: Exception):
        call.duration_ms = int((time.monotonic() - started) * 1000)
        call.error = recorded_error(err.code, type(exc).__name__)
        self._log(call)
        return err

    def _log(self, call: RecordedCall) -> None:
        logger.info(
            "provider call connection=%s %s %s -> %s in %sms request_id=%s%s",
            self.connection.pk,
            call.method,
            call.url,
            call.status_code or "-",
            call.duration_ms,
            call.provider_request_id or "-",
            f" error={call.error}" if call.error else "",
        )
        self.call_log.record(call)


_sessions = threading.local()  # per thread (per greenlet under gevent): a Session is not thread-safe


def connection_session(connection) -> requests.Session:
    """The HTTP session of ``connection`` in this thread, kept from one operation to the next so
    that its connections to the provider stay open (keep-alive: no new TCP and TLS handshake
    per request). Its cookies are cleared: each operation starts with none, as with a new one."""
    if connection.pk is None:
        return _new_session(connection.base_url)
    if not hasattr(_sessions, "by_connection"):
        _sessions.by_connection = {}
    key = (connection.pk, connection.base_url)
    session = _sessions.by_connection.get(key)
    if session is None:
        session = _sessions.by_connection[key] = _new_session(connection.base_url)
    session.cookies.clear()
    return session


def _new_session(base_url: str) -> requests.Session:
    """A session that uses the environment's proxy settings (``HTTPS_PROXY``, ``NO_PROXY``...)
    for ``base_url``, read once here: requests would read the whole environment, and look for a
    ``~/.netrc``, on every request (about a tenth of a worker's CPU per operation)."""
    session = requests.Session()
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(base_url)
    return session


def read_capped(response: requests.Response, limit: int) -> tuple[bytes, str]:
    """The body of a streamed response, at most ``limit`` bytes, and what was wrong with it.

    Never more than ``limit`` plus one chunk is read, so a huge (or endless) answer cannot
    exhaust memory; a connection lost mid-body is a body cut short, not an exception.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=READ_CHUNK_BYTES):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], f"a body larger than {limit} bytes"
    except requests.RequestException as exc:
        return b"".join(chunks), f"a body cut short ({type(exc).__name__})"
    finally:
        response.close()
    return b"".join(chunks), ""


def retry_after_seconds(response: requests.Response, *header_names: str) -> float | None:
    """Seconds to wait from ``Retry-After`` (or the given reset headers), when present: a number of
    seconds, or an HTTP date (RFC 9110 §10.2.3), counted from now."""
    for name in ("Retry-After", *header_names):
        value = (response.headers.get(name) or "").strip()
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        if when.tzinfo is not None:  # an HTTP date is GMT; one without a zone is not one
            return max(0.0, (when - datetime.now(dt_timezone.utc)).total_seconds())
    return None


def error_for_status(status: int, message: str, **kwargs) -> ProviderError:
    """The default mapping of an HTTP status onto the taxonomy, for provider modules to reuse."""
    from . import exceptions as e

    if status == 429:
        return e.RateLimited(message, **kwargs)
    if status >= 500:
        return e.TransientError(message, **kwargs)
    if status in (401, 403):
        return e.ConfigurationError(message, **kwargs)
    if status == 404:
        return e.NotFound(message, **kwargs)
    if status == 409:
        return e.AlreadyExists(message, **kwargs)
    if status in (400, 422):
        return e.InvalidInput(message, **kwargs)
    return e.Rejected(message, **kwargs)
