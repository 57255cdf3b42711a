"""The base HTTP client: every request to a provider goes through ``ProviderClient.request``.

That one choke point sets timeouts, injects credentials at the last moment (``authenticate``),
maps transport failures onto the error taxonomy, asks the provider module to map the answer
(``raise_for_response``), writes one log line, and hands a redacted record of the exchange to
the call log (which stores it as an ``ExternalCall`` and enforces the connection's rate limit).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings

from .exceptions import ProviderError, TransientError, UnknownOutcome

logger = logging.getLogger("provisioning.providers")

MASK = "***"
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
    """What a client needs from the layer above: a rate-limit gate and a place for records."""

    def before_request(self) -> None: ...

    def record(self, call: RecordedCall) -> None: ...

    def save_secret_state(self, state: dict) -> None: ...

    def recent_calls(self, *, method: str, url_suffix: str, seconds: float) -> list[tuple[datetime, int | None]]:
        """``(when, status code)`` of the connection's recorded calls of the last ``seconds``
        whose method and (redacted, query-less) URL end match, oldest first: for budgets a
        provider keeps itself (e.g. captchas per client IP)."""
        ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the connection's lock for the block, so that counting ``recent_calls`` and then
        making the call is atomic across workers. Calls made in the block are still recorded when
        it raises."""
        ...


class NullCallLog:
    def before_request(self) -> None:
        pass

    def record(self, call: RecordedCall) -> None:
        pass

    def save_secret_state(self, state: dict) -> None:
        pass

    def recent_calls(self, *, method: str, url_suffix: str, seconds: float) -> list[tuple[datetime, int | None]]:
        return []

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        yield


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

    def body(self, raw: bytes | str | None, content_type: str = "") -> str:
        if not raw:
            return ""
        if isinstance(raw, bytes):
            if "json" not in content_type and "text" not in content_type and content_type:
                return f"<{len(raw)} bytes of {content_type.split(';')[0]}>"
            raw = raw.decode("utf-8", errors="replace")
        try:
            text = json.dumps(self.data(json.loads(raw)), ensure_ascii=False)
        except ValueError:
            text = self.text(raw)
        limit = settings.PROVISIONING["RECORDED_BODY_CHARS"]
        return text if len(text) <= limit else text[:limit] + "…(truncated)"


class ProviderClient:
    """Base of every provider's HTTP client.

    Subclasses set ``secret_names`` (extra names to mask), implement ``raise_for_response`` (map
    an answer onto the taxonomy, or return for success) and, where credentials travel with each
    request, ``authenticate`` (called on the prepared request right before it is sent).
    """

    secret_names: frozenset[str] = frozenset()
    request_id_header = "X-Request-ID"

    def __init__(self, connection, call_log: CallLog | None = None):
        self.connection = connection
        self.base_url = connection.base_url.rstrip("/")
        self.credentials: dict[str, str] = dict(connection.credentials)
        self.call_log = call_log or NullCallLog()
        self.session = requests.Session()
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

    def raise_for_response(self, response: requests.Response) -> None:
        """Raise a ``ProviderError`` for an unsuccessful answer. Default: any non-2xx."""
        if response.status_code >= 400:
            raise error_for_status(response.status_code, f"HTTP {response.status_code}")

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
    ) -> requests.Response:
        """Send one request to ``base_url + path`` and return the successful response.

        ``idempotent`` (default: GET/HEAD/PUT/DELETE are) decides whether a read timeout after
        sending is a plain transient error or an ``UnknownOutcome``.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        prepared = self.session.prepare_request(
            requests.Request(
                method, self.base_url + path, params=params, json=json_body, headers=headers
            )
        )
        self.authenticate(prepared)
        self.call_log.before_request()
        call = RecordedCall(
            method=method,
            url=self.redactor.url(prepared.url),
            request_headers=self.redactor.headers(prepared.headers),
            request_body=self.redactor.body(prepared.body, prepared.headers.get("Content-Type", "")),
        )
        started = time.monotonic()
        try:
            response = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
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
        call.duration_ms = int((time.monotonic() - started) * 1000)
        call.status_code = response.status_code
        call.provider_request_id = response.headers.get(self.request_id_header, "")[:100]
        call.response_body = self.redactor.body(response.content, response.headers.get("Content-Type", ""))
        try:
            self.raise_for_response(response)
        except ProviderError as err:
            err.status_code = err.status_code or response.status_code
            call.error = f"{err.code}: {self.redactor.text(err.message)}"
            raise
        finally:
            self._log(call)
        return response

    def _failed(self, call: RecordedCall, started: float, err: ProviderError, exc: Exception):
        call.duration_ms = int((time.monotonic() - started) * 1000)
        call.error = f"{err.code}: {type(exc).__name__}"
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


def retry_after_seconds(response: requests.Response, *header_names: str) -> float | None:
    """Seconds to wait from ``Retry-After`` (or the given reset headers), when present."""
    for name in ("Retry-After", *header_names):
        value = response.headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
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
