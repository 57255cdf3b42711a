from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ... import explain, selectors, services
from ...models import Connection, HealthStatus
from ...providers import registry
from ...states import ConnectionState
from .fields import StrictCharField, StrictIntegerField, StrictModelSerializer


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(source="health_status", choices=HealthStatus.choices, read_only=True)
    checked_at = serializers.DateTimeField(source="health_checked_at", read_only=True, allow_null=True)
    detail = serializers.SerializerMethodField(
        help_text="What the last check found, or why there is none to find (a provider without a health check)."
    )

    def get_detail(self, connection) -> str:
        return explain.health_detail(connection)


class ConnectionSerializer(StrictModelSerializer):
    """A provider connection. ``credentials`` is write-only; reads show ``credentials_set``.

    Credentials and settings are what the connection's provider declares (``GET
    /api/v1/providers/``); services merge and check them (``connection_create``,
    ``connection_update``), as for the admin. On PATCH, ``credentials`` and ``settings`` are
    merged into the stored ones (``null`` removes a key). The provider cannot change.
    """

    provider = serializers.ChoiceField(choices=[], help_text="A kind listed by GET /api/v1/providers/.")
    credentials = serializers.DictField(
        child=StrictCharField(allow_null=True, allow_blank=True, max_length=1000),
        write_only=True,
        required=False,
        help_text="The credentials the provider declares (see GET /api/v1/providers/), e.g. snaptrade: "
        "client_id, consumer_key; left out, none (xhoppe needs none).",
    )
    settings = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="The settings the provider declares (see GET /api/v1/providers/), e.g. scim: deprovision_mode.",
    )
    credentials_set = serializers.ListField(child=serializers.CharField(), read_only=True)
    health = HealthSerializer(source="*", read_only=True)
    account_counts = serializers.SerializerMethodField(
        help_text="Accounts by status. In lists and reads, counted in the background: at most "
        "COUNTS_MAX_AGE_SECONDS (60 by default) old."
    )
    state = serializers.ChoiceField(
        choices=ConnectionState.choices,
        read_only=True,
        help_text="disabled when not enabled; quarantined while its operations are held after repeated "
        "failures (or by hand); else active.",
    )
    quarantine_reason = serializers.SerializerMethodField(
        help_text="Why the connection is quarantined; null unless it is."
    )
    webhook_url = serializers.SerializerMethodField(
        help_text="Where the provider must send its webhooks (configure it at the provider); null when "
        "its provider sends none."
    )
    retry_horizon_hours = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=24 * 365,
        help_text="Hours a transient error is retried, from an operation's first attempt, before it fails.",
    )

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "provider",
            "base_url",
            "enabled",
            "max_accounts",
            "requests_per_minute",
            "max_concurrency",
            "retry_horizon_hours",
            "state",
            "quarantined_since",
            "quarantine_reason",
            "next_probe_at",
            "paused_until",
            "credentials",
            "credentials_set",
            "settings",
            "health",
            "webhook_url",
            "account_counts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id", "quarantined_since", "next_probe_at", "paused_until", "created_at", "updated_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = registry.choices()

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_account_counts(self, connection) -> dict[str, int]:
        counted = self.context.get("account_counts")  # {(connection id, status): n}, for lists
        if counted is None:
            return selectors.connection_account_counts(connection)
        return {status: n for (pk, status), n in sorted(counted.items()) if pk == connection.pk}

    def get_quarantine_reason(self, connection) -> str | None:
        return connection.quarantine_reason if connection.quarantined_since else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_webhook_url(self, connection) -> str | None:
        from ...webhook_views import webhook_url

        return webhook_url(connection, self.context.get("request"))

    def validate_provider(self, value):
        if self.instance is not None and value != self.instance.provider:
            raise serializers.ValidationError("The provider of a connection cannot change.")
        return value

    def validate(self, attrs):
        """Credentials and settings checked as services will (errors as field errors)."""
        instance = self.instance
        try:
            services.connection_changes_check(
                provider=attrs.get("provider") or getattr(instance, "provider", None),
                connection=instance,
                credentials=attrs.get("credentials"),
                settings=attrs.get("settings"),
            )
        except services.InvalidRequest as exc:
            raise serializers.ValidationError(exc.field_errors or {"non_field_errors": [exc.message]})
        return attrs

    def create(self, validated_data):
        return services.connection_create(**validated_data)

    def update(self, instance, validated_data):
        return services.connection_update(connection=instance, **validated_data)


class QuarantineSerializer(serializers.Serializer):
    """Why a person quarantines a connection (shown with its state)."""

    reason = StrictCharField(required=False, allow_blank=True, max_length=500)
