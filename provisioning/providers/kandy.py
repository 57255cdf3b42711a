"""Kandy (kandy.io REST API v1.2): domain access token, create/list/delete users.

Every answer is an envelope ``{"status": int, "message": str, "result": {...}}``; success is
``status == 0`` *and* a success message, whatever the HTTP status says (errors may come back as
HTTP 200). Domain-level calls carry a domain access token as ``key=``; the token is fetched with
the domain API key and secret, cached encrypted in the connection's secret state, and fetched
once more (and the call repeated once) when Kandy calls it invalid.

Remote user ids are readable (``jane.doe-m7-<installation>``) and chosen before the first call,
so a create whose answer was lost is recognised in the domain's user list on the next attempt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import requests

from ..models import HealthStatus
from ..states import AccountStatus, OperationKind
from . import drift
from .base import OperationContext, Outcome, Provider, health_outcome, installation_id
from .exceptions import (
    AlreadyExists,
    ConfigurationError,
    InvalidInput,
    NotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Rejected,
    TransientError,
)
from .http import ProviderClient
from .inputs import InputField

# Kandy's own words for a full user quota (Basic plans allow 5 users) [K1].
QUOTA_MESSAGE = "failed to register user on compass"
# Messages that mean success. "User Deleted" is what delete-user answers per [K3].
SUCCESS_MESSAGES = frozenset({"success", "user deleted"})
STATUS_MISSING_PARAMETERS = 3
STATUS_USER_NOT_FOUND = 701
# "invalid key", "domain access token expired", "unknown token", "authentication failed",
# "unauthorized"...: the token needs renewing (Kandy's words for it are not known for sure).
INVALID_TOKEN = re.compile(
    r"\b(invalid|expired|revoked|unknown|bad|wrong)\b.*\b(key|token)s?\b"
    r"|\b(key|token)s?\b.*\b(invalid|expired|revoked|not valid)\b"
    r"|\bauthenticat|\bunauthori[sz]ed\b|\bnot authori[sz]ed\b|\baccess denied\b",
    re.IGNORECASE,
)
ALREADY_EXISTS = re.compile(r"already (exists|registered|taken|in use)|duplicate", re.IGNORECASE)
NOT_FOUND = re.compile(r"not found|does not exist|no such user|unknown user", re.IGNORECASE)

# The secrets a provisioned user comes with, as Kandy names them (stored encrypted on the account).
USER_SECRETS = ("user_password", "user_api_key", "user_api_secret")
# The seed's ``.env`` names for a connection's credentials [K1].
ENVIRONMENT_CREDENTIALS = {
    "api_key": "PROJECT_API_KEY",
    "api_secret": "PROJECT_API_SECRET",
    "access_token": "PROJECT_ACCESS_TOKEN",
}


class InvalidToken(ConfigurationError):
    """Kandy refused the domain access token (or the key) it was sent."""


def _user_id_part(text: str, limit: int = 32) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("._-")[:limit].strip("._-")


class KandyClient(ProviderClient):
    """HTTP, envelope checking, error mapping and the domain access token of one connection."""

    provider_name = "Kandy"
    secret_names = frozenset(
        {
            "domain_api_secret",
            "domain_access_token",
            "domain_api_key",
            "user_access_token",
            "user_api_key",
            "user_api_secret",
            "user_password",
            "access_token",
        }
    )

    # --- the envelope ----------------------------------------------------------------------
    def error_for(self, response: requests.Response, data: Any) -> ProviderError | None:
        """Every answer is an envelope; success is ``status == 0`` and a success message, whatever
        the HTTP status (a 200 can carry an error). JSON that is no envelope is a broken answer."""
        envelope = _envelope(data)
        if envelope is None:
            return self.broken_answer(response, "JSON that is not Kandy's envelope")
        status, message = envelope["status"], envelope["message"]
        if status == 0 and message.strip().lower() in SUCCESS_MESSAGES:
            return None
        return error_for_envelope(
            status, message, http_status=response.status_code, retry_after=self.retry_after(response)
        )

    def broken_answer(self, response: requests.Response, what: str) -> ProviderError:
        """A 401 or 403 is the token's, whatever its body (a gateway's page has no envelope), as
        ``error_for_envelope`` says of one with an envelope; any other: the base rule."""
        if response.status_code in (401, 403):
            return InvalidToken(f"Kandy answered HTTP {response.status_code} with {what}.")
        return super().broken_answer(response, what)

    # --- the domain access token ----------------------------------------------------------
    @property
    def cached_token(self) -> str | None:
        return self.connection.secret_state.get("domain_access_token") or self.credentials.get("access_token") or None

    def fetch_domain_access_token(self) -> str:
        """Ask Kandy for a new domain access token with the key and secret, and keep it."""
        params = {
            "key": self.credentials.get("api_key", ""),
            "domain_api_secret": self.credentials.get("api_secret", ""),
        }
        try:
            result = self._result(self.request("GET", "/domains/accesstokens", params=params))
        except (ConfigurationError, Rejected, NotFound, InvalidInput) as err:
            raise ConfigurationError(
                f"Kandy refused the domain API key and secret of this connection: {err.message}"
            ) from err
        token = result.get("domain_access_token")
        if not isinstance(token, str) or not token:
            raise Rejected("Kandy's answer to a token request holds no domain access token.")
        self.remember_secret(domain_access_token=token)
        return token

    def domain_call(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> dict:
        """A domain-level call with the cached token (``key=``); returns the envelope's result.

        When Kandy calls the token invalid, a new one is fetched once and the call repeated once:
        the refused call did nothing at Kandy, so repeating it is safe even for a create.
        """
        token = self.cached_token or self.fetch_domain_access_token()
        try:
            return self._domain_send(method, path, token, params, json_body, idempotent)
        except InvalidToken:
            token = self.fetch_domain_access_token()
        try:
            return self._domain_send(method, path, token, params, json_body, idempotent)
        except InvalidToken as err:
            raise ConfigurationError(f"Kandy refused a freshly issued domain access token: {err.message}") from err

    def _domain_send(self, method, path, token, params, json_body, idempotent) -> dict:
        response = self.request(
            method, path, params={"key": token, **(params or {})}, json_body=json_body, idempotent=idempotent
        )
        return self._result(response)

    @staticmethod
    def _result(response: requests.Response) -> dict:
        """The envelope's ``result`` (``error_for`` has checked the envelope); ``{}`` when it has none."""
        result = response.data.get("result")
        return result if isinstance(result, dict) else {}

    # --- the calls the provider uses ------------------------------------------------------
    def create_user(self, *, user_id: str, **fields: str) -> dict:
        body = {"user_id": user_id, **{k: v for k, v in fields.items() if v}}
        return self.domain_call("POST", "/domains/users/user_id", json_body=body, idempotent=False)

    def list_users(self) -> list[dict]:
        users = self.domain_call("GET", "/domains/users").get("users")
        if not isinstance(users, list):
            raise TransientError("Kandy's user list answer holds no list of users.")
        return [u for u in users if isinstance(u, dict)]

    def find_user(self, user_id: str) -> dict | None:
        return next((u for u in self.list_users() if u.get("user_id") == user_id), None)

    def delete_user(self, user_id: str) -> None:
        self.domain_call("DELETE", "/domains/users", params={"user_id": user_id})

    def domain_details(self) -> dict:
        domain = self.domain_call(
            "GET", "/accounts/domains/details", params={"domain_api_key": self.credentials.get("api_key", "")}
        ).get("domain")
        return domain if isinstance(domain, dict) else {}


