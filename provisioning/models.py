"""The data model: members, connections, accounts, operations and their calls.

Models hold data and small derived properties only; every write that changes a state lives
in ``services.py``.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries import countries
from django_countries.fields import CountryField
from rest_framework.authtoken.models import TokenProxy

from .fields import EncryptedJSONField
from .providers import registry
from .states import (
    NEEDS_PERSON_ACCOUNT_STATUSES,
    UNFINISHED_OPERATION_STATUSES,
    AccountStatus,
    ConnectionState,
    OperationKind,
    OperationStatus,
)

e164_validator = RegexValidator(
    r"^\+[1-9]\d{6,14}$", "Enter the phone number in E.164 form, for example +6591234567."
)
# one list (django-countries) and one message for the model, the admin form and the API
COUNTRY_MESSAGE = "Enter an ISO 3166-1 alpha-2 country code such as SG (upper case)."
COUNTRY_HELP = "ISO 3166-1 alpha-2 country code, upper case (SG, FR...)."


class Member(models.Model):
    """A person the organisation serves."""

    external_ref = models.CharField(
        max_length=100, unique=True, null=True, blank=True, help_text="The organisation's own id."
    )
    email = models.EmailField()
    phone = models.CharField(max_length=16, blank=True, validators=[e164_validator])
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    country = CountryField(blank=True, help_text=COUNTRY_HELP, error_messages={"invalid_choice": COUNTRY_MESSAGE})
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # whether any account of the member exists, at any connection and in any status: kept by the
    # services that add and delete accounts (``services.accounts``), so that the admin's "No
    # account" filter reads an index instead of every member and every account
    has_accounts = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["email"]),
            # the lists, newest first (admin, API)
            models.Index(fields=["created_at", "id"], name="member_created_idx"),
            # ... of the members with no account yet (the admin's "No account" filter)
            models.Index(fields=["created_at", "id"], condition=Q(has_accounts=False), name="member_no_account_idx"),
            # the countries members live in, one index probe each (selectors.member_countries)
            models.Index(fields=["country"], name="member_country_idx"),
            # and, on PostgreSQL only, member_email_search_idx (migration 0009) for the admin's search
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email

    def clean_fields(self, exclude=None):
        # CountryField reads "sg", "SGP" or "702" back as Country("SG"), so its own check would
        # pass them: check the code exactly as it was set, like the admin form and the API do.
        # Its own check is skipped: it walks its 250 choices (1 ms a member, 10 s of an import
        # of 10,000), where a code is looked up at once.
        as_set = self.__dict__.get("country", "")
        exclude = set(exclude or ())
        errors = {}
        try:
            super().clean_fields(exclude | {"country"})
        except ValidationError as exc:
            errors = exc.error_dict
        if "country" not in exclude and as_set != "":
            if not isinstance(as_set, str) or as_set not in countries:  # None included
                errors["country"] = [ValidationError(COUNTRY_MESSAGE, code="invalid_choice")]
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self.external_ref == "":
            self.external_ref = None  # unique, but many members have none
        super().save(*args, **kwargs)


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown"
    OK = "ok"
    DEGRADED = "degraded"
    ERROR = "error"


_NO_ZERO_LIMIT = "At least 1. Leave it empty for no limit; to send nothing, disable the connection."


def default_retry_horizon_hours() -> int:
    """A new connection's retry horizon: ``PROVISIONING["RETRY_HORIZON_HOURS"]``."""
    return settings.PROVISIONING["RETRY_HORIZON_HOURS"]


