"""SnapTrade: signed requests; users whose secret is shown once.

The client signs every request except ``GET /`` exactly as the official SDK does (§4.3): the
operation's own query parameters, then ``clientId`` and a fresh integer ``timestamp``, encoded
like the SDK's ``urllib.parse.quote``; an HMAC-SHA256 (key: the consumer key) over the canonical
JSON of ``{content, path, query}``, base64, in the ``Signature`` header. The signed path is the
path relative to the connection's base URL, so a sandbox mounted at ``/snaptrade`` verifies the
same signature as the real API at ``https://api.snaptrade.com``.

``registerUser`` is not idempotent and the user secret it returns cannot be fetched again, so
``provision`` looks before it leaps: a retry (or a refusal) first asks ``listUsers`` whether the
user already exists, and flags the account for a person instead of registering twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from django.utils import timezone

from ..models import HealthStatus
from ..states import AccountStatus, OperationKind
from . import drift
from .base import Outcome, Provider, ProviderEvent, WebhookRefused, health_outcome
from .exceptions import (
    AlreadyExists,
    ConfigurationError,
    Deferred,
    InvalidInput,
    NeedsAttention,
    NotFound,
    ProviderError,
    RateLimited,
    Rejected,
    TransientError,
)
from .http import ProviderClient, retry_after_seconds
from .inputs import BOOLEAN, URI, UUID, InputField

REGISTER_USER = "/snapTrade/registerUser"
LOGIN = "/snapTrade/login"
LIST_USERS = "/snapTrade/listUsers"
DELETE_USER = "/snapTrade/deleteUser"
RESET_USER_SECRET = "/snapTrade/resetUserSecret"
UNSIGNED_PATHS = frozenset({"/"})  # the API status

# SnapTrade's error codes the client tells apart
CODE_SIGNATURE_REJECTED = "1076"
CODE_PERSONAL_KEY = "1012"
CODE_NOT_FOUND = "1011"
CODE_BAD_USER_SECRET = "1083"  # "Invalid userID or userSecret provided" (third-party clients agree)

LOGIN_LINK_LIFETIME = timedelta(minutes=5)
# how long a provisioning waits when SnapTrade is still deleting the account's previous user
PENDING_DELETION_RETRY_SECONDS = 15.0


# --- signing ------------------------------------------------------------------------------------

def encode_query(params: Iterable[tuple[str, Any]]) -> str:
    """The query string as the SDK writes it: ``quote(str(value))``, so only ``/`` (and the
    unreserved ``-._~``) stay literal; space is ``%20``, non-ASCII is percent-encoded UTF-8."""
    return "&".join(f"{quote(str(name))}={quote(str(value))}" for name, value in params)


def canonical_signature(*, consumer_key: str, data: Any) -> str:
    """Base64 HMAC-SHA256 keyed with the consumer key over ``data`` as canonical JSON (sorted
    keys, no whitespace, non-ASCII escaped): how SnapTrade signs requests and its webhooks."""
    canonical = json.dumps(data, separators=(",", ":"), sort_keys=True)
    digest = hmac.new(consumer_key.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def request_signature(*, consumer_key: str, path: str, query: str, content: Any) -> str:
    """The ``Signature`` header: base64 HMAC-SHA256 over ``{"content","path","query"}`` as
    canonical JSON (sorted keys, no whitespace, non-ASCII escaped). No body and ``{}`` sign as null."""
    return canonical_signature(
        consumer_key=consumer_key,
        data={"content": None if content is None or content == {} else content, "path": path, "query": query},
    )


def webhook_signature(*, consumer_key: str, payload: Any) -> str:
    """The ``Signature`` header of a SnapTrade webhook: the same HMAC over the body's canonical JSON."""
    return canonical_signature(consumer_key=consumer_key, data=payload)


# the webhook events the portal acts on (others are recorded and acknowledged)
WEBHOOK_ACTIONS = {"USER_DELETED": "user_deleted", "USER_REGISTERED": "user_registered"}


