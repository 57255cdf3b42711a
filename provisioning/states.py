"""States and kinds, the account state machine and what each operation kind may do.

This module is the one place that knows which account states an operation can start from and
which transitions are legal; services consult it, nothing else changes ``Account.status``.
"""

from dataclasses import dataclass

from django.db import models


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
    """Each label is what staff read, in lists and on buttons alike (``OperationSpec.label``)."""

    PROVISION = "provision", "Provision"
    VERIFY = "verify", "Verify SMS code"
    RESET_PASSWORD = "reset_password", "Reset password"
    REFRESH_CAPTCHA = "refresh_captcha", "New captcha"
    ANSWER_CAPTCHA = "answer_captcha", "Answer captcha"
    VALIDATE = "validate", "Validate email"
    LOGIN_LINK = "login_link", "Login link"
    ROTATE_SECRET = "rotate_secret", "Rotate secret"
    SYNC = "sync", "Sync remote state"
    DEPROVISION = "deprovision", "Deprovision"
    RECORD_CLOSED = "record_closed", "Record as closed at the provider"
    HEALTH_CHECK = "health_check", "Health check"
    RECONCILE = "reconcile", "Reconcile"


class OperationStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_RETRY = "waiting_retry"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # waiting for something other than time: its connection is quarantined, or a person must
    # confirm it (see ``Operation.hold_reason``); it uses up neither attempts nor its horizon
    HELD = "held"


# account states that do not count against a connection's quota (max_accounts)
QUOTA_FREE_ACCOUNT_STATUSES = (AccountStatus.PENDING, AccountStatus.FAILED, AccountStatus.DEPROVISIONED)

UNFINISHED_OPERATION_STATUSES = (
    OperationStatus.QUEUED,
    OperationStatus.RUNNING,
    OperationStatus.WAITING_RETRY,
    OperationStatus.HELD,
)

# account states waiting for a person's step in a registration (provisioned, not yet registered)
AWAITING_ACCOUNT_STATUSES = (
    AccountStatus.AWAITING_CAPTCHA,
    AccountStatus.AWAITING_VERIFICATION,
    AccountStatus.AWAITING_VALIDATION,
)
_AWAITING = set(AWAITING_ACCOUNT_STATUSES)

# account states in which nothing moves until a person acts (answers the captcha, enters the SMS
# code, pastes the validation link, retries a failed provisioning). An account needs a person when
# it is in one of them or its ``attention`` is set (drift, a lost secret...): see
# ``selectors.NEEDS_PERSON`` and ``Account.needs_person``.
NEEDS_PERSON_ACCOUNT_STATUSES = (*AWAITING_ACCOUNT_STATUSES, AccountStatus.FAILED)

_S = AccountStatus
# Every legal change of Account.status. A failed operation may put the account back in the
# state it was in before the operation started, hence the "back" edges.
ACCOUNT_TRANSITIONS: dict[str, set[str]] = {
    # to deprovisioning: recorded as closed at the provider (a provisioning that stopped after its
    # request went out may have created the user there)
    _S.PENDING: {_S.PROVISIONING, _S.DEPROVISIONING},
    # back to pending/deprovisioned only when the provisioning is cancelled before it ran
    _S.PROVISIONING: {_S.ACTIVE, _S.FAILED, _S.PENDING, _S.DEPROVISIONED, _S.DEPROVISIONING, *_AWAITING},
    _S.AWAITING_CAPTCHA: {_S.PROVISIONING, _S.DEPROVISIONING, _S.FAILED},
    _S.AWAITING_VERIFICATION: {_S.ACTIVE, _S.DEPROVISIONING, _S.FAILED},
    _S.AWAITING_VALIDATION: {_S.ACTIVE, _S.DEPROVISIONING, _S.FAILED},
    _S.ACTIVE: {_S.DEPROVISIONING, _S.FAILED},
    _S.FAILED: {_S.PROVISIONING, _S.DEPROVISIONING, _S.ACTIVE},
    # provisioning again while a provider still deletes the previous user (SnapTrade's deleteUser
    # is queued): the provision waits for the deletion before it registers anew
    _S.DEPROVISIONING: {_S.DEPROVISIONED, _S.ACTIVE, _S.FAILED, _S.PENDING, _S.PROVISIONING, *_AWAITING},
    _S.DEPROVISIONED: {_S.PROVISIONING},
}


