from rest_framework import serializers

from ... import services
from ...services import webhooks as _webhooks  # noqa: F401 (services.webhooks)
from ...models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from .fields import StrictBooleanField, StrictCharField, StrictModelSerializer


class WebhookEndpointSerializer(StrictModelSerializer):
    """Where the portal sends its events, signed (Standard Webhooks). The signing ``secret`` is in
    the answer to the creation only."""

    url = StrictCharField(max_length=500, help_text="https://… (http:// to a loopback address only in development)")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), allow_empty=False,
        help_text="The event types to receive.",
    )
    enabled = StrictBooleanField(required=False, default=True)
    owner = serializers.CharField(source="owner.get_username", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "enabled", "owner", "failing_since", "disabled_reason",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "failing_since", "disabled_reason", "created_at", "updated_at"]

    def _checked(self, attrs):
        url = attrs.get("url", getattr(self.instance, "url", ""))
        events = attrs.get("events", getattr(self.instance, "events", []))
        if "url" in attrs or "events" in attrs or self.instance is None:
            try:
                services.webhooks.check_endpoint(url=url, events=events)
            except services.InvalidRequest as exc:
                raise serializers.ValidationError(exc.field_errors)
        return attrs

    def validate(self, attrs):
        return self._checked(attrs)

    def create(self, validated_data):
        endpoint, secret = services.webhook_endpoint_create(owner=self.context["request"].user, **validated_data)
        endpoint.created_secret = secret
        return endpoint

    def update(self, instance, validated_data):
        return services.webhook_endpoint_update(endpoint=instance, **validated_data)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(source="created_secret", read_only=True,
                                   help_text="The signing secret (whsec_…): shown in this answer only.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.id", read_only=True)
    type = serializers.CharField(source="event.type", read_only=True)
    event_created_at = serializers.DateTimeField(source="event.created_at", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "type", "event_created_at", "status", "attempts", "next_attempt_at",
                  "last_attempt_at", "last_status_code", "last_error", "last_duration_ms", "response_excerpt",
                  "delivered_at"]
        read_only_fields = fields
