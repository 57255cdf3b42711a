"""Serializers built from what providers declare (``providers/inputs.py``), and the providers list.

An operation's body is checked by the provider's own declaration, in services, so the API and
the admin accept and refuse exactly the same values with the same messages. The serializers
here describe those bodies in the OpenAPI schema (types, limits, formats, help texts); their only
check of their own is that the body is a JSON object.
"""

from __future__ import annotations

from rest_framework import serializers

from ...providers import registry
from ...providers.inputs import BOOLEAN, INTEGER, InputField


def declared_serializer_field(declared: InputField) -> serializers.Field:
    """A serializer field with the declaration's type and limits, for the schema."""
    common = {"required": declared.required, "help_text": declared.help_text or None}
    if declared.type == BOOLEAN:
        return serializers.BooleanField(**common)
    if declared.type == INTEGER:
        return serializers.IntegerField(min_value=declared.min_value, max_value=declared.max_value, **common)
    if declared.choices:
        return serializers.ChoiceField(choices=declared.choices, **common)
    if declared.pattern:
        return serializers.RegexField(f"^{declared.pattern}$", max_length=declared.max_length, **common)
    if declared.format == "uri":
        return serializers.URLField(max_length=declared.max_length, **common)
    if declared.format == "uuid":
        return serializers.UUIDField(**common)
    return serializers.CharField(max_length=declared.max_length, **common)


# its docstring is the OpenAPI schema's description, for consumers: the provider's check is
# ``services.operation_request``'s
class DeclaredInputSerializer(serializers.Serializer):
    """A JSON object whose values the provider checks."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        return dict(data)

    def to_representation(self, instance):
        return dict(instance)


def input_serializer_for(kind: str) -> type[DeclaredInputSerializer] | None:
    """The body of operation ``kind``: the fields every installed provider declares for it
    (required only where all of them require it). ``None`` when no provider takes input."""
    fields: dict[str, serializers.Field] = {}
    declaring = [p for p in registry.all_providers().values() if p.input_fields.get(kind)]
    for provider in declaring:
        for declared in provider.input_fields[kind]:
            if declared.name in fields:
                continue
            field = declared_serializer_field(declared)
            field.required = all(
                any(d.name == declared.name and d.required for d in p.input_fields[kind]) for p in declaring
            )
            fields[declared.name] = field
    if not fields:
        return None
    name = "".join(part.title() for part in kind.split("_")) + "InputSerializer"
    return type(name, (DeclaredInputSerializer,), {**fields, "__module__": __name__})


# --- GET /api/v1/providers/ (documentation of its answer) ----------------------------------------

class InputFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=["string", "integer", "boolean"])
    required = serializers.BooleanField()
    secret = serializers.BooleanField(help_text="Kept encrypted; never shown again.")
    help_text = serializers.CharField()
    max_length = serializers.IntegerField(required=False)
    pattern = serializers.CharField(required=False, help_text="A regular expression the whole value matches.")
    format = serializers.CharField(required=False)
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    min_value = serializers.IntegerField(required=False)
    max_value = serializers.IntegerField(required=False)


class ProviderOperationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    label_when = serializers.DictField(
        child=serializers.CharField(),
        help_text="{account status: label} where the provider words the operation otherwise for accounts in that "
        "status (Xhoppe's reset_password for awaiting_verification: \"Send a new SMS code\").",
    )
    on_account = serializers.BooleanField()
    permission = serializers.CharField()
    input = InputFieldSerializer(many=True)


class ProviderSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    base_url_example = serializers.CharField()
    credentials = InputFieldSerializer(many=True)
    settings = InputFieldSerializer(many=True)
    receives_webhooks = serializers.BooleanField(help_text="Whether it sends webhooks to the connection's webhook_url.")
    operations = ProviderOperationSerializer(many=True)