# --- the client ---------------------------------------------------------------------------------

class SnapTradeClient(ProviderClient):
    """HTTP, signing and error mapping for one SnapTrade connection.

    ``clock`` (unix seconds) is an attribute so tests can freeze the signed timestamp.
    """

    provider_name = "SnapTrade"
    secret_names = frozenset({"userSecret", "consumerKey"})
    retry_after_headers = ("X-RateLimit-Reset", "X-RateLimit-Account-Reset")
    clock = staticmethod(time.time)

    def __init__(self, connection, call_log=None):
        super().__init__(connection, call_log)
        # "" for https://api.snaptrade.com, "/snaptrade" for the sandbox: not part of what is signed
        self.base_path = urlsplit(self.base_url).path.rstrip("/")

    # --- hooks of the choke point --------------------------------------------------------------
    def authenticate(self, request: requests.PreparedRequest) -> None:
        """Append ``clientId`` and ``timestamp`` to the query and sign what will be sent."""
        parts = urlsplit(request.url)
        path = self.relative_path(parts.path)
        if path in UNSIGNED_PATHS:
            return
        auth = encode_query([("clientId", self.credentials["client_id"]), ("timestamp", int(self.clock()))])
        query = f"{parts.query}&{auth}" if parts.query else auth
        request.url = urlunsplit(parts._replace(query=query))
        content = json.loads(request.body) if request.body else None
        request.headers["Signature"] = request_signature(
            consumer_key=self.credentials["consumer_key"], path=path, query=query, content=content
        )

    def pause_seconds(self, response: requests.Response, error: ProviderError | None) -> float | None:
        """A 429, or any answer saying ``X-RateLimit-Remaining: 0``: wait for ``X-RateLimit-Reset``
        (the whole connection, so that no other operation spends a request on a certain 429)."""
        if response.status_code == 429:
            return self.retry_after(response)
        if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
            return retry_after_seconds(response, "X-RateLimit-Reset")
        return None

    def error_for(self, response: requests.Response, data: Any) -> ProviderError | None:
        """An error status with SnapTrade's ``{"detail", "status_code", "code"}`` body."""
        status = response.status_code
        if status < 400:
            return None
        detail, code = self._error_fields(response, data)
        detail = self.redactor.text(detail)  # shown to staff: never echo a secret
        said = f"SnapTrade answered {status}: {detail}" + (f" (code {code})" if code else "")
        if status == 429:
            return RateLimited(said, retry_after=self.retry_after(response))
        if status >= 500:
            return TransientError(said)
        if status in (401, 403):
            if code != CODE_SIGNATURE_REJECTED and _is_about_user_secret(code, detail):
                return NeedsAttention(
                    f"{said}. The user secret stored for this account is not accepted; SnapTrade shows a "
                    "secret only once, so deprovision the account (deleting the remote user) and provision it again."
                )
            return ConfigurationError(
                f"{said}. Check the connection's client id and consumer key (and this machine's clock)."
            )
        path = self.relative_path(urlsplit(response.request.url).path)
        if status == 404 and (code == CODE_NOT_FOUND or path == DELETE_USER):
            # 1011 is only the specification's example; deleteUser documents a 404 for a user it
            # does not have, whatever the code says
            return NotFound(said)
        if status == 400 and code == CODE_PERSONAL_KEY:
            return ConfigurationError(f"{said}. Managing users needs a commercial API key, not a personal one.")
        if status == 400 and path == REGISTER_USER:
            return AlreadyExists(f"{said}. The user possibly exists already.")
        if status in (400, 422):
            return InvalidInput(said)
        return Rejected(said)

    # --- SnapTrade's operations ----------------------------------------------------------------
    def api_status(self) -> dict:
        return self.request("GET", "/", shape=dict).data

    def register_user(self, user_id: str) -> dict:
        """Not idempotent: a read timeout is an ``UnknownOutcome``."""
        answer = self._call("POST", REGISTER_USER, body={"userId": user_id}).data
        self.redactor.add_values(answer.get("userSecret"))
        return answer

    def login(self, user_id: str, user_secret: str, options: dict | None = None) -> dict:
        """A connection-portal link; asking twice is harmless, hence idempotent."""
        self.redactor.add_values(user_secret)
        query = [("userId", user_id), ("userSecret", user_secret)]
        return self._call("POST", LOGIN, query=query, body=options or {}, idempotent=True).data

    def list_users(self) -> list[str]:
        return [str(user) for user in self._call("GET", LIST_USERS, shape=list).data]

    def delete_user(self, user_id: str) -> dict:
        return self._call("DELETE", DELETE_USER, query=[("userId", user_id)]).data

    def reset_user_secret(self, user_id: str, user_secret: str) -> dict:
        """Not idempotent: once it went through, only the new secret works."""
        self.redactor.add_values(user_secret)
        body = {"userId": user_id, "userSecret": user_secret}
        answer = self._call("POST", RESET_USER_SECRET, body=body, idempotent=False).data
        self.redactor.add_values(answer.get("userSecret"))
        return answer

    # --- helpers -------------------------------------------------------------------------------
    def relative_path(self, path: str) -> str:
        """The path SnapTrade signs: without the base URL's own path (the sandbox mount)."""
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path):]
        return path or "/"

    def _call(self, method, path, *, query=(), body=None, idempotent=None, shape=dict) -> requests.Response:
        """The query is encoded here, in the SDK's order and spelling; requests leaves it as is.

        SnapTrade answers with a JSON object unless ``shape`` says otherwise."""
        target = f"{path}?{encode_query(query)}" if query else path
        return self.request(method, target, json_body=body, idempotent=idempotent, shape=shape)

    @staticmethod
    def _error_fields(response: requests.Response, body: Any) -> tuple[str, str]:
        """``detail`` and ``code`` of SnapTrade's error body (``{"detail","status_code","code"}``)."""
        detail = code = ""
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("default_detail") or ""
            code = body.get("code") or body.get("default_code") or ""
        detail = " ".join(str(detail).split())[:500] or f"HTTP {response.status_code} {response.reason or ''}".strip()
        return detail, str(code)


