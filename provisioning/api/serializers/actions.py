"""Bodies of the account actions (see ``api/account_actions.py`` for what each one requests)."""

from django.core.validators import URLValidator
from rest_framework import serializers

from .fields import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictRegexField,
    StrictURLField,
)


class VerifyInputSerializer(serializers.Serializer):
    code = StrictCharField(max_length=32, help_text="The code of the SMS the member received.")


class CaptchaAnswerInputSerializer(serializers.Serializer):
    answer = StrictCharField(max_length=32, help_text="The text of the captcha image.")


class ValidateInputSerializer(serializers.Serializer):
    validation_id = StrictIntegerField(min_value=1, max_value=2**31 - 1)
    token = StrictRegexField(
        r"^[0-9a-fA-F]{64}$", help_text="The 64 hexadecimal characters of the validation link."
    )

    def validate_token(self, value):
        return value.lower()


class LoginLinkInputSerializer(serializers.Serializer):
    """Options of the connection portal the link opens, all optional, with SnapTrade's names.

    The provider checks them further (``validate_input``); unknown keys are refused.
    """

    broker = StrictCharField(required=False, max_length=500, help_text="Preselect a broker (its slug).")
    immediateRedirect = StrictBooleanField(required=False)
    customRedirect = StrictURLField(
        required=False,
        max_length=200,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="An absolute http(s) URL to return to.",
    )
    reconnect = serializers.UUIDField(
        required=False, format="hex_verbose", help_text="A brokerage connection id to reconnect."
    )
    connectionType = serializers.ChoiceField(required=False, choices=["read", "trade", "trade-if-available"])
    showCloseButton = StrictBooleanField(required=False)
    darkMode = StrictBooleanField(required=False)
    locale = StrictCharField(required=False, max_length=500)
    connectionPortalVersion = serializers.ChoiceField(required=False, choices=["v4", "v3", "v2"])

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({key: ["Unknown login option."] for key in unknown})
        if "reconnect" in attrs:
            attrs["reconnect"] = str(attrs["reconnect"])
        return attrs
