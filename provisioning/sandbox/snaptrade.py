"""SnapTrade simulator, mounted at ``/snaptrade``.

Point the official SDK at it with ``host=<sandbox url>/snaptrade``. The current paths
(``/snapTrade/registerUser``...) and the legacy ones (``/api/v1/snapTrade/...``) are both served;
the signature is checked over the path as received, relative to the mount.

Errors use SnapTrade's shape ``{"detail", "status_code", "code"}``. Codes where the real one is
unknown are sandbox choices, listed in ``CODES`` and marked there.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from .core import HTTPError, Request, Response, Simulator, route

API_VERSION = 151
LEGACY_PREFIX = "/api/v1"
LEGACY_DEPRECATION = "@1781222400"  # announced on /api/v1 answers

# Default error code per HTTP status.
CODES = {
    400: "1001",  # sandbox choice: input validation (real code unknown)
    401: "1076",  # "Unable to verify signature sent"; also used here for a bad clientId/timestamp (choice)
    403: "1066",  # spec example
    404: "1011",  # spec example
    405: "1001",  # sandbox choice
    429: "0000",  # confirmed
    500: "1000",  # spec example
    503: "1000",  # sandbox choice (injected outage)
    504: "1000",  # sandbox choice (injected timeout)
}
CODE_BAD_USER_CREDENTIALS = "1083"  # 401 "Invalid userID or userSecret provided" (third-party clients agree)
CONNECTION_TYPES = ("read", "trade", "trade-if-available")


def compute_signature(consumer_key: str, path: str, query: str, content) -> str:
    """The ``Signature`` header for a request (§4.3): an empty or ``{}`` body signs as null."""
    canonical = json.dumps({"content": content if content not in (None, {}) else None, "path": path, "query": query},
                           separators=(",", ":"), sort_keys=True)
    digest = hmac.new(consumer_key.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_signature(consumer_key: str, payload: dict) -> str:
    """SnapTrade's webhook ``Signature``: base64 HMAC-SHA256 (consumer key) over the body's canonical JSON."""
    canonical = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return base64.b64encode(hmac.new(consumer_key.encode(), canonical.encode(), hashlib.sha256).digest()).decode()


logger = logging.getLogger("provisioning.sandbox.snaptrade")
WEBHOOK_TIMEOUT_SECONDS = 5.0


def throttled(retry_after: int) -> HTTPError:
    return HTTPError(429, f"Request was throttled. Expected available in {retry_after} seconds.",
                     headers={"Retry-After": str(retry_after)})


def current_and_legacy(path: str) -> tuple[str, str]:
    return path, LEGACY_PREFIX + path


def signed(handler):
    """Check clientId, Signature, timestamp and the rate limit; pass the parsed body to the handler."""
    @functools.wraps(handler)
    def wrapper(self, request: Request) -> Response:
        return handler(self, request, self.authenticate(request))
    return wrapper


class SnapTradeSimulator(Simulator):
    name = "snaptrade"
    demo_credentials = {
        "client_id": ("SANDBOX_SNAPTRADE_CLIENT_ID", "PORTAL-SANDBOX"),
        "consumer_key": ("SANDBOX_SNAPTRADE_CONSUMER_KEY", "sandbox-consumer-key"),
    }
    default_settings = {
        "client_id": "", "consumer_key": "",
        "timestamp_skew_seconds": 300,
        "delete_delay_seconds": 2.0,  # deleteUser is asynchronous: listed until this has passed
        "login_link_ttl_seconds": 300,
        "duplicate_user_code": "1010",  # unconfirmed
        # where SnapTrade sends its webhooks (USER_REGISTERED, USER_DELETED): the portal connection's
        # webhook_url; "" sends none. From SANDBOX_SNAPTRADE_WEBHOOK_URL (bootstrap writes it in .env)
        "webhook_url": "",
        "webhook_secret": "sandbox-webhook-secret",
    }
    secret_settings = frozenset({"consumer_key", "webhook_secret"})
    default_rate_limit_per_minute = 250
    native_rate_limit = True

    def initial_settings(self) -> dict:
        return {**self.default_settings, **self.credentials(),
                "webhook_url": os.environ.get("SANDBOX_SNAPTRADE_WEBHOOK_URL", "")}

    def reset_state(self) -> None:
        self.webhooks_sent: list[dict] = []  # the last 100: {"webhookId", "eventType", "userId", "status"}
        self.users: dict[str, dict] = {}  # userId -> {"secret", "created_at"}
        # userId -> when of those queued for deletion, apart: a request purges the due ones without
        # a pass over every user (thousands after a benchmark, under the lock every request takes)
        self.deleting: dict[str, float] = {}
        self.login_links: dict[str, dict] = {}  # token -> {"user_id", "session_id", "expires_at"}

    def state(self) -> dict:
        with self.lock:
            self._purge_deleted()
            return {
                "users": list(self.users),
                "pending_deletion": list(self.deleting),
                "login_links": len(self.login_links),
                "webhooks_sent": [dict(w) for w in self.webhooks_sent],
            }

    # -- users (also usable in-process to seed demos and tests) --

    def seed_user(self, user_id: str, user_secret: str | None = None) -> str:
        with self.lock:
            secret = user_secret or str(uuid.uuid4())
            self.users[user_id] = {"secret": secret, "created_at": self.clock.now()}
            self.deleting.pop(user_id, None)
            return secret

    def _purge_deleted(self) -> None:
        now = self.clock.now()
        due = [user_id for user_id, delete_at in self.deleting.items() if delete_at <= now]
        for user_id in due:
            del self.users[user_id], self.deleting[user_id]
            self.send_webhook("USER_DELETED", user_id)
        if due:
            for token in [t for t, link in self.login_links.items() if link["user_id"] not in self.users]:
                del self.login_links[token]

    def _user(self, user_id: str) -> dict:
        self._purge_deleted()
        if user_id not in self.users:
            raise HTTPError(404, "The requested resource does not exist.")
        return self.users[user_id]

    def _check_secret(self, user: dict, user_secret: str) -> None:
        if not hmac.compare_digest(user["secret"].encode(), user_secret.encode()):
            raise HTTPError(401, "Invalid userID or userSecret provided", code=CODE_BAD_USER_CREDENTIALS)

    # -- webhooks: sent from a background thread, never holding up a request --

    def send_webhook(self, event_type: str, user_id: str) -> None:
        url = self.settings["webhook_url"]
        if not url:
            return
        payload = {
            "webhookId": str(uuid.uuid4()),
            "clientId": self.settings["client_id"],
            # wall-clock time (not the simulated clock): the receiver checks its age against its own
            "eventTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "userId": user_id,
            "eventType": event_type,
            "webhookSecret": self.settings["webhook_secret"],
        }
        record = {"webhookId": payload["webhookId"], "eventType": event_type, "userId": user_id, "status": None}
        with self.lock:
            self.webhooks_sent = [*self.webhooks_sent[-99:], record]
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json",
                   "Signature": webhook_signature(self.settings["consumer_key"], payload)}

        def deliver():
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
                    record["status"] = answer.status
            except urllib.error.HTTPError as exc:
                record["status"] = exc.code
            except OSError as exc:
                record["status"] = f"error: {exc}"
            logger.info("webhook %s %s -> %s", event_type, user_id, record["status"])

        threading.Thread(target=deliver, name="snaptrade-webhook", daemon=True).start()

    def _purge_later(self, delay: float) -> None:
        """Finish a delayed deletion on time (and send its USER_DELETED) even if nobody asks."""
        def purge():
            with self.lock:
                self._purge_deleted()

        timer = threading.Timer(max(delay, 0.0) + 0.05, purge)
        timer.daemon = True
        timer.start()

    # -- responses in SnapTrade's shape --

    def error_response(self, status, message, *, code=None, headers=None) -> Response:
        body = {"detail": message, "status_code": status, "code": code or CODES.get(status, "1000")}
        return Response.json(body, status, headers)

    def throttled_response(self, retry_after: int) -> Response:
        error = throttled(retry_after)
        return self.error_response(error.status, error.message, headers=error.headers)

    def unavailable_response(self) -> Response:
        return self.error_response(503, "Service temporarily unavailable, try again later.")

    def timeout_response(self) -> Response:
        return self.error_response(504, "Gateway timeout.")

    def finalize_response(self, request: Request, response: Response) -> Response:
        response.headers["X-Request-ID"] = str(uuid.uuid4())
        rate = request.context.get("rate")
        if rate is not None:
            response.headers.update({"X-RateLimit-Limit": str(rate.limit), "X-RateLimit-Remaining": str(rate.remaining),
                                     "X-RateLimit-Reset": str(rate.reset_seconds)})
        if request.path.startswith(LEGACY_PREFIX):
            response.headers["Deprecation"] = LEGACY_DEPRECATION
        return response

    # -- request signing --

    def authenticate(self, request: Request):
        """Verify a signed request; returns its JSON body (None when empty). Raises HTTPError."""
        settings = self.settings
        client_id = request.arg("clientId")
        if not client_id or not hmac.compare_digest(client_id.encode(), settings["client_id"].encode()):
            raise HTTPError(401, "Invalid clientId provided")
        content = request.json()
        expected = compute_signature(settings["consumer_key"], request.raw_path, request.query_string, content)
        if not hmac.compare_digest(request.header("Signature", "").encode(), expected.encode()):
            raise HTTPError(401, "Unable to verify signature sent")
        timestamp = request.arg("timestamp", "")
        if not timestamp.isdigit() or abs(self.clock.now() - int(timestamp)) > settings["timestamp_skew_seconds"]:
            raise HTTPError(401, "Invalid timestamp")
        rate = self.limiter.hit(client_id, self.rate_limit_per_minute(), self.faults.rate_limit_window_seconds)
        request.context["rate"] = rate
        if not rate.allowed:
            raise throttled(rate.reset_seconds)
        return content

    # -- endpoints --

    @route("GET", "/", LEGACY_PREFIX, LEGACY_PREFIX + "/")
    def api_status(self, request: Request) -> Response:
        return Response.json({"version": API_VERSION, "timestamp": str(self.clock.now_datetime()), "online": True})

    @route("POST", *current_and_legacy("/snapTrade/registerUser"))
    @signed
    def register_user(self, request: Request, body) -> Response:
        user_id = body.get("userId") if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise HTTPError(400, "userId: This field is required.")
        with self.lock:
            self._purge_deleted()
            if user_id in self.users:
                raise HTTPError(400, f"User with the following userId already exist: '{user_id}'",
                                code=self.settings["duplicate_user_code"])
            secret = self.seed_user(user_id)
            self.send_webhook("USER_REGISTERED", user_id)
            return Response.json({"userId": user_id, "userSecret": secret})

    @route("POST", *current_and_legacy("/snapTrade/login"))
    @signed
    def login(self, request: Request, body) -> Response:
        user_id, user_secret = request.arg("userId"), request.arg("userSecret")
        if not user_id or not user_secret:
            raise HTTPError(401, "Please provide clientId, userId and userSecret in query params",
                            code=CODE_BAD_USER_CREDENTIALS)
        options = body if isinstance(body, dict) else {}
        if options.get("connectionType", "read") not in CONNECTION_TYPES:
            raise HTTPError(400, f"connectionType: must be one of {', '.join(CONNECTION_TYPES)}.")
        with self.lock:
            self._check_secret(self._user(user_id), user_secret)
            token, session_id = secrets.token_urlsafe(24), str(uuid.uuid4())
            self.login_links[token] = {"user_id": user_id, "session_id": session_id,
                                       "expires_at": self.clock.now() + self.settings["login_link_ttl_seconds"]}
        query = urllib.parse.urlencode({"token": token, "clientId": self.settings["client_id"],
                                        "connectionPortalVersion": options.get("connectionPortalVersion", "v4"),
                                        "sessionId": session_id})
        return Response.json({"redirectURI": f"{request.base_url}/connection-portal?{query}", "sessionId": session_id})

    @route("GET", *current_and_legacy("/snapTrade/listUsers"))
    @signed
    def list_users(self, request: Request, body) -> Response:
        with self.lock:
            self._purge_deleted()
            return Response.json(list(self.users))

    @route("DELETE", *current_and_legacy("/snapTrade/deleteUser"))
    @signed
    def delete_user(self, request: Request, body) -> Response:
        user_id = request.arg("userId")
        if not user_id:
            raise HTTPError(400, "userId: This field is required.")
        with self.lock:
            self._user(user_id)
            if user_id not in self.deleting:
                self.deleting[user_id] = self.clock.now() + self.settings["delete_delay_seconds"]
                self._purge_later(self.settings["delete_delay_seconds"])
        return Response.json({"status": "deleted", "userId": user_id,
                              "detail": "User queued for deletion; please wait for webhook for confirmation."})

    @route("POST", *current_and_legacy("/snapTrade/resetUserSecret"))
    @signed
    def reset_user_secret(self, request: Request, body) -> Response:
        body = body if isinstance(body, dict) else {}
        user_id, user_secret = body.get("userId"), body.get("userSecret")
        if not isinstance(user_id, str) or not user_id or not isinstance(user_secret, str) or not user_secret:
            raise HTTPError(400, "userId and userSecret: This field is required.")
        with self.lock:
            user = self._user(user_id)
            self._check_secret(user, user_secret)
            user["secret"] = str(uuid.uuid4())
            return Response.json({"userId": user_id, "userSecret": user["secret"]})

    @route("GET", "/connection-portal")
    def connection_portal(self, request: Request) -> Response:
        """The page a login redirectURI opens: says whether the link is still valid."""
        with self.lock:
            self._purge_deleted()
            link = self.login_links.get(request.arg("token", ""))
        if link is None:
            status, text = 404, "This connection link is not valid."
        elif link["expires_at"] <= self.clock.now():
            status, text = 410, "This connection link has expired. Generate a new one with login."
        else:
            status, text = 200, f"Connection link valid for SnapTrade user {link['user_id']}."
        return Response.html(
            f"<!doctype html><title>SnapTrade sandbox</title><h1>SnapTrade connection portal (sandbox)</h1>"
            f"<p>{html.escape(text)}</p>", status)
