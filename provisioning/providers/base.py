"""The shape every provider module has.

A provider module (``providers/<kind>.py``) defines a ``ProviderClient`` subclass (HTTP,
signing, what its error bodies mean) and a ``Provider`` subclass that declares what it takes
and does: the operation kinds it supports (each implemented as a method named after the kind),
the input of each (``input_fields``), its connections' credentials and settings
(``credential_fields``, ``setting_fields``), all as ``inputs.InputField``s from which the admin
and the API build their forms, serializers and schema. A method gets an ``OperationContext`` and
returns an ``Outcome``, or raises a ``ProviderError``; it never touches the database itself:
services apply the outcome. The class is listed by dotted path in ``PROVISIONING["PROVIDERS"]``
(``registry.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings

from ..states import AccountStatus, OperationKind
from .http import CallLog, ProviderClient
from .inputs import InputField, clean_values, split_secret

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
    provider_state: dict[str, Any] = field(default_factory=dict)  # merged into Connection.provider_state
    # connection-level operations (reconcile): account id -> attention message ("" clears)
    account_attention: dict[int, str] = field(default_factory=dict)
    # connection-level operations (reconcile): accounts whose remote deletion, queued earlier
    # (SnapTrade's deleteUser), is now done: services finish those still ``deprovisioning``
    remote_deletions_done: list[int] = field(default_factory=list)


@dataclass
class ProviderEvent:
    """One event of a provider's webhook, as its ``webhook_receiver`` read it (signature checked).

    ``action`` is what the portal understands of it: ``user_deleted`` (a queued deletion of
    ``user_id`` is done), ``user_registered``, or ``""`` (recorded, nothing to apply).
    ``webhook_id`` is the provider's id of the delivery: a second one with the same id is a replay.
    """

    webhook_id: str
    type: str
    action: str = ""
    user_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class WebhookRefused(Exception):
    """A webhook that is not accepted: forged, stale, malformed (``status_code``: the answer)."""

    def __init__(self, message: str, *, status_code: int = 400, webhook_id: str = "", type: str = ""):
        super().__init__(message)
        self.message, self.status_code, self.webhook_id, self.type = message, status_code, webhook_id, type


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


# what staff say when they record that an account was closed at its provider by other means
# (``Provider.record_closed``): the operation's input, kept with who recorded it and when
RECORD_CLOSED_INPUT = (
    InputField(
        "how_it_was_closed", max_length=500,
        help_text="For the record: how the account was closed at the provider, e.g. \"deleted by hand in its "
        "console on 4 December\" or a support ticket's number.",
        required_message="Say how the account was closed at the provider: it is kept as the record of its closing.",
    ),
)


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
    # what staff give: the input of each operation kind that takes any, a connection's
    # credentials (kept encrypted, write-only) and its settings (plain, e.g. a mode)
    input_fields: ClassVar[dict[str, tuple[InputField, ...]]] = {}
    credential_fields: ClassVar[tuple[InputField, ...]] = ()
    setting_fields: ClassVar[tuple[InputField, ...]] = ()
    # a human-readable note for staff on what the connection's base URL looks like
    base_url_example: ClassVar[str] = ""
    # the bundled simulator (``provisioning/sandbox/<name>.py``, mounted at ``/<name>``; default:
    # ``kind``) and the API's path below that mount (e.g. "/v1.2"): see ``sandbox_connection``
    sandbox_simulator: ClassVar[str | None] = None
    sandbox_api_path: ClassVar[str] = ""
    # what staff read before they confirm a deprovision: what it does there and what cannot be
    # undone (see ``deprovision_warning_for``, which may depend on the connection's settings)
    deprovision_warning: ClassVar[str] = (
        "The provider removes the user: this cannot be undone from the portal."
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a closing recorded by staff takes the same input at every provider that offers it (the
        # account list asks for it once for accounts at several): the base class declares it
        if OperationKind.RECORD_CLOSED in getattr(cls, "operations", ()):
            cls.input_fields = {**cls.input_fields, OperationKind.RECORD_CLOSED: RECORD_CLOSED_INPUT}

    def __init__(self, connection, call_log: CallLog | None = None):
        self.connection = connection
        self.client = self.client_class(connection, call_log)

    @classmethod
    def supports(cls, kind: str) -> bool:
        return kind in cls.operations

    # --- what the provider takes (see ``inputs.py``) ------------------------------------------
    @classmethod
    def clean_input(cls, kind: str, data: dict, *, from_form: bool = False) -> tuple[dict, dict]:
        """``(input, secret_input)`` of an operation, checked; ``InputErrors`` otherwise."""
        fields = cls.input_fields.get(kind, ())
        values = cls.check_input(kind, clean_values(fields, data, from_form=from_form))
        return split_secret(fields, values)

    @classmethod
    def check_input(cls, kind: str, values: dict) -> dict:
        """Rules across the fields of an operation's input (each checked alone already): the
        values to keep, or ``InputErrors``. Default: as they are."""
        return values

    @classmethod
    def clean_credentials(cls, data: dict, *, from_form: bool = False) -> dict:
        """A connection's complete credentials, checked; ``InputErrors`` otherwise."""
        return cls.check_credentials(clean_values(cls.credential_fields, data, from_form=from_form))

    @classmethod
    def check_credentials(cls, values: dict) -> dict:
        """Rules across the credentials (e.g. "a token, or a user name and a password")."""
        return values

    @classmethod
    def clean_settings(cls, data: dict, *, from_form: bool = False) -> dict:
        return clean_values(cls.setting_fields, data, from_form=from_form)

    @classmethod
    def deprovision_warning_for(cls, connection) -> str:
        """The sentence the deprovision confirmation shows for an account at ``connection``."""
        return cls.deprovision_warning

    def record_closed(self, ctx: OperationContext) -> Outcome:
        """Staff closed the account at the provider by other means (its support, its console),
        which a provider without a delete API leaves to them: nothing is sent, the account is
        deprovisioned and forgets what it kept of the remote user. A provider offers it by
        listing ``OperationKind.RECORD_CLOSED`` in ``operations``; its input is
        ``RECORD_CLOSED_INPUT`` (``__init_subclass__``)."""
        return Outcome(
            account_status=AccountStatus.DEPROVISIONED,
            secrets={name: None for name in ctx.account.secrets},
            challenge_image=None,
            attention="",
        )

    @classmethod
    def public_urls(cls) -> list:
        """URL patterns of public pages this provider needs (served without login at the site's
        root), e.g. the page a provider's emails link to. Default: none."""
        return []

    # --- inbound webhooks: a provider that sends them declares a receiver ---------------------
    # served without login at /webhooks/providers/<connection id>/ (the connection's webhook_url)
    receives_webhooks: ClassVar[bool] = False

    def webhook_receiver(self, body: bytes, headers: dict[str, str]) -> list[ProviderEvent]:
        """Check the signature of a webhook sent to this connection and read its events, or raise
        ``WebhookRefused``. Never touches the database: services record it, refuse replays (by
        ``webhook_id``) and apply each event once. Also names what the record must mask:
        ``webhook_secret_names`` (body keys) and ``Signature``-like headers are masked anyway."""
        raise WebhookRefused(f"{self.label} sends no webhooks.", status_code=404)

    webhook_secret_names: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The provider as ``GET /api/v1/providers/`` lists it."""
        from ..states import OPERATION_SPECS

        return {
            "kind": cls.kind,
            "label": cls.label,
            "base_url_example": cls.base_url_example,
            "credentials": [f.describe() for f in cls.credential_fields],
            "settings": [f.describe() for f in cls.setting_fields],
            "receives_webhooks": cls.receives_webhooks,
            "operations": [
                {
                    "kind": kind,
                    "label": OPERATION_SPECS[kind].label,
                    "label_when": {status: words for (worded, status), words in cls.operation_words.items()
                                   if worded == kind},
                    "on_account": OPERATION_SPECS[kind].on_account,
                    "permission": OPERATION_SPECS[kind].permission,
                    "input": [f.describe() for f in cls.input_fields.get(kind, ())],
                }
                for kind in OPERATION_SPECS
                if kind in cls.operations
            ],
        }

    # words for an operation's button where its kind's own would mislead in an account state:
    # {(operation kind, account status): words}. Xhoppe's "Reset password" is how a member still
    # waiting for their SMS code gets a new one.
    operation_words: ClassVar[dict[tuple[str, str], str]] = {}

    @classmethod
    def operation_label(cls, kind: str, account_status: str | None = None) -> str:
        """What staff read on the button of ``kind`` for an account in ``account_status``."""
        from ..states import OPERATION_SPECS

        return cls.operation_words.get((kind, account_status or "")) or OPERATION_SPECS[kind].label

    # the member's fields ``external_id_for`` reads, besides ids: a batch reads only these, once
    # per chunk of members, and none when there are none
    external_id_member_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def member_missing(cls, member) -> str:
        """What ``member`` lacks for this provider to register them, as a sentence with the next
        step ("" when nothing): a provisioning asked for one at a time is refused with it, a
        batch leaves them out with it, and one whose member changed since its request fails
        with it (``MemberIncomplete``), before any request. Reads only
        ``external_id_member_fields``: a batch reads those of its members, and asks a provider
        that declares none nothing."""
        return ""

    def external_id_for(self, account) -> str:
        """The remote user id to register, chosen once before the first call and stored.

        Derived from installation, member and connection so that the portal can recognise the
        accounts it created (and never collides with another installation's). Reads of the
        account's member only ``external_id_member_fields``.
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
