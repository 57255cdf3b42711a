"""The account actions of the API, as one table: URL path -> operation kind and body.

Every action is a POST on ``/accounts/{id}/<path>/`` that validates its body with
``input_serializer`` and requests the operation ``kind`` through
``services.operation_request``. Fields named in ``secret_fields`` (SMS codes, captcha
answers, validation tokens) travel in the operation's encrypted ``secret_input``, never in
its ``input`` (which the API shows); the provider reads them from ``ctx.secret_input``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..states import OperationKind
from .serializers import (
    CaptchaAnswerInputSerializer,
    ProviderOptionsSerializer,
    ValidateInputSerializer,
    VerifyInputSerializer,
)


@dataclass(frozen=True)
class AccountAction:
    path: str
    kind: str
    summary: str
    input_serializer: type | None = None
    secret_fields: frozenset[str] = field(default_factory=frozenset)

    def split_input(self, data: dict) -> tuple[dict, dict]:
        """``(input, secret_input)`` of the validated body."""
        plain = {k: v for k, v in data.items() if k not in self.secret_fields}
        secret = {k: v for k, v in data.items() if k in self.secret_fields}
        return plain, secret


K = OperationKind
ACCOUNT_ACTIONS: tuple[AccountAction, ...] = (
    AccountAction("provision", K.PROVISION, "(Re)try provisioning a pending, failed or deprovisioned account"),
    AccountAction("verify", K.VERIFY, "Submit the SMS code (Xhoppe)", VerifyInputSerializer, frozenset({"code"})),
    AccountAction("reset-password", K.RESET_PASSWORD, "Send a forgotten-password SMS (Xhoppe)"),
    AccountAction(
        "captcha", K.ANSWER_CAPTCHA, "Answer the captcha and create the remote user (Flyve)",
        CaptchaAnswerInputSerializer, frozenset({"answer"}),
    ),
    AccountAction("captcha/refresh", K.REFRESH_CAPTCHA, "Ask the provider for a new captcha (Flyve)"),
    AccountAction(
        "validate", K.VALIDATE, "Complete the email validation (Flyve)",
        ValidateInputSerializer, frozenset({"token"}),
    ),
    AccountAction(
        "login-link", K.LOGIN_LINK, "A connection-portal link; the result holds redirect_uri (SnapTrade)",
        ProviderOptionsSerializer,
    ),
    AccountAction("rotate-secret", K.ROTATE_SECRET, "Replace the user secret (SnapTrade)"),
    AccountAction("sync", K.SYNC, "Refresh the remote state and detect drift"),
)
