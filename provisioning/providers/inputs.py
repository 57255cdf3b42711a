"""What a provider takes from people, declared once: operation input, credentials, settings.

A provider lists each value it accepts as an ``InputField`` (name, type, whether it is secret,
its limits and format, a help text). Everything else is derived from that one declaration:

- services check every value with ``clean_values`` before an operation or a connection is
  stored, so a rule is enforced in one place whatever the interface;
- the admin builds its form inputs from the fields (``admin/forms.py``) and shows the errors of
  ``clean_values``; the API builds its serializers and OpenAPI schema from them
  (``api/serializers/declared.py``) and answers with the same errors;
- ``GET /api/v1/providers/`` lists them (``InputField.describe``).

So the admin and the API accept and refuse exactly the same values, with the same messages.
Values arrive either as JSON (the API: a string must be a JSON string, a number a JSON number)
or from an HTML form (``from_form=True``: everything is text, and a blank input means "not
given"); past that first step both go through the same checks.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

STRING, INTEGER, BOOLEAN = "string", "integer", "boolean"
TYPES = (STRING, INTEGER, BOOLEAN)
# formats a string may have (checked, and named in the OpenAPI schema)
URI, UUID = "uri", "uuid"

REQUIRED = "This field is required."
NOT_TEXT = 'Enter text, in quotes: "123456", not 123456.'
NOT_WHOLE_NUMBER = "Enter a whole number."
NOT_BOOLEAN = "Enter true or false."
NO_NUL = "Null characters are not allowed."
_url_validator = URLValidator(schemes=["http", "https"])


class InputErrors(Exception):
    """Field errors: ``{"name": ["message", ...]}`` (``"non_field_errors"`` for the whole input)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class InputField:
    """One value a provider takes. Strings are stripped of surrounding spaces before any check.

    ``secret`` values (codes, answers, tokens, credentials) are kept encrypted and never shown
    again; ``pattern`` must match the whole (normalised) value; ``remove_spaces`` and ``lowercase``
    normalise what people type ("12 34 56" -> "123456") before it is checked and stored.
    """

    name: str
    type: str = STRING
    label: str = ""
    help_text: str = ""
    required: bool = True
    secret: bool = False
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str = "Enter a valid value."
    format: str = ""
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    remove_spaces: bool = False
    lowercase: bool = False
    required_message: str = REQUIRED

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"InputField {self.name!r}: unknown type {self.type!r}")

    @property
    def verbose_name(self) -> str:
        return self.label or self.name.replace("_", " ")

    # --- checking one value ----------------------------------------------------------------
    def clean(self, value: Any, *, from_form: bool = False) -> Any:
        """The value as stored, or ``ValidationError`` with the message people see."""
        if self.type == BOOLEAN:
            return self._clean_boolean(value, from_form)
        if self.type == INTEGER:
            return self._clean_integer(value, from_form)
        return self._clean_string(value)

    def _clean_string(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(NOT_TEXT)
        if "\x00" in value:
            raise ValidationError(NO_NUL)
        value = value.strip()
        if self.remove_spaces:
            value = "".join(value.split())
        if self.lowercase:
            value = value.lower()
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(f"At most {self.max_length} characters (this has {len(value)}).")
        if self.choices and value not in self.choices:
            raise ValidationError(f"Choose one of: {', '.join(self.choices)}.")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValidationError(self.pattern_message)
        if self.format == URI:
            try:
                _url_validator(value)
            except ValidationError:
                raise ValidationError("Enter an absolute http(s) URL.") from None
        if self.format == UUID:
            try:
                uuid.UUID(value)
            except ValueError:
                raise ValidationError("Enter a UUID, like 0b1d6c9e-52a4-4e0f-9a7d-3c2b1e0f9d88.") from None
        return value

    def _clean_integer(self, value: Any, from_form: bool) -> int:
        if from_form and isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(NOT_WHOLE_NUMBER)
        if self.min_value is not None and value < self.min_value:
            raise ValidationError(f"At least {self.min_value}.")
        if self.max_value is not None and value > self.max_value:
            raise ValidationError(f"At most {self.max_value}.")
        return value

    @staticmethod
    def _clean_boolean(value: Any, from_form: bool) -> bool:
        if from_form and value in ("true", "false"):
            value = value == "true"
        if not isinstance(value, bool):
            raise ValidationError(NOT_BOOLEAN)
        return value

    def is_blank(self, value: Any, *, from_form: bool) -> bool:
        """Whether ``value`` counts as "not given": absent, null, or blank text."""
        return value is None or (isinstance(value, str) and not value.strip() and (from_form or self.type == STRING))

    # --- describing it ---------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The field as ``GET /api/v1/providers/`` lists it."""
        limits = {
            "max_length": self.max_length,
            "pattern": self.pattern,
            "format": self.format or None,
            "choices": list(self.choices) or None,
            "min_value": self.min_value,
            "max_value": self.max_value,
        }
        return {
            "name": self.name,
            "label": self.verbose_name,
            "type": self.type,
            "required": self.required,
            "secret": self.secret,
            "help_text": self.help_text,
            **{key: value for key, value in limits.items() if value is not None},
        }


def clean_values(
    fields: Iterable[InputField], data: Mapping[str, Any], *, from_form: bool = False, partial: bool = False
) -> dict[str, Any]:
    """Check ``data`` against ``fields``: the cleaned values, or ``InputErrors``.

    Values not given (absent, null or blank) are left out of the result; a required one is an
    error unless ``partial`` (a change to some of the values only). Unknown names are errors.
    """
    fields = tuple(fields)
    known = {f.name: f for f in fields}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name in data:
        if name not in known:
            names = ", ".join(known) or "none"
            if "\x00" in str(name):  # no key of an error may hold one (PostgreSQL refuses it in JSON)
                errors.setdefault("non_field_errors", []).append(f"{NO_NUL} Field names take none either.")
            else:
                errors[name] = [f"Unknown field (this takes: {names})."]
    for f in fields:
        value = data.get(f.name)
        if f.is_blank(value, from_form=from_form):
            if f.required and not partial:
                errors[f.name] = [f.required_message]
            continue
        try:
            cleaned[f.name] = f.clean(value, from_form=from_form)
        except ValidationError as exc:
            errors[f.name] = list(exc.messages)
    if errors:
        raise InputErrors(errors)
    return cleaned


def split_secret(fields: Iterable[InputField], values: Mapping[str, Any]) -> tuple[dict, dict]:
    """``(plain, secret)``: the values of secret fields apart, to be kept encrypted."""
    secret_names = {f.name for f in fields if f.secret}
    plain = {k: v for k, v in values.items() if k not in secret_names}
    secret = {k: v for k, v in values.items() if k in secret_names}
    return plain, secret