def _envelope(body: Any) -> dict | None:
    """The envelope in an answer's JSON (its ``status`` as an int), or None when it is not one."""
    if not isinstance(body, dict) or isinstance(body.get("status"), bool):
        return None
    status = body.get("status")
    if isinstance(status, str) and status.strip().lstrip("-").isdigit():
        status = int(status)
    if not isinstance(status, int) or not isinstance(body.get("message", ""), str):
        return None
    return {**body, "status": status, "message": body.get("message", "")}


def error_for_envelope(
    status: int, message: str, *, http_status: int = 200, retry_after: float | None = None
) -> ProviderError:
    """Map a failed envelope onto the error taxonomy (the message decides before the HTTP status)."""
    shown = message or "(no message)"
    # the words first; Kandy's own status (1 for any failure) and the HTTP status after them
    text = f"Kandy answered: {shown} (Kandy status {status}, HTTP {http_status})"
    if QUOTA_MESSAGE in message.lower():
        return QuotaExceeded(
            f"Kandy refused a new user: the domain's user quota is full ({shown}).",
            code="quota_exceeded",
        )
    if http_status in (401, 403) or INVALID_TOKEN.search(message):
        return InvalidToken(text)
    if http_status == 429:
        return RateLimited(text, retry_after=retry_after)
    if http_status >= 500:
        return TransientError(text)
    if ALREADY_EXISTS.search(message):
        return AlreadyExists(text)
    if status == STATUS_USER_NOT_FOUND or NOT_FOUND.search(message) or http_status == 404:
        return NotFound(text)
    if status == STATUS_MISSING_PARAMETERS:
        return InvalidInput(text)
    if status == 0:  # "status 0" with another message: not a success either
        return Rejected(f"Kandy answered status 0 without a success message: {shown}")
    return Rejected(text)


