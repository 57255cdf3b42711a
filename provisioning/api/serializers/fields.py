"""Fields that take JSON types as they are: no silent coercion of "1" to 1 or 1 to "1".

DRF converts generously (a number where a string is expected, "true" for a boolean); an API
whose schema says "integer" should refuse a string, so that its OpenAPI description is true.
``StrictModelSerializer`` uses these fields for the model fields it generates.
"""

from django.db import models
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..ids import MAX_ID, parse_id


class _JSONTyped:
    json_types: tuple[type, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, bool) != (bool in self.json_types) or not isinstance(data, self.json_types):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class StrictCharField(_JSONTyped, serializers.CharField):
    json_types = (str,)


class StrictEmailField(_JSONTyped, serializers.EmailField):
    json_types = (str,)


class StrictURLField(_JSONTyped, serializers.URLField):
    json_types = (str,)


class StrictRegexField(_JSONTyped, serializers.RegexField):
    json_types = (str,)


class StrictIntegerField(_JSONTyped, serializers.IntegerField):
    json_types = (int,)


class StrictBooleanField(_JSONTyped, serializers.BooleanField):
    json_types = (bool,)
    default_error_messages = {"invalid": "Must be true or false."}


class CountryCodeField(CountryField):
    """A country of django-countries' list, given as its upper-case alpha-2 code ("SG") only.

    The library's field also reads "sg", "SGP", 702 or "Singapore" as SG; the admin form and
    ``Member.full_clean`` take exactly the code, so the API does too. It still writes the code
    string, and the schema is still the enum of the codes.
    """

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return serializers.ChoiceField.to_internal_value(self, data)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdRelatedField(serializers.PrimaryKeyRelatedField):
    """An object by id: a JSON integer from 1; any other value is ``incorrect_type``."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if parse_id(data) is None:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.URLField: StrictURLField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.BooleanField: StrictBooleanField,
    }
    serializer_related_field = IdRelatedField
