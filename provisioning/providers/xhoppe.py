"""Xhoppe (Spree-style mobile commerce API, doc version ``1aa0a58``).

Registration is by phone number: ``POST /users`` with ``msisdn``, ``password`` and
``password_confirmation`` sends an SMS code; ``POST /users/verify`` with that code returns the
user's ``authentication_token``. ``PUT /users/forget_password`` sends another SMS.

Choices where the contract is silent:

- **msisdn**: the member's E.164 phone without the ``+`` (``+6591234567`` -> ``6591234567``), as
  in every sample of the docs. A member without a phone cannot be registered (``member_missing``):
  a provisioning asked for alone is refused, and a batch leaves them out and says why.
- **Status codes**: any 2xx is success; on any 4xx the Spree envelope's ``errors`` map becomes
  field errors (``msisdn: has already been taken``); 401 is a configuration error.
- **Locked accounts**: a verify answered with ``valid_for_authentication: false`` leaves the
  account in ``awaiting_verification``, flagged for attention and with the error code
  ``account_locked``: the account is not usable, and once Xhoppe unlocks it a new code
  (reset password) and another verify finish the job. Its token is not stored.
- **Passwords and retries**: the password is derived (HMAC with the current encryption key)
  from the account and the operation, so every attempt of one provisioning sends the same
  password. A retry that finds the msisdn taken logs in with it: when that works, the earlier
  attempt did register the user and the account moves on instead of failing.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from typing import Any

import requests
from django.conf import settings

from ..states import AccountStatus, OperationKind
from .base import OperationContext, Outcome, Provider
from .exceptions import ConfigurationError, InvalidInput, NeedsAttention, ProviderError, Rejected
from .http import EXPECT_EMPTY, ProviderClient, error_for_status
from .inputs import InputField

TAKEN = "has already been taken"
CODE_MAX_LENGTH = 32
PASSWORD_LENGTH = 20
# the button of a reset password for a member still waiting for their SMS code (it sends a new one)
NEW_CODE = "Send a new SMS code"
_PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#%+-=@_"
_PASSWORD_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#%+-=@_")


def msisdn_of(member) -> str:
    """The msisdn Xhoppe registers for ``member``: E.164 digits without the ``+`` ("" when none)."""
    return (member.phone or "").strip().lstrip("+")


def derived_password(*, connection_id: int, account_id: int, operation_id: int) -> str:
    """A strong password, the same for every attempt of one operation and secret without the key.

    20 characters with lower- and uppercase letters, digits and symbols.
    """
    key = settings.FIELD_ENCRYPTION_KEYS[0].encode()
    message = f"provisioning.xhoppe.password:{connection_id}:{account_id}:{operation_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    body = [_PASSWORD_ALPHABET[b % len(_PASSWORD_ALPHABET)] for b in digest[: PASSWORD_LENGTH - len(_PASSWORD_CLASSES)]]
    tail = [chars[b % len(chars)] for chars, b in zip(_PASSWORD_CLASSES, digest[-len(_PASSWORD_CLASSES):], strict=True)]
    return "".join(body + tail)


def _field_errors(errors) -> dict[str, list[str]]:
    if not isinstance(errors, dict):
        return {}
    return {
        str(field): [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        for field, messages in errors.items()
    }


class XhoppeClient(ProviderClient):
    """JSON in and out; the optional connection token travels as ``X-Xhoppe-Token``."""

    provider_name = "Xhoppe"
    secret_names = frozenset(
        {"authentication_token", "code", "sms_confirmation_token", "sms_token", "verification_code", "api_token"}
    )

    def __init__(self, connection, call_log=None):
        super().__init__(connection, call_log)
        self.session.headers["Accept"] = "application/json"

    def authenticate(self, request: requests.PreparedRequest) -> None:
        token = self.credentials.get("api_token")
        if token:
            request.headers["X-Xhoppe-Token"] = token

    def error_for(self, response: requests.Response, data: Any) -> ProviderError | None:
        """An error status with the Spree envelope ``{"error", "errors": {field: [...]}}``."""
        status = response.status_code
        body = data if isinstance(data, dict) else {}
        message = body.get("error") if isinstance(body.get("error"), str) else ""
        if status < 400:
            # a success status around Spree's error envelope (a proxy or a misconfigured app):
            # not a success; what it did is unknown, so it is a broken answer
            if message or body.get("errors"):
                return self.broken_answer(response, f"an error in its body ({message or 'errors'})")
            return None
        if status == 401:
            return ConfigurationError(f"Xhoppe refused the request as unauthenticated: {message or 'HTTP 401'}")
        field_errors = _field_errors(body.get("errors"))
        if status < 500 and field_errors:
            return InvalidInput(message or "Xhoppe rejected the request.", field_errors=field_errors)
        return error_for_status(
            status,
            f"Xhoppe answered HTTP {status}" + (f": {message}" if message else "."),
            retry_after=self.retry_after(response),
        )

    def _call(self, method: str, path: str, body: dict, *, idempotent: bool | None = None) -> dict:
        """Xhoppe answers every call with a JSON object (the user, or what it did)."""
        return self.request(method, path, json_body=body, idempotent=idempotent, shape=dict).data

    def register(self, *, msisdn: str, password: str) -> dict:
        body = {"msisdn": msisdn, "password": password, "password_confirmation": password}
        return self._call("POST", "/users", body, idempotent=False)

    def verify(self, *, code: str) -> dict:
        return self._call("POST", "/users/verify", {"code": code}, idempotent=False)

    def forget_password(self, *, msisdn: str) -> None:
        """Xhoppe texts the member a new code. Its answer is a 200 whose body the contract leaves
        unsaid: any success is one, empty or not, unless it is Xhoppe's error (demanding JSON would
        retry, and text the member again, on an empty one)."""
        self.request("PUT", "/users/forget_password", json_body={"msisdn": msisdn}, expect=EXPECT_EMPTY)

    def login(self, *, msisdn: str, password: str) -> dict:
        """Logging in twice is harmless: a read timeout is worth a retry."""
        return self._call("POST", "/login", {"msisdn": msisdn, "password": password}, idempotent=True)


class XhoppeProvider(Provider):
    kind = "xhoppe"
    label = "Xhoppe"
    client_class = XhoppeClient
    deprovision_warning = "Xhoppe has no deprovision: these accounts are left as they are."
    operations = frozenset({
        OperationKind.PROVISION, OperationKind.VERIFY, OperationKind.RESET_PASSWORD, OperationKind.RECORD_CLOSED,
    })
    credential_fields = (
        InputField("api_token", label="API token", required=False, secret=True, max_length=500,
                   help_text="Sent as X-Xhoppe-Token when your Xhoppe asks for one."),
    )
    input_fields = {
        OperationKind.VERIFY: (
            InputField(
                "code", label="SMS code", secret=True, max_length=CODE_MAX_LENGTH, remove_spaces=True,
                pattern=r"[A-Za-z0-9]+", pattern_message="The SMS code is letters and digits only.",
                help_text="The code the member received by SMS.", required_message="Enter the code from the SMS.",
            ),
        ),
    }
    base_url_example = "http://test.xhop.pe/api/v1"
    sandbox_api_path = "/api/v1"

    client: XhoppeClient

    external_id_member_fields = ("phone",)
    # its reset password sends an SMS code: for a member still waiting for one, that is a new code
    operation_words = {(OperationKind.RESET_PASSWORD, AccountStatus.AWAITING_VERIFICATION): NEW_CODE}

    def external_id_for(self, account) -> str:
        """The msisdn: Xhoppe knows its users by phone number."""
        return msisdn_of(account.member)

    @classmethod
    def member_missing(cls, member) -> str:
        if not msisdn_of(member):
            # also the reason under a batch's list of members left out: read for one or many
            return "No phone number: Xhoppe registers people by phone. Add the phone number, then provision."
        return ""

    # --- operations ---------------------------------------------------------------------------
    def provision(self, ctx: OperationContext) -> Outcome:
        msisdn = msisdn_of(ctx.member)  # there is one: the portal checks ``member_missing`` first
        password = derived_password(
            connection_id=ctx.connection.pk, account_id=ctx.account.pk, operation_id=ctx.operation_id
        )
        try:
            user = self.client.register(msisdn=msisdn, password=password)
        except InvalidInput as err:
            if ctx.is_retry and TAKEN in err.field_errors.get("msisdn", []):
                user = self._registered_by_an_earlier_attempt(msisdn, password)
                if user is not None:
                    return self._registered(msisdn, password, user, recovered=True)
            raise
        return self._registered(msisdn, password, user)

    def _registered_by_an_earlier_attempt(self, msisdn: str, password: str) -> dict | None:
        """Log in with this operation's password: it works only if our earlier attempt registered."""
        try:
            return self.client.login(msisdn=msisdn, password=password)
        except ProviderError as err:
            if err.retryable:
                raise
            return None

    def _registered(self, msisdn: str, password: str, user: dict, *, recovered: bool = False) -> Outcome:
        token = user.get("authentication_token")
        verified = user.get("valid_for_authentication") is True and bool(token)
        return Outcome(
            account_status=AccountStatus.ACTIVE if verified else AccountStatus.AWAITING_VERIFICATION,
            external_id=msisdn,
            details={"msisdn": user.get("msisdn") or msisdn, "valid_for_authentication": verified},
            secrets={"password": password, **({"authentication_token": token} if verified else {})},
            result={"msisdn": msisdn, "awaiting_sms_code": not verified, **({"recovered": True} if recovered else {})},
            attention="",
        )

    def verify(self, ctx: OperationContext) -> Outcome:
        code = str(ctx.secret_input.get("code") or ctx.input.get("code") or "").strip()
        msisdn = ctx.account.external_id
        try:
            user = self.client.verify(code=code)
        except InvalidInput as err:
            raise InvalidInput(_code_refused_message(err.field_errors), field_errors=err.field_errors) from err
        if user.get("msisdn") and msisdn and str(user["msisdn"]).lstrip("+") != msisdn:
            # the seed's verify takes the code alone: it must have been another user's code
            raise Rejected(
                "Xhoppe accepted the code for another phone number, not this account's: "
                "check which code the member received and verify again.",
                code="code_for_another_user",
            )
        if user.get("valid_for_authentication") is not True:
            raise NeedsAttention(
                f"Xhoppe accepted the code but reports the account {msisdn} as locked "
                "(valid_for_authentication: false), so it is not usable. Once Xhoppe unlocks it, "
                f"{NEW_CODE.lower()} from the account's page and verify with it.",
                code="account_locked",
            )
        token = user.get("authentication_token")
        if not isinstance(token, str) or not token:
            raise Rejected("Xhoppe accepted the code but its answer holds no authentication token.")
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            details={"valid_for_authentication": True},
            secrets={"authentication_token": token},
            result={"msisdn": msisdn, "verified": True},
            attention="",
        )

    def reset_password(self, ctx: OperationContext) -> Outcome:
        """Xhoppe sends the member an SMS (forget_password); the stored password stays as it is."""
        msisdn = ctx.account.external_id or msisdn_of(ctx.member)
        self.client.forget_password(msisdn=msisdn)
        return Outcome(result={"msisdn": msisdn, "sms_sent": True})


def _code_refused_message(field_errors: dict[str, list[str]]) -> str:
    messages = " ".join(m for ms in field_errors.values() for m in ms).lower()
    if "expired" in messages:
        return f"Xhoppe did not accept the SMS code: it has expired. {NEW_CODE} from the account's page, then verify with it."
    if "invalid" in messages or "not valid" in messages:
        return "Xhoppe did not accept the SMS code: it is not valid (mistyped, or an older code)."
    return "Xhoppe did not accept the SMS code."