def _is_about_user_secret(code: str, detail: str) -> bool:
    squeezed = detail.lower().replace(" ", "")
    return code == CODE_BAD_USER_SECRET or "usersecret" in squeezed


# --- login link options -------------------------------------------------------------------------

# the optional body of SnapTrade's login, with SnapTrade's own names
LOGIN_OPTIONS = (
    InputField("broker", label="Brokerage", required=False, max_length=500,
               help_text="Preselect a brokerage by its slug (SnapTrade's broker)."),
    InputField("immediateRedirect", BOOLEAN, label="Go straight to the brokerage", required=False,
               help_text="Skip SnapTrade's list of brokerages (immediateRedirect)."),
    InputField("customRedirect", label="Afterwards, send the person to", required=False, max_length=500,
               format=URI, help_text="An absolute http(s) URL (customRedirect)."),
    InputField("reconnect", label="Reconnect", required=False, format=UUID,
               help_text="The UUID of a brokerage connection to reconnect (reconnect)."),
    InputField("connectionType", label="Access", required=False, choices=("read", "trade", "trade-if-available"),
               help_text="read: see the accounts; trade: also place trades; trade-if-available: trade where the "
                         "brokerage allows it (connectionType)."),
    InputField("showCloseButton", BOOLEAN, label="Show a close button", required=False,
               help_text="(showCloseButton)"),
    InputField("darkMode", BOOLEAN, label="Dark mode", required=False, help_text="(darkMode)"),
    InputField("locale", label="Language", required=False, max_length=500,
               help_text="A language code such as en or fr (locale)."),
    InputField("connectionPortalVersion", label="Portal version", required=False, choices=("v4", "v3", "v2"),
               help_text="The version of SnapTrade's connection portal (connectionPortalVersion)."),
)