class Connection(models.Model):
    """One configured provider endpoint (sandbox or live), with encrypted credentials."""

    # a kind of the provider registry (PROVISIONING["PROVIDERS"]), not database choices: a
    # provider can be installed without a migration
    provider = models.CharField(max_length=50, validators=[registry.validate_kind])
    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=300)
    credentials = EncryptedJSONField(help_text="Write-only; encrypted at rest.")
    # what staff chose among the provider's declared settings (e.g. SCIM's deprovision mode)
    settings = models.JSONField(default=dict, blank=True)
    # provider-owned runtime state that must stay secret (e.g. a cached access token)
    secret_state = EncryptedJSONField()
    # provider-owned runtime state that is not secret (e.g. the GLPI password policy)
    provider_state = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    max_accounts = models.PositiveIntegerField(
        null=True, blank=True, help_text="Quota: accounts this connection may hold (empty: no limit)."
    )
    # at least 1 when set: a 0 would read as "none", where the limits' code reads it as "no limit"
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1, _NO_ZERO_LIMIT)],
        help_text="Requests sent to the provider per minute, by all workers together (empty: no limit).",
    )
    max_concurrency = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1, _NO_ZERO_LIMIT)],
        help_text="Requests the provider answers at once, by all workers together (empty: no limit).",
    )
    # the provider asked the portal to wait (a 429's Retry-After, SnapTrade's X-RateLimit-*
    # headers): no request of the connection is sent before then, by any worker
    paused_until = models.DateTimeField(null=True, blank=True, editable=False)
    health_status = models.CharField(
        max_length=10, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN
    )
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_detail = models.TextField(blank=True)
    # how long a transient error is retried, counted from an operation's first attempt
    retry_horizon_hours = models.PositiveIntegerField(
        default=default_retry_horizon_hours,
        validators=[MinValueValidator(1)],
        help_text="Hours a transient error is retried (from an operation's first attempt) before the "
        "operation fails and asks a person to look.",
    )
    # the circuit breaker (services/quarantine.py): written by services only
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    quarantined_since = models.DateTimeField(null=True, blank=True, editable=False)
    quarantine_reason = models.TextField(blank=True, editable=False)
    # imposed by a person: no probes, lifted by a person only
    quarantine_manual = models.BooleanField(default=False, editable=False)
    next_probe_at = models.DateTimeField(null=True, blank=True, editable=False)
    probe_interval_seconds = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_connection", "Can configure provider connections")]

    def __str__(self):
        return self.name

    @property
    def state(self) -> str:
        """``active``, ``quarantined`` or ``disabled`` (not enabled wins)."""
        if not self.enabled:
            return ConnectionState.DISABLED
        if self.quarantined_since is not None:
            return ConnectionState.QUARANTINED
        return ConnectionState.ACTIVE

    @property
    def quarantined(self) -> bool:
        return self.quarantined_since is not None

    @property
    def provider_label(self) -> str:
        return registry.label(self.provider)

    @property
    def provider_beside_name(self) -> str:
        """The provider's label, to show beside the name; "" where the name says it already
        ("Kandy (v1.2) sandbox" is not followed by "(Kandy (v1.2))")."""
        return "" if self.provider_label.casefold() in self.name.casefold() else self.provider_label

    @property
    def name_with_provider(self) -> str:
        """"Live (SnapTrade)", or the name alone where it says the provider already."""
        return f"{self.name} ({self.provider_beside_name})" if self.provider_beside_name else self.name

    @property
    def credentials_set(self) -> list[str]:
        return sorted(k for k, v in self.credentials.items() if v not in (None, ""))


class Account(models.Model):
    """A member's account at one connection."""

    # no index of their own: one_account_per_member_and_connection (member, connection) serves
    # the member's, the (connection, status) index the connection's (each one more index to
    # write for every account a batch creates)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="accounts", db_index=False)
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="accounts", db_index=False)
    status = models.CharField(
        max_length=24, choices=AccountStatus.choices, default=AccountStatus.PENDING
    )
    external_id = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField()
    # a picture a person must read (the Flyve captcha); served by admin and API, never logged
    challenge_image = models.BinaryField(null=True, blank=True, editable=False)
    last_error = models.JSONField(null=True, blank=True)
    attention = models.TextField(
        blank=True, help_text="Set when a person must look at this account (e.g. drift)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "connection"], name="one_account_per_member_and_connection"),
        ]
        indexes = [
            models.Index(fields=["connection", "status"]),
            # the lists, newest first, all or of one status (admin, API); also "WHERE status = x"
            models.Index(fields=["created_at", "id"], name="account_created_idx"),
            models.Index(fields=["status", "created_at", "id"], name="account_status_created_idx"),
            # the admin's search of a remote id
            models.Index(fields=["external_id"], name="account_external_id_idx"),
            # the "needs a person" queue (selectors.NEEDS_PERSON), newest first, and its bounded count
            models.Index(
                fields=["-updated_at"],
                condition=Q(status__in=NEEDS_PERSON_ACCOUNT_STATUSES) | ~Q(attention=""),
                name="account_needs_person_idx",
            ),
        ]
        permissions = [
            ("provision_account", "Can provision accounts"),
            ("deprovision_account", "Can deprovision accounts"),
            ("view_account_secrets", "Can read account secrets"),
        ]

    def __str__(self):
        return f"{self.member} @ {self.connection}"

    @property
    def provider(self) -> str:
        return self.connection.provider

    @property
    def provider_label(self) -> str:
        return self.connection.provider_label

    @property
    def secrets_set(self) -> list[str]:
        return sorted(self.secrets)

    @property
    def needs_person(self) -> bool:
        """Nothing moves until a person acts (the same rule as ``selectors.NEEDS_PERSON``)."""
        return self.status in NEEDS_PERSON_ACCOUNT_STATUSES or bool(self.attention)


