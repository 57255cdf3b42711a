from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ... import selectors, services
from ...models import Connection, HealthStatus
from ...states import ProviderKind
from .fields import StrictCharField, StrictModelSerializer


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(source="health_status", choices=HealthStatus.choices, read_only=True)
    checked_at = serializers.DateTimeField(source="health_checked_at", read_only=True, allow_null=True)
    detail = serializers.CharField(source="health_detail", read_only=True)


class ConnectionSerializer(StrictModelSerializer):
    """A provider connection. ``credentials`` is write-only; reads show ``credentials_set``.

    On PATCH, ``credentials`` is merged into the stored ones (``null`` removes a key) and the
    result must still be complete. The provider of an existing connection cannot change.
    """

    provider = serializers.ChoiceField(choices=ProviderKind.choices)
    credentials = serializers.DictField(
        child=StrictCharField(allow_null=True, allow_blank=True, max_length=1000),
        write_only=True,
        help_text="Keys per provider: kandy api_key, api_secret; xhoppe api_token (optional); "
        "flyve user_token, app_token (optional); snaptrade client_id, consumer_key.",
    )
    credentials_set = serializers.ListField(child=serializers.CharField(), read_only=True)
    health = HealthSerializer(source="*", read_only=True)
    account_counts = serializers.SerializerMethodField()

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
            "credentials",
            "credentials_set",
            "health",
            "account_counts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_account_counts(self, connection) -> dict[str, int]:
        return selectors.connection_account_counts(connection)

    def validate_provider(self, value):
        if self.instance is not None and value != self.instance.provider:
            raise serializers.ValidationError("The provider of a connection cannot change.")
        return value

    def validate(self, attrs):
        provider = attrs.get("provider") or getattr(self.instance, "provider", None)
        if "credentials" in attrs or self.instance is None:
            current = dict(self.instance.credentials) if self.instance is not None else {}
            merged = {**current, **attrs.get("credentials", {})}
            credentials = {k: v for k, v in merged.items() if v not in (None, "")}
            try:
                services.connection_validate_credentials(provider=provider, credentials=credentials)
            except services.InvalidRequest as exc:
                raise serializers.ValidationError(exc.field_errors or {"credentials": [exc.message]})
            attrs["credentials"] = credentials
        return attrs

    def update(self, instance, validated_data):
        if "credentials" in validated_data:
            services.connection_set_credentials(
                connection=instance, credentials=validated_data.pop("credentials")
            )
        return super().update(instance, validated_data)
