"""The portal's outbound webhooks in the OpenAPI schema (``SPECTACULAR_SETTINGS["WEBHOOKS"]``):
one entry per event type, its body ``{type, timestamp, data}`` with ``data`` the resource's own
serializer (a ``WebhookEventPayload`` component per type)."""

from drf_spectacular.utils import OpenApiWebhook, extend_schema
from rest_framework import serializers

from ..models import WebhookEventType
from .serializers import AccountSerializer, BatchSerializer, ConnectionSerializer, OperationSerializer

RESOURCE = {"account": AccountSerializer, "operation": OperationSerializer, "batch": BatchSerializer,
            "connection": ConnectionSerializer}
HEADERS = ("Headers (Standard Webhooks): webhook-id (the event id, stable across retries), webhook-timestamp, "
           "webhook-signature (v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>' keyed with the endpoint's "
           "secret>). Verify with standardwebhooks.Webhook(secret).verify(body, headers).")


def _payload(event_type: str):
    resource = event_type.split(".")[0]
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_"))
    return type(
        f"WebhookEventPayload{name}Serializer",
        (serializers.Serializer,),
        {
            "type": serializers.ChoiceField(choices=[event_type]),
            "timestamp": serializers.DateTimeField(help_text="When the event happened."),
            "data": RESOURCE[resource](help_text=f"The {resource} as the API shows it."),
            "Meta": type("Meta", (), {"ref_name": f"WebhookEventPayload{name}"}),
        },
    )


def _webhook(event_type: str) -> OpenApiWebhook:
    return OpenApiWebhook(
        name=event_type,
        decorator=extend_schema(
            summary=f"{event_type} (sent to endpoints subscribed to it)",
            description=HEADERS,
            request=_payload(event_type),
            responses={200: None},
        ),
    )


WEBHOOKS = [_webhook(t) for t in WebhookEventType.values]
for _i, _hook in enumerate(WEBHOOKS):
    globals()[f"WEBHOOK_{_i}"] = _hook


def webhooks_extension_hook(result, generator, request, public):
    """OpenAPI 3.0 has no ``webhooks`` (3.1 does): list them as ``x-webhooks``; their payloads stay
    components (``WebhookEventPayload…``) either way."""
    if str(result.get("openapi", "")).startswith("3.0") and "webhooks" in result:
        result["x-webhooks"] = result.pop("webhooks")
    return result
