"""The shape every provider module has.

A provider module (``providers/<kind>.py``) defines a ``ProviderClient`` subclass (HTTP,
signing, error mapping) and a ``Provider`` subclass that declares the operation kinds it
supports and implements each as a method named after the kind. A method gets an
``OperationContext`` and returns an ``Outcome``, or raises a ``ProviderError``; it never
touches the database itself: services apply the outcome.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings

from .http import CallLog, ProviderClient

UNSET: Any = object()


@dataclass
class Outcome:
    """What an operation did, for services to apply.

    ``details`` and ``secrets`` are merged into the account's (a ``None`` value removes a key);
    ``result`` becomes the operation's result and must hold nothing secret.
    """

    account_status: str | None = None
    external_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    attention: str | None = None  # "" clears a previous flag
    challenge_image: Any = UNSET  # bytes, or None to clear
    health: tuple[str, str] | None = None  # (HealthStatus, detail) for the connection
    connection_settings: dict[str, Any] = field(default_factory=dict)
    # connection-level operations (reconcile): account id -> attention message ("" clears)
    account_attention: dict[int, str] = field(default_factory=dict)


@dataclass
class OperationContext:
    """Everything an operation method may read. ``attempt`` counts from 1."""

    operation_id: int
    kind: str
    attempt: int
    connection: Any
    account: Any = None
    input: dict[str, Any] = field(default_factory=dict)
    secret_input: dict[str, Any] = field(default_factory=dict)
    # connection-level operations: the connection's accounts (``drift.LocalAccount``)
    local_accounts: list[Any] = field(default_factory=list)

    @property
    def is_retry(self) -> bool:
        """A previous attempt may have reached the provider: look before you leap."""
        return self.attempt > 1

    @property
    def member(self):
        return self.account.member if self.account else None


def health_outcome(status: str, detail: str, **result: Any) -> Outcome:
    """The outcome of a health check: the connection's health, and the same as the result."""
    return Outcome(health=(status, detail), result={"health": status, "detail": detail, **result})


def installation_id() -> str:
    """A short name of this installation, part of every remote id the portal derives."""
    configured = settings.PROVISIONING["INSTALLATION_ID"]
    if configured:
        return configured
    return hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest()[:8]


class Provider:
    """Base class of provider plug-ins. Subclasses set the class attributes below."""

    kind: ClassVar[str]
    label: ClassVar[str]
    client_class: ClassVar[type[ProviderClient]]
    operations: ClassVar[frozenset[str]]
    # credential key -> required
    credential_fields: ClassVar[dict[str, bool]] = {}
    # a human-readable note for staff on what the connection's base URL looks like
    base_url_example: ClassVar[str] = ""
    # the bundled simulator (``provisioning/sandbox/<name>.py``, mounted at ``/<name>``; default:
    # ``kind``) and the API's path below that mount (e.g. "/v1.2"): see ``sandbox_connection``
    sandbox_simulator: ClassVar[str | None] = None
    sandbox_api_path: ClassVar[str] = ""

    def __init__(self, connection, call_log: CallLog | None = None):
        self.connection = connection
        self.client = self.client_class(connection, call_log)

    @classmethod
    def supports(cls, kind: str) -> bool:
        return kind in cls.operations

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict[str, list[str]]:
        """Field errors for missing or unknown credential keys (empty when fine)."""
        errors: dict[str, list[str]] = {}
        for key, required in cls.credential_fields.items():
            if required and not credentials.get(key):
                errors.setdefault(key, []).append("This credential is required.")
        for key in credentials:
            if key not in cls.credential_fields:
                known = ", ".join(cls.credential_fields) or "none"
                errors.setdefault(key, []).append(f"Unknown credential (known: {known}).")
        return errors

    def external_id_for(self, account) -> str:
        """The remote user id to register, chosen once before the first call and stored.

        Derived from installation, member and connection so that the portal can recognise the
        accounts it created (and never collides with another installation's).
        """
        return f"portal-{installation_id()}-m{account.member_id}-c{account.connection_id}"

    @classmethod
    def sandbox_connection(cls, *, sandbox_url: str, credentials: dict) -> dict[str, Any]:
        """How ``manage.py bootstrap`` configures a connection to this provider's simulator.

        Gets the sandbox's base URL and the simulator's demo credentials; returns ``Connection``
        fields: ``base_url`` and ``credentials``, and optionally ``max_accounts``,
        ``requests_per_minute``, ``max_concurrency``, ``settings``. Override it to add those.
        """
        simulator = cls.sandbox_simulator or cls.kind
        return {
            "base_url": f"{sandbox_url.rstrip('/')}/{simulator}{cls.sandbox_api_path}",
            "credentials": dict(credentials),
        }

    @classmethod
    def sandbox_environment(cls, *, connection, portal_url: str) -> dict[str, str]:
        """Environment variables the sandbox process needs for ``connection`` (default: none).

        ``manage.py bootstrap`` records them in ``.env``, which ``make run`` gives the sandbox.
        """
        return {}

    def validate_input(self, kind: str, data: dict) -> dict[str, list[str]]:
        """Field errors for an operation's input, checked when it is requested."""
        return {}

    # --- reconciliation: a provider that lists its users gets ``reconcile`` from these -------
    def remote_user_ids(self) -> set[str]:
        """Every user id the provider holds for this connection's credentials."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its users.")

    def owns_remote_id(self, user_id: str) -> bool:
        """Whether ``user_id`` is one this installation derives for this connection."""
        return user_id.startswith(f"portal-{installation_id()}-") and user_id.endswith(
            f"-c{self.connection.pk}"
        )

    def reconcile(self, ctx: OperationContext) -> Outcome:
        """The provider's users against the connection's accounts (see ``drift.reconcile``)."""
        from . import drift

        return drift.reconcile(
            label=self.label,
            remote_ids=self.remote_user_ids(),
            local=ctx.local_accounts,
            is_ours=self.owns_remote_id,
        )