class Batch(models.Model):
    """Many provisionings requested at once; progress is derived from its operations."""

    # its operations go with the connection (CASCADE), and a batch is nothing without them
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="batches")
    requested_by = models.CharField(max_length=150)
    # which of the members given it did not send, and why, as the answer to its request said
    # (services.batch_create: counts, the first member ids, "message"); {} when it sent them all
    # was not recorded (a batch of the admin's actions, or one made before this was kept)
    left_out = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self):
        return f"Batch {self.pk} at {self.connection}"


class Operation(models.Model):
    """One requested action on an account (or on a connection), and what became of it."""

    kind = models.CharField(max_length=20, choices=OperationKind.choices)
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.QUEUED
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="operations",
        db_index=False,  # operation_account_idx (account, id) serves it
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="operations",
        db_index=False,  # the (connection, status) index serves it
    )
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="operations"
    )
    input = models.JSONField(default=dict, blank=True)
    secret_input = EncryptedJSONField()
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # a crash-loop guard only (a worker dying mid-operation); transient errors are retried until
    # ``retry_deadline``, not a number of attempts
    max_attempts = models.PositiveIntegerField(default=100)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # when retrying stops: first attempt + the connection's horizon, pushed on by the time held
    retry_deadline = models.DateTimeField(null=True, blank=True)
    # status "held": why (a sentence), since when, and whether a person must confirm it
    hold_reason = models.TextField(blank=True)
    held_since = models.DateTimeField(null=True, blank=True)
    needs_confirmation = models.BooleanField(default=False)
    confirmed_by = models.CharField(max_length=150, blank=True)
    # let through while its connection is quarantined, to find out whether the provider is back
    probe = models.BooleanField(default=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    prior_account_status = models.CharField(max_length=24, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    error_retryable = models.BooleanField(null=True, blank=True)
    requested_by = models.CharField(max_length=150)
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=UNFINISHED_OPERATION_STATUSES),
                name="one_unfinished_operation_per_account",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["connection", "status"]),
            # the overview: provisions finished per day, failures of the last 24 h by reason
            models.Index(fields=["kind", "status", "finished_at"], name="operation_kind_finished_idx"),
            models.Index(fields=["status", "finished_at"], name="operation_status_finished_idx"),
            # the lists, newest first, all or of one status (admin, API)
            models.Index(fields=["created_at", "id"], name="operation_created_idx"),
            models.Index(fields=["status", "created_at", "id"], name="operation_status_created_idx"),
            # the API's failed operations, newest first by id (its cursor), all of them or of one
            # kind: walking every operation by id read 1.8 s for the failed provisionings of
            # 5,000,000 operations (the failed by id alone, 256 ms). Only the failed: an operation
            # gets its entries when it fails, and none on the way there
            models.Index(fields=["id"], condition=Q(status="failed"), name="operation_failed_idx"),
            models.Index(fields=["kind", "id"], condition=Q(status="failed"), name="operation_failed_kind_idx"),
            # the same for the other statuses and kinds whose operations may all be old: PostgreSQL
            # expects some among the newest and walks back until it finds them. The 10,001
            # cancelled of 5,000,000 operations took 514 ms, the provisionings, 1,000,000 made
            # before 4,000,000 others (as on-boarding comes before the rest), 1,987 ms. Every
            # operation has a kind: that index is whole (one more entry for each row written)
            models.Index(fields=["id"], condition=Q(status="cancelled"), name="operation_cancelled_idx"),
            models.Index(fields=["kind", "id"], name="operation_kind_idx"),
            # an account's operations, its latest first (its page, a batch's progress)
            models.Index(fields=["account", "id"], name="operation_account_idx"),
            # the overview's operations in flight, by connection and status: only the unfinished,
            # so that the count reads the index alone (1 % of 5,000,000 operations, scattered
            # over 40,766 of the table's pages: 440 ms read there, 9 ms from this index)
            models.Index(fields=["connection", "status"], condition=Q(status__in=UNFINISHED_OPERATION_STATUSES),
                         name="operation_unfinished_idx"),
            # the admin's error filter, newest first: only the operations that carry an error
            # (those that failed or wait for a retry). Without it, a code no operation carries
            # read all 5,000,000 operations: 305-454 ms; from this index, 0.1 ms
            models.Index(fields=["error_code", "created_at", "id"], condition=~Q(error_code=""),
                         name="operation_error_code_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"  # its status in words is on its page

    @property
    def finished(self) -> bool:
        return self.status in (
            OperationStatus.SUCCEEDED,
            OperationStatus.FAILED,
            OperationStatus.CANCELLED,
        )

    @property
    def error(self) -> dict | None:
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": self.error_message, "retryable": bool(self.error_retryable)}


class ExternalCall(models.Model):
    """One HTTP exchange with a provider, as recorded: URL, headers and bodies are redacted."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="calls")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="calls")
    attempt = models.PositiveIntegerField(default=1)
    method = models.CharField(max_length=10)
    url = models.TextField()
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    provider_request_id = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    # when the answer came (the row itself is written with the attempt's outcome, a moment later)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "created_at"]),
            # the list, newest first (and /metrics' calls of the last minutes)
            models.Index(fields=["created_at", "id"], name="externalcall_created_idx"),
            # the answers the list's "answer" filter picks that are not a success (4xx, 5xx, 3xx,
            # none), which may be too few among millions for the index above: walked newest first,
            # it went through every row for a 5xx (2,000,000 calls, none of them 5xx: the count and
            # the page 95-160 ms each). Successes, the most, are left out of it
            models.Index(fields=["status_code"], name="externalcall_not_2xx_idx",
                         condition=Q(status_code__isnull=True) | Q(status_code__lt=200) | Q(status_code__gte=300)),
        ]

    def __str__(self):
        return f"{self.method} {self.url} -> {self.status_code or self.error}"


class CountSnapshot(models.Model):
    """Grouped counts of a big table (operations by status and kind, accounts by connection and
    status), taken in the background by ``services.counts_refresh`` so that ``/metrics`` and the
    connections' ``account_counts`` read a few rows instead of counting millions each time.

    ``counts``: ``[[key, ..., n], ...]``; ``taken_at``: when it was counted.
    """

    name = models.CharField(max_length=50, primary_key=True)
    counts = models.JSONField(default=list)
    taken_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.taken_at:%H:%M:%S}"


class RequestReservation(models.Model):
    """One slot of a connection's budget, taken in a short transaction before a request is sent.

    ``purpose`` names the budget: ``request`` (the connection's ``requests_per_minute``) or a
    provider's own (e.g. Flyve's ``captcha``). Slots are counted across every worker and machine
    because they are rows of the shared database, inserted under the connection's row lock.
    Old ones are deleted by ``records_clean_up``.
    """

    REQUEST = "request"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=30, default=REQUEST)
    # when the slot was taken; for ``request``, moved to when the answer came (the provider
    # counted the request at some moment in between)
    reserved_at = models.DateTimeField(default=timezone.now)
    operation = models.ForeignKey(Operation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["connection", "purpose", "reserved_at"])]

    def __str__(self):
        return f"{self.purpose} slot of connection {self.connection_id} at {self.reserved_at:%H:%M:%S}"


class SecretAccess(models.Model):
    """Audit trail: who read which account's decrypted secrets, when and through what.

    A record outlives its account (deleted with its member or its connection): it keeps whose
    account it was and at which connection, as they were named when the secrets were read."""

    account = models.ForeignKey(Account, null=True, on_delete=models.SET_NULL, related_name="secret_reads")
    member_email = models.EmailField("member", blank=True, default="")
    connection_name = models.CharField("connection", max_length=100, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=20)
    keys = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    # where from: the client's address (behind TRUSTED_PROXY_COUNT proxies) and User-Agent
    ip_address = models.GenericIPAddressField("from address", null=True, blank=True)
    user_agent = models.CharField("browser or client", max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "secret accesses"

    def __str__(self):
        return f"{self.user} read secrets of {self.member_email} at {self.connection_name} via {self.via}"


class IdempotencyRecord(models.Model):
    """The first response to a POST/DELETE carrying an ``Idempotency-Key``, kept for replay."""

    key = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10)
    path = models.TextField()
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_record_per_user_and_key")]


# --- webhooks --------------------------------------------------------------------------------------

class InboundWebhook(models.Model):
    """A webhook a provider sent to a connection's receiver, as recorded (redacted), accepted or not.

    Its own table rather than ``ExternalCall`` (whose operation is required and which records what
    the portal sent): it is also the replay guard, one accepted row per ``(connection,
    webhook_id)`` (a unique constraint), so a replayed webhook is refused by the database itself.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="inbound_webhooks")
    webhook_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    accepted = models.BooleanField(default=False)
    # what the portal answered and why (e.g. "signature does not match", "replayed")
    status_code = models.PositiveIntegerField()
    detail = models.TextField(blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    # what applying it did, e.g. {"account": 12, "status": "deprovisioned"}
    applied = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the admin's search by id, across connections (the constraint's index leads with one)
            models.Index(fields=["webhook_id"], name="inbound_webhook_id_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "webhook_id"],
                condition=Q(accepted=True),
                name="one_accepted_inbound_webhook_per_id",
            ),
        ]

    def __str__(self):
        return f"{self.event_type or 'webhook'} {self.webhook_id} at {self.connection_id} -> {self.status_code}"


