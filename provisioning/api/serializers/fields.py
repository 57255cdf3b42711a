"""Fields that take JSON types as they are: no silent coercion of "1" to 1 or 1 to "1".

DRF converts generously (a number where a string is expected, "true" for a boolean); an API
whose schema says "integer" should refuse a string, so that its OpenAPI description is true.
``StrictModelSerializer`` uses these fields for the model fields it generates.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...bulk import IdList
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


ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def checked_id(field: serializers.Field, data) -> int:
    """``data`` as an id: a JSON integer from 1 (``incorrect_type`` otherwise) within the ids the
    database can hold (``does_not_exist`` otherwise)."""
    if isinstance(data, bool) or not isinstance(data, int):
        field.fail("incorrect_type", data_type=_JSON_TYPES.get(type(data), type(data).__name__))
    if parse_id(data) is None:
        field.fail("does_not_exist", pk_value=data)
    return data


# what a JSON value that is not an id was, in JSON's words (DRF said "received str")
_JSON_TYPES = {str: "a string", float: "a decimal number", bool: "true or false", list: "a list",
               dict: "an object", type(None): "null"}


def missing_message(queryset) -> str:
    """"No member has the id 99999: give the id of an existing member." (DRF: 'Invalid pk')."""
    name = queryset.model._meta.verbose_name
    return f"No {name} has the id {{pk_value}}: give the id of an existing {name}."


def id_type_message(queryset) -> str:
    """"Give the member's id, a whole number such as 7, not a string." (DRF: 'Incorrect type.
    Expected pk value, received str.')."""
    return f"Give the {queryset.model._meta.verbose_name}'s id, a whole number such as 7, not {{data_type}}."


@extend_schema_field(ID_SCHEMA)
class IdRelatedField(serializers.PrimaryKeyRelatedField):
    """An object by id: a JSON integer from 1; any other value is ``incorrect_type``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.queryset is not None:
            self.error_messages["does_not_exist"] = missing_message(self.queryset)
            self.error_messages["incorrect_type"] = id_type_message(self.queryset)

    def to_internal_value(self, data):
        return super().to_internal_value(checked_id(self, data))


@extend_schema_field({"type": "array", "items": ID_SCHEMA})
class IdListField(serializers.Field):
    """Many objects by id, as ``IdRelatedField(many=True)`` takes them (the same errors), but
    checked in one query per ``CHUNK`` ids, each query's ids one parameter (``bulk.IdList``),
    rather than one query per id; the value is the list of ids, in order, each once (thousands
    of them cost no model objects)."""

    CHUNK = 10_000
    default_error_messages = {
        **serializers.PrimaryKeyRelatedField.default_error_messages,
        **serializers.ManyRelatedField.default_error_messages,
    }

    def __init__(self, *, queryset, allow_empty: bool = True, **kwargs):
        self.queryset = queryset
        self.allow_empty = allow_empty
        super().__init__(**kwargs)
        self.error_messages["does_not_exist"] = missing_message(queryset)
        self.error_messages["incorrect_type"] = id_type_message(queryset)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data and not self.allow_empty:
            self.fail("empty")
        ids = list(dict.fromkeys(checked_id(self, item) for item in data))
        for start in range(0, len(ids), self.CHUNK):
            part = ids[start:start + self.CHUNK]
            found = set(self.queryset.filter(pk__in=IdList(part)).order_by().values_list("pk", flat=True))
            for pk in part:
                if pk not in found:
                    self.fail("does_not_exist", pk_value=pk)
        return ids

    def to_representation(self, value):
        return [getattr(item, "pk", item) for item in value]


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

    def build_standard_field(self, field_name, model_field):
        """The model's own words for a lower bound (DRF keeps the bound, and drops the message for
        its "Ensure this value is greater than or equal to 1."): the API and the admin say the same."""
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        for validator in model_field.validators:
            if isinstance(validator, MinValueValidator) and validator.message != MinValueValidator.message:
                kwargs["error_messages"] = {**kwargs.get("error_messages", {}), "min_value": validator.message}
        return field_class, kwargs
