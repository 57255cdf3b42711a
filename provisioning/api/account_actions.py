"""The account actions of the API, as one table: URL path -> operation kind.

Every action is a POST on ``/accounts/{id}/<path>/`` that requests the operation ``kind``
through ``services.operation_request`` with the request's JSON body as its input. The input is
what the account's provider declares for that kind (``Provider.input_fields``): services check
it and keep its secret values (SMS codes, captcha answers, validation tokens) encrypted, never
in the operation's ``input`` (which the API shows). The body's schema is built from the same
declarations (``serializers.input_serializer_for``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..states import OperationKind


@dataclass(frozen=True)
class AccountAction:
    path: str
    kind: str
    summary: str


_K = OperationKind
ACCOUNT_ACTIONS: tuple[AccountAction, ...] = (
    AccountAction("provision", _K.PROVISION, "(Re)try provisioning a pending, failed or deprovisioned account"),
    AccountAction("verify", _K.VERIFY, "Submit the SMS code (Xhoppe)"),
    AccountAction("reset-password", _K.RESET_PASSWORD, "Send a forgotten-password SMS (Xhoppe)"),
    AccountAction("captcha", _K.ANSWER_CAPTCHA, "Answer the captcha and create the remote user (Flyve)"),
    AccountAction("captcha/refresh", _K.REFRESH_CAPTCHA, "Ask the provider for a new captcha (Flyve)"),
    AccountAction("validate", _K.VALIDATE, "Complete the email validation (Flyve)"),
    AccountAction("login-link", _K.LOGIN_LINK, "A connection-portal link; the result holds redirect_uri (SnapTrade)"),
    AccountAction("rotate-secret", _K.ROTATE_SECRET, "Replace the user secret (SnapTrade)"),
    AccountAction("sync", _K.SYNC, "Refresh the remote state and detect drift"),
    AccountAction(
        "record-closed", _K.RECORD_CLOSED,
        "Record that the account was closed at its provider by other means; nothing is sent (Xhoppe, Flyve)",
    ),
)