class KandyProvider(Provider):
    kind = "kandy"
    label = "Kandy (v1.2)"
    deprovision_warning = (
        "Kandy deletes the user and the portal forgets its secrets: this cannot be undone."
    )
    client_class = KandyClient
    operations = frozenset(
        {
            OperationKind.PROVISION,
            OperationKind.DEPROVISION,
            OperationKind.SYNC,
            OperationKind.RECONCILE,
            OperationKind.HEALTH_CHECK,
        }
    )
    credential_fields = (
        InputField("api_key", label="domain API key", max_length=200,
                   help_text="The project's domain API key (it starts with DAK)."),
        InputField("api_secret", label="domain API secret", secret=True, max_length=200,
                   help_text="The project's domain API secret (it starts with DAS)."),
        InputField("access_token", label="domain access token", required=False, secret=True, max_length=500,
                   help_text="A domain access token to start with; the portal fetches new ones itself."),
    )
    base_url_example = "https://api.kandy.io/v1.2"
    sandbox_api_path = "/v1.2"
    # a Kandy Basic plan holds 5 users, and so does the sandbox's domain by default
    sandbox_max_accounts = 5

    client: KandyClient

    @classmethod
    def sandbox_connection(cls, *, sandbox_url: str, credentials: dict) -> dict[str, Any]:
        return {**super().sandbox_connection(sandbox_url=sandbox_url, credentials=credentials),
                "max_accounts": cls.sandbox_max_accounts}

    @classmethod
    def credentials_from_environment(cls, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """A connection's credentials from the seed's variables (``PROJECT_API_KEY``, ...)."""
        environ = os.environ if environ is None else environ
        return {name: environ[var] for name, var in ENVIRONMENT_CREDENTIALS.items() if environ.get(var)}

    external_id_member_fields = ("email",)

    def external_id_for(self, account) -> str:
        """``<email local part>-m<member id>-<installation>``: readable, unique per connection.

        Lowercase letters, digits, ``.``, ``_`` and ``-`` only (a Kandy user id becomes
        ``<user_id>@<domain>``). The installation part keeps two portals sharing a Kandy domain
        apart and lets reconcile recognise the users this portal created.
        """
        local = _user_id_part(account.member.email.split("@", 1)[0]) or "member"
        return f"{local}-m{account.member_id}-{_user_id_part(installation_id(), 16)}"

    def owns_remote_id(self, user_id: str) -> bool:
        return re.search(rf"-m\d+-{re.escape(_user_id_part(installation_id(), 16))}$", user_id) is not None

    def remote_user_ids(self) -> set[str]:
        return {u["user_id"] for u in self.client.list_users() if isinstance(u.get("user_id"), str)}

    # --- operations ---------------------------------------------------------------------------
    def provision(self, ctx: OperationContext) -> Outcome:
        user_id = ctx.account.external_id or self.external_id_for(ctx.account)
        if ctx.is_retry:
            # an earlier attempt may have created the user even though its answer was lost
            existing = self.client.find_user(user_id)
            if existing is not None:
                return self._recovered(existing)
        member = ctx.member
        try:
            result = self.client.create_user(
                user_id=user_id,
                user_country_code=member.country.code,
                user_first_name=member.first_name,
                user_last_name=member.last_name,
                user_email=member.email,
            )
        except AlreadyExists:
            existing = self.client.find_user(user_id)
            if existing is None:
                raise
            return self._recovered(existing)
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            external_id=result.get("user_id") or user_id,
            details=_user_details(result, user_id),
            secrets={name: result.get(name) for name in USER_SECRETS if result.get(name)},
            result={"user_id": result.get("user_id") or user_id, "full_user_id": result.get("full_user_id", "")},
            attention="",
        )

    def _recovered(self, user: dict) -> Outcome:
        """The user an earlier attempt created, taken over from the domain's user list."""
        user_id = user["user_id"]
        secrets = {name: user.get(name) for name in USER_SECRETS if user.get(name)}
        missing = [name for name in USER_SECRETS if name not in secrets]
        attention = _unknown_secrets_message(user_id, missing) if missing else ""
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            external_id=user_id,
            details=_user_details(user, user_id),
            secrets=secrets,
            result={"user_id": user_id, "full_user_id": _full_user_id(user, user_id), "recovered": True},
            attention=attention,
        )

    def deprovision(self, ctx: OperationContext) -> Outcome:
        user_id = ctx.account.external_id
        absent = False
        if user_id:
            try:
                self.client.delete_user(user_id)
            except NotFound:
                absent = True  # deleted before (an earlier attempt, or by hand at Kandy)
        else:
            absent = True  # never created
        return Outcome(
            account_status=AccountStatus.DEPROVISIONED,
            secrets={name: None for name in ctx.account.secrets},
            result={"user_id": user_id, "already_absent": absent},
            attention="",
        )

    def sync(self, ctx: OperationContext) -> Outcome:
        """Is the user still in the domain? Takes over changed user secrets; flags drift.

        Clears only the flags Kandy's own drift checks set, never another reason for attention.
        """
        user_id = ctx.account.external_id
        user = self.client.find_user(user_id)
        if user is None:
            return Outcome(
                attention=drift.missing_message(self.label, user_id),
                result={"user_id": user_id, "exists": False},
            )
        stored = ctx.account.secrets
        changed = {name: user[name] for name in USER_SECRETS if user.get(name) and user[name] != stored.get(name)}
        unknown = [name for name in USER_SECRETS if not (changed.get(name) or stored.get(name))]
        current = ctx.account.attention
        if unknown:
            attention = _unknown_secrets_message(user_id, unknown)
        else:
            attention = drift.clear_own_flag(current)  # another reason for attention stays
        return Outcome(
            details=_user_details(user, user_id),
            secrets=changed,
            result={"user_id": user_id, "exists": True, "secrets_updated": sorted(changed)},
            attention=attention,
        )

    def health_check(self, ctx: OperationContext) -> Outcome:
        """A new token (proves the key and secret) and the domain's details (its number of users)."""
        try:
            self.client.fetch_domain_access_token()
            domain = self.client.domain_details()
        except ConfigurationError as err:
            return health_outcome(HealthStatus.ERROR, f"Credentials rejected: {err.message}")
        except TransientError as err:
            return health_outcome(HealthStatus.ERROR, f"Kandy is unreachable: {err.message}")
        except ProviderError as err:
            return health_outcome(HealthStatus.DEGRADED, f"Kandy answered unexpectedly: {err.message}")
        users = domain.get("number_of_users")
        quota = self.connection.max_accounts
        name = domain.get("domain_name") or "?"
        detail = f"Credentials accepted; domain {name} has {users if users is not None else '?'} users"
        if quota is not None:
            detail += f" (this connection may hold {quota} accounts)"
        known = {key: domain[key] for key in ("domain_name", "project_name", "number_of_users") if key in domain}
        outcome = health_outcome(HealthStatus.OK, detail + ".", **known)
        outcome.provider_state = known
        return outcome

def _unknown_secrets_message(user_id: str, names: list[str]) -> str:
    return (
        f"{drift.DRIFT_PREFIX}the Kandy user {user_id} exists but the portal does not know its {', '.join(names)} "
        "(Kandy's user list does not show them): set them again at Kandy."
    )


def _full_user_id(user: dict, user_id: str) -> str:
    if user.get("full_user_id"):
        return user["full_user_id"]
    return f"{user_id}@{user['domain_name']}" if user.get("domain_name") else ""


def _user_details(user: dict, user_id: str) -> dict:
    return {
        "user_id": user.get("user_id") or user_id,
        "full_user_id": _full_user_id(user, user_id),
        "domain_name": user.get("domain_name", ""),
    }