class WebhookEventType(models.TextChoices):
    ACCOUNT_ACTIVE = "account.active", "An account became active"
    ACCOUNT_NEEDS_PERSON = "account.needs_person", "An account needs a person"
    ACCOUNT_FAILED = "account.failed", "An account failed"
    ACCOUNT_DEPROVISIONED = "account.deprovisioned", "An account was deprovisioned"
    OPERATION_FINISHED = "operation.finished", "An operation finished"
    BATCH_FINISHED = "batch.finished", "A batch finished"
    CONNECTION_HEALTH_CHANGED = "connection.health_changed", "A connection's health changed"
    CONNECTION_QUARANTINED = "connection.quarantined", "A connection was quarantined"
    CONNECTION_QUARANTINE_LIFTED = "connection.quarantine_lifted", "A connection's quarantine was lifted"


def new_webhook_event_id() -> str:
    import uuid

    return f"evt_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """Where an API consumer wants the portal's events sent (Standard Webhooks, signed)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # {"secret": "whsec_..."}: shown once, when the endpoint is created
    secret = EncryptedJSONField()
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # the first failure of the current run of failures (cleared by a success)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.url

    @property
    def signing_secret(self) -> str:
        return self.secret.get("secret", "")


class WebhookEvent(models.Model):
    """The outbox: one event, written in the transaction of the change it describes."""

    id = models.CharField(primary_key=True, max_length=40, default=new_webhook_event_id, editable=False)
    type = models.CharField(max_length=50, choices=WebhookEventType.choices)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.type} {self.id}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the retry schedule is exhausted (or the endpoint was deleted/disabled for good)


class WebhookDelivery(models.Model):
    """One event to one endpoint: attempts on its own retry schedule, until a 2xx."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=10, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # a worker sending it owns it until then (a dead worker's delivery is picked up by the sweeper)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)  # redacted, at most 500 characters
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="one_delivery_per_event_and_endpoint"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event_id} -> endpoint {self.endpoint_id} ({self.status})"


class ApiToken(TokenProxy):
    """An API consumer's token as the admin shows it: named by its owner, since Django prints an
    object's name in page titles, breadcrumbs, messages and its history (which Auditors read),
    and DRF's token is named by its key. The key is shown once, when the token is made."""

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self):
        return f"API token of {self.user}"
