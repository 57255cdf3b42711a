"""Model fields whose values are encrypted at rest."""

import json

from django.db import models

from . import crypto


class EncryptedJSONField(models.TextField):
    """A JSON object stored as a Fernet token. Python side: a ``dict`` (empty when unset).

    The database never sees the plaintext: raw SQL shows only ``gAAAA...`` tokens. Lookups on
    the content are impossible by design.
    """

    description = "A JSON object encrypted with the project's Fernet keys"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        return json.loads(crypto.decrypt(value))

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return json.loads(crypto.decrypt(value))

    def get_prep_value(self, value):
        if not value:
            return ""
        return crypto.encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj):
        return ""  # never serialise secrets (dumpdata, admin history)


def encrypted_fields(model) -> list[EncryptedJSONField]:
    """The encrypted columns of ``model``."""
    return [field for field in model._meta.concrete_fields if isinstance(field, EncryptedJSONField)]


def encrypted_paths(model, related=()) -> list[str]:
    """The encrypted fields of ``model`` and of the models its ``related`` paths (as in
    ``select_related``) lead to, named for ``defer()``: for a list that shows no secret."""
    paths = {""}
    for path in related:  # "account__member" reads the account too
        parts = path.split("__")
        paths.update("__".join(parts[:end]) for end in range(1, len(parts) + 1))
    names = []
    for path in sorted(paths):
        target = model
        for part in filter(None, path.split("__")):
            target = target._meta.get_field(part).related_model
        names += [f"{path}__{field.name}" if path else field.name for field in encrypted_fields(target)]
    return names