class ConnectionState(models.TextChoices):
    """What the API and the admin say of a connection (derived, never stored)."""

    ACTIVE = "active"
    QUARANTINED = "quarantined"
    DISABLED = "disabled"


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str):
        self.current, self.target = current, target
        super().__init__(f"An account cannot go from '{current}' to '{target}'.")


def check_transition(current: str, target: str) -> None:
    if current != target and target not in ACCOUNT_TRANSITIONS.get(current, set()):
        raise InvalidTransition(current, target)


# The permissions operations need (see ``OperationSpec.permission``).
PROVISION_PERMISSION = "provisioning.provision_account"
DEPROVISION_PERMISSION = "provisioning.deprovision_account"
MANAGE_CONNECTION_PERMISSION = "provisioning.manage_connection"
VIEW_SECRETS_PERMISSION = "provisioning.view_account_secrets"


@dataclass(frozen=True)
class OperationSpec:
    """What an operation kind needs from the account and does to it.

    ``allowed_from``: account states it may be requested in (``None``: a connection-level
    operation with no account). ``running_status``: the account state while it runs.
    ``failure_status``: the account state after a permanent failure (``None``: back to the
    state it was in before). ``permission``: what a person needs to request it (or retry or
    cancel it), in the admin and the API alike. ``calls_provider``: whether it sends anything to
    the provider; one that does not (a record of what staff did there) runs at a disabled or
    quarantined connection, and its success says nothing of the provider's health.
    """

    kind: str
    allowed_from: frozenset | None
    running_status: str | None = None
    failure_status: str | None = None
    permission: str = PROVISION_PERMISSION
    calls_provider: bool = True

    @property
    def on_account(self) -> bool:
        return self.allowed_from is not None

    @property
    def label(self) -> str:
        """What staff read on its buttons, and in lists as the operation's kind."""
        return OperationKind(self.kind).label


def _spec(kind, allowed_from=None, running=None, failure=None, permission=PROVISION_PERMISSION, calls_provider=True):
    allowed = None if allowed_from is None else frozenset(allowed_from)
    return OperationSpec(kind, allowed, running, failure, permission, calls_provider)


_K, _S = OperationKind, AccountStatus
OPERATION_SPECS: dict[str, OperationSpec] = {
    spec.kind: spec
    for spec in (
        _spec(
            _K.PROVISION,
            {_S.PENDING, _S.FAILED, _S.DEPROVISIONED, _S.DEPROVISIONING},
            _S.PROVISIONING,
            _S.FAILED,
        ),
        _spec(_K.VERIFY, {_S.AWAITING_VERIFICATION}),
        _spec(_K.RESET_PASSWORD, {_S.ACTIVE, _S.AWAITING_VERIFICATION}),
        _spec(_K.REFRESH_CAPTCHA, {_S.AWAITING_CAPTCHA}),
        _spec(_K.ANSWER_CAPTCHA, {_S.AWAITING_CAPTCHA}, _S.PROVISIONING, _S.FAILED),
        _spec(_K.VALIDATE, {_S.AWAITING_VALIDATION}),
        _spec(_K.LOGIN_LINK, {_S.ACTIVE}),
        _spec(_K.ROTATE_SECRET, {_S.ACTIVE}),
        _spec(_K.SYNC, {_S.ACTIVE}),
        _spec(
            _K.DEPROVISION,
            {_S.ACTIVE, _S.FAILED, *_AWAITING},
            _S.DEPROVISIONING,
            permission=DEPROVISION_PERMISSION,
        ),
        # staff closed the account at a provider that has no delete API (its support, by hand):
        # the portal records it, sending nothing, so that the member's record may go
        _spec(
            _K.RECORD_CLOSED,
            {_S.PENDING, _S.ACTIVE, _S.FAILED, *_AWAITING},
            _S.DEPROVISIONING,
            permission=DEPROVISION_PERMISSION,
            calls_provider=False,
        ),
        _spec(_K.HEALTH_CHECK, permission=MANAGE_CONNECTION_PERMISSION),
        _spec(_K.RECONCILE, permission=MANAGE_CONNECTION_PERMISSION),
    )
}