# --- the provider -------------------------------------------------------------------------------

class SnapTradeProvider(Provider):
    kind = "snaptrade"
    label = "SnapTrade"
    deprovision_warning = (
        "SnapTrade deletes the user for good, with its brokerage connections: its user secret "
        "cannot be recovered, and provisioning the member again creates a new user."
    )
    client_class = SnapTradeClient
    operations = frozenset(
        {
            OperationKind.HEALTH_CHECK,
            OperationKind.PROVISION,
            OperationKind.LOGIN_LINK,
            OperationKind.ROTATE_SECRET,
            OperationKind.SYNC,
            OperationKind.DEPROVISION,
            OperationKind.RECONCILE,
        }
    )
    credential_fields = (
        InputField("client_id", label="client id", max_length=200, help_text="Your SnapTrade client id."),
        InputField("consumer_key", label="consumer key", secret=True, max_length=500,
                   help_text="Your SnapTrade consumer key (signs every request)."),
    )
    input_fields = {OperationKind.LOGIN_LINK: LOGIN_OPTIONS}
    base_url_example = "https://api.snaptrade.com (the sandbox: http://127.0.0.1:8001/snaptrade)"
    receives_webhooks = True
    webhook_secret_names = frozenset({"webhookSecret"})
    clock = staticmethod(time.time)

    client: SnapTradeClient

    # --- connection level ----------------------------------------------------------------------
    def health_check(self, ctx) -> Outcome:
        """Is the API up (``GET /``, unsigned), and are the credentials accepted (a signed ``listUsers``)?"""
        try:
            status = self.client.api_status()
        except Deferred:  # the portal's own limit: nothing was asked yet
            raise
        except TransientError as err:
            return health_outcome(HealthStatus.ERROR, f"SnapTrade is unreachable: {err.message}", online=False)
        online = bool(isinstance(status, dict) and status.get("online"))
        version = status.get("version") if isinstance(status, dict) else None
        try:
            users = self.client.list_users()
        except ConfigurationError as err:
            return health_outcome(HealthStatus.ERROR, f"Credentials rejected: {err.message}", online=online)
        except Deferred:
            raise
        except TransientError as err:
            return health_outcome(HealthStatus.DEGRADED, f"Signed requests fail for now: {err.message}", online=online)
        summary = f"API version {version}; credentials accepted, {len(users)} users registered."
        if not online:
            return health_outcome(HealthStatus.DEGRADED, f"SnapTrade reports itself offline. {summary}", online=False)
        return health_outcome(HealthStatus.OK, f"Online. {summary}", online=True, users=len(users))

    def remote_user_ids(self) -> set[str]:
        return set(self.client.list_users())

    # --- account level -------------------------------------------------------------------------
    def provision(self, ctx) -> Outcome:
        account = ctx.account
        user_id = account.external_id or self.external_id_for(account)
        if ctx.is_retry:  # the previous attempt may have registered the user: look first
            adopted = self._existing_user(account, user_id)
            if adopted is not None:
                return adopted
        try:
            answer = self.client.register_user(user_id)
        except AlreadyExists as err:
            adopted = self._existing_user(account, user_id)
            if adopted is not None:
                return adopted
            raise Rejected(f"SnapTrade refused to register user {user_id}. {err.message}") from None
        secret = answer.get("userSecret")
        if not secret:
            raise Rejected(f"SnapTrade registered user {user_id} but sent no user secret.")
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            external_id=user_id,
            details={
                "user_id": answer.get("userId") or user_id,
                "registered_at": _now(),
                "remote_deletion": None,
                "deletion_requested_at": None,
                "deletion_detail": None,
            },
            secrets={"user_secret": secret},
            result={"user_id": user_id},
        )

    def _existing_user(self, account, user_id: str) -> Outcome | None:
        """``None`` when SnapTrade has no user ``user_id``; otherwise what to do about it."""
        if user_id not in self.client.list_users():
            return None
        if account.details.get("deletion_requested_at"):
            raise TransientError(
                f"SnapTrade has not finished deleting the previous user {user_id} (deletion requested at "
                f"{account.details['deletion_requested_at']}); provisioning continues once it is gone.",
                retry_after=PENDING_DELETION_RETRY_SECONDS,
            )
        if account.secrets.get("user_secret"):
            # registered earlier with its secret stored: nothing to do but to say so
            return Outcome(
                account_status=AccountStatus.ACTIVE,
                external_id=user_id,
                details={"user_id": user_id},
                result={"user_id": user_id, "already_registered": True},
            )
        raise NeedsAttention(
            f"SnapTrade already has user {user_id} but the portal never received its secret (the first "
            "attempt's answer was lost). SnapTrade shows a user secret only once: deprovision this account "
            "(which deletes the remote user) and provision it again."
        )

    def login_link(self, ctx) -> Outcome:
        user_id, secret = self._user_and_secret(ctx.account)
        answer = self.client.login(user_id, secret, options=dict(ctx.input))
        redirect_uri = answer.get("redirectURI")
        if not redirect_uri:
            raise Rejected("SnapTrade answered the login without a redirect URI (encrypted answers are not supported).")
        expires_at = timezone.now() + LOGIN_LINK_LIFETIME
        return Outcome(
            result={
                "redirect_uri": redirect_uri,
                "expires_at": expires_at.isoformat(),
                "session_id": answer.get("sessionId", ""),
            }
        )

    def rotate_secret(self, ctx) -> Outcome:
        user_id, secret = self._user_and_secret(ctx.account)
        try:
            answer = self.client.reset_user_secret(user_id, secret)
        except NeedsAttention as err:
            if not ctx.is_retry:
                raise
            raise NeedsAttention(
                f"SnapTrade no longer accepts the stored secret of user {user_id}: an earlier attempt that "
                "got no answer probably rotated it, and the new secret was never received. Deprovision this "
                f"account and provision it again. ({err.message})"
            ) from None
        new_secret = answer.get("userSecret")
        if not new_secret:
            raise Rejected(f"SnapTrade reset the secret of user {user_id} but sent no new secret.")
        return Outcome(
            secrets={"user_secret": new_secret},
            details={"secret_rotated_at": _now()},
            result={"user_id": user_id, "rotated": True},
        )

    def sync(self, ctx) -> Outcome:
        """Is the account's user still at SnapTrade? Flags drift, and clears a drift flag it set."""
        account = ctx.account
        present = account.external_id in self.remote_user_ids()
        return Outcome(
            details={"remote_present": present, "remote_checked_at": _now()},
            result={"user_id": account.external_id, "present_remotely": present},
            attention=drift.account_drift(
                label=self.label,
                account=drift.LocalAccount(account.pk, account.external_id, account.status, account.attention),
                present=present,
            ),
        )

    def deprovision(self, ctx) -> Outcome:
        """``deleteUser`` only queues the deletion at SnapTrade: the operation succeeds once it is
        queued, and the account stays ``deprovisioning`` until SnapTrade's ``USER_DELETED`` webhook
        arrives, or a reconcile (scheduled: ``accounts_finish_pending_deletions``) no longer finds
        the user in ``listUsers``. Nothing to delete, or already gone: ``deprovisioned`` at once."""
        account = ctx.account
        user_id = account.external_id
        # SnapTrade's words on queueing go to the operation's result: in the account's details,
        # "queued for deletion" outlived the deletion it announced
        details = {"deletion_requested_at": _now(), "deletion_detail": None}
        result = {"user_id": user_id}
        if not user_id:
            details["remote_deletion"] = "nothing to delete"
        else:
            try:
                answer = self.client.delete_user(user_id)
            except NotFound:
                details["remote_deletion"] = "not found (already deleted)"
            else:
                details["remote_deletion"] = "queued"
                result["detail"] = str(answer.get("detail", ""))[:500]
        queued = details["remote_deletion"] == "queued"
        return Outcome(
            account_status=AccountStatus.DEPROVISIONING if queued else AccountStatus.DEPROVISIONED,
            details=details,
            secrets={"user_secret": None},
            result={**result, "remote_deletion": details["remote_deletion"]},
        )

    @classmethod
    def sandbox_environment(cls, *, connection, portal_url: str) -> dict[str, str]:
        """The simulator sends its webhooks to this connection's receiver."""
        from django.urls import reverse

        page = reverse("provider-webhook", kwargs={"connection_id": connection.pk})
        return {"SANDBOX_SNAPTRADE_WEBHOOK_URL": f"{portal_url.rstrip('/')}{page}"}

    # --- webhooks --------------------------------------------------------------------------------
    def webhook_receiver(self, body: bytes, headers: dict[str, str]) -> list[ProviderEvent]:
        """SnapTrade's webhook: one JSON event, ``Signature`` = base64 HMAC-SHA256 (consumer key)
        over its canonical JSON; refused when older than ``INBOUND_WEBHOOK_MAX_AGE_SECONDS``."""
        from django.conf import settings

        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRefused("The body is not JSON.") from None
        if not isinstance(payload, dict):
            raise WebhookRefused("The body is not a JSON object.")
        webhook_id = str(payload.get("webhookId") or "")[:200]
        event_type = str(payload.get("eventType") or "")[:100]
        signature = {k.lower(): v for k, v in headers.items()}.get("signature", "")
        expected = webhook_signature(consumer_key=self.connection.credentials.get("consumer_key", ""), payload=payload)
        if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise WebhookRefused("The Signature header does not match.", status_code=401,
                                 webhook_id=webhook_id, type=event_type)
        if not webhook_id or not event_type:
            raise WebhookRefused("webhookId and eventType are required.", webhook_id=webhook_id, type=event_type)
        client_id = payload.get("clientId")
        if client_id is not None and client_id != self.connection.credentials.get("client_id"):
            raise WebhookRefused("The webhook is for another client id.", status_code=401,
                                 webhook_id=webhook_id, type=event_type)
        try:
            sent_at = datetime.fromisoformat(str(payload.get("eventTimestamp", "")).replace("Z", "+00:00"))
            if sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=dt_timezone.utc)
        except ValueError:
            raise WebhookRefused("eventTimestamp is not an ISO 8601 time.", webhook_id=webhook_id,
                                 type=event_type) from None
        age = self.clock() - sent_at.timestamp()
        max_age = settings.PROVISIONING["INBOUND_WEBHOOK_MAX_AGE_SECONDS"]
        if abs(age) > max_age:
            raise WebhookRefused(f"The webhook was sent {int(age)} s ago (more than {max_age} s apart): refused.",
                                 status_code=401, webhook_id=webhook_id, type=event_type)
        return [
            ProviderEvent(
                webhook_id=webhook_id,
                type=event_type,
                action=WEBHOOK_ACTIONS.get(event_type, ""),
                user_id=str(payload.get("userId") or ""),
                data={k: v for k, v in payload.items() if k not in self.webhook_secret_names},
            )
        ]

    # --- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _user_and_secret(account) -> tuple[str, str]:
        secret = account.secrets.get("user_secret")
        if not account.external_id or not secret:
            raise NeedsAttention(
                "No SnapTrade user secret is stored for this account: deprovision it and provision it again."
            )
        return account.external_id, secret


def _now() -> str:
    return timezone.now().isoformat()


__all__ = ["SnapTradeClient", "SnapTradeProvider", "encode_query", "request_signature"]
