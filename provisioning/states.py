"""States and kinds, the account state machine and what each operation kind may do.

This module is the one place that knows which account states an operation can start from and
which transitions are legal; services consult it, nothing else changes ``Account.status``.
"""

from dataclasses import dataclass

from django.db import models


class ProviderKind(models.TextChoices):
    KANDY = "kandy", "Kandy (v1.2)"
    XHOPPE = "xhoppe", "Xhoppe"
    FLYVE = "flyve", "Flyve MDM demo (GLPI)"
    SNAPTRADE = "snaptrade", "SnapTrade"
    SCIM = "scim", "SCIM 2.0 application"


class AccountStatus(models.TextChoices):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    AWAITING_CAPTCHA = "awaiting_captcha"
    AWAITING_VERIFICATION = "awaiting_verification"
    AWAITING_VALIDATION = "awaiting_validation"
    ACTIVE = "active"
    FAILED = "failed"
    DEPROVISIONING = "deprovisioning"
    DEPROVISIONED = "deprovisioned"


class OperationKind(models.TextChoices):
    PROVISION = "provision"
    VERIFY = "verify"
    RESET_PASSWORD = "reset_password"
    REFRESH_CAPTCHA = "refresh_captcha"
    ANSWER_CAPTCHA = "answer_captcha"
    VALIDATE = "validate"
    LOGIN_LINK = "login_link"
    ROTATE_SECRET = "rotate_secret"
    SYNC = "sync"
    DEPROVISION = "deprovision"
    HEALTH_CHECK = "health_check"
    RECONCILE = "reconcile"


class OperationStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_RETRY = "waiting_retry"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# account states that do not count against a connection's quota (max_accounts)
QUOTA_FREE_ACCOUNT_STATUSES = (AccountStatus.PENDING, AccountStatus.FAILED, AccountStatus.DEPROVISIONED)

UNFINISHED_OPERATION_STATUSES = (
    OperationStatus.QUEUED,
    OperationStatus.RUNNING,
    OperationStatus.WAITING_RETRY,
)

S = AccountStatus
_AWAITING = {S.AWAITING_CAPTCHA, S.AWAITING_VERIFICATION, S.AWAITING_VALIDATION}

# Every legal change of Account.status. A failed operation may put the account back in the
# state it was in before the operation started, hence the "back" edges.
ACCOUNT_TRANSITIONS: dict[str, set[str]] = {
    S.PENDING: {S.PROVISIONING},
    # back to pending/deprovisioned only when the provisioning is cancelled before it ran
    S.PROVISIONING: {S.ACTIVE, S.FAILED, S.PENDING, S.DEPROVISIONED, *_AWAITING},
    S.AWAITING_CAPTCHA: {S.PROVISIONING, S.DEPROVISIONING, S.FAILED},
    S.AWAITING_VERIFICATION: {S.ACTIVE, S.DEPROVISIONING, S.FAILED},
    S.AWAITING_VALIDATION: {S.ACTIVE, S.DEPROVISIONING, S.FAILED},
    S.ACTIVE: {S.DEPROVISIONING, S.FAILED},
    S.FAILED: {S.PROVISIONING, S.DEPROVISIONING, S.ACTIVE},
    S.DEPROVISIONING: {S.DEPROVISIONED, S.ACTIVE, S.FAILED, *_AWAITING},
    S.DEPROVISIONED: {S.PROVISIONING},
}


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str):
        self.current, self.target = current, target
        super().__init__(f"An account cannot go from '{current}' to '{target}'.")


def check_transition(current: str, target: str) -> None:
    if current != target and target not in ACCOUNT_TRANSITIONS.get(current, set()):
        raise InvalidTransition(current, target)


@dataclass(frozen=True)
class OperationSpec:
    """What an operation kind needs from the account and does to it.

    ``allowed_from``: account states it may be requested in (``None``: a connection-level
    operation with no account). ``running_status``: the account state while it runs.
    ``failure_status``: the account state after a permanent failure (``None``: back to the
    state it was in before). ``label``: what staff see on buttons.
    """

    kind: str
    label: str
    allowed_from: frozenset | None
    running_status: str | None = None
    failure_status: str | None = None

    @property
    def on_account(self) -> bool:
        return self.allowed_from is not None


def _spec(kind, label, allowed_from=None, running=None, failure=None):
    allowed = None if allowed_from is None else frozenset(allowed_from)
    return OperationSpec(kind, label, allowed, running, failure)


K = OperationKind
OPERATION_SPECS: dict[str, OperationSpec] = {
    spec.kind: spec
    for spec in (
        _spec(K.PROVISION, "Provision", {S.PENDING, S.FAILED, S.DEPROVISIONED}, S.PROVISIONING, S.FAILED),
        _spec(K.VERIFY, "Verify SMS code", {S.AWAITING_VERIFICATION}),
        _spec(K.RESET_PASSWORD, "Reset password", {S.ACTIVE, S.AWAITING_VERIFICATION}),
        _spec(K.REFRESH_CAPTCHA, "New captcha", {S.AWAITING_CAPTCHA}),
        _spec(K.ANSWER_CAPTCHA, "Answer captcha", {S.AWAITING_CAPTCHA}, S.PROVISIONING, S.FAILED),
        _spec(K.VALIDATE, "Validate email", {S.AWAITING_VALIDATION}),
        _spec(K.LOGIN_LINK, "Login link", {S.ACTIVE}),
        _spec(K.ROTATE_SECRET, "Rotate secret", {S.ACTIVE}),
        _spec(K.SYNC, "Sync remote state", {S.ACTIVE}),
        _spec(
            K.DEPROVISION,
            "Deprovision",
            {S.ACTIVE, S.FAILED, *_AWAITING},
            S.DEPROVISIONING,
        ),
        _spec(K.HEALTH_CHECK, "Health check"),
        _spec(K.RECONCILE, "Reconcile"),
    )
}
