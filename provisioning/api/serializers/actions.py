"""Bodies of the account actions (see ``api/account_actions.py`` for what each one requests)."""

from rest_framework import serializers

from .fields import StrictCharField, StrictIntegerField, StrictRegexField


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


class ProviderOptionsSerializer(serializers.Serializer):
    """A JSON object of options that the account's provider checks itself.

    The provider is the one place that knows them (``Provider.validate_input``, run when the
    operation is requested): an unknown option or a bad value is a 400 with its field errors.
    """

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object of options."]})
        return dict(data)

    def to_representation(self, instance):
        return dict(instance)
