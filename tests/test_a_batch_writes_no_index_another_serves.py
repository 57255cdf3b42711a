"""The tables a batch writes thousands of rows into (accounts, operations) carry no index that
another of their indexes already serves: each index is written for every row, and an index whose
columns begin another's (or a unique constraint's) answers no query the longer one cannot."""

import pytest

from provisioning.models import Account, Operation


def indexes(model) -> tuple[dict, dict]:
    """The indexes of ``model`` that cover all its rows (partial ones aside), by name: their
    columns; ``(plain ones, unique ones)`` (a unique one enforces something: it is never spare)."""
    meta = model._meta
    plain, unique = {}, {}
    for field in meta.concrete_fields:
        if field.db_index and not field.unique:
            plain[f"{field.name} (its own index)"] = (field.column,)
    for index in meta.indexes:
        if index.condition is None and index.fields:
            plain[index.name] = tuple(meta.get_field(name.lstrip("-")).column for name in index.fields)
    for constraint in meta.constraints:
        if getattr(constraint, "condition", None) is None and getattr(constraint, "fields", None):
            unique[constraint.name] = tuple(meta.get_field(name).column for name in constraint.fields)
    return plain, unique


@pytest.mark.parametrize("model", [Account, Operation], ids=lambda model: model.__name__)
def test_no_index_is_the_beginning_of_another(model):
    plain, unique = indexes(model)
    served = [
        f"{name} {columns} is served by {other} {longer}"
        for name, columns in plain.items()
        for other, longer in {**plain, **unique}.items()
        if other != name and len(longer) > len(columns) and longer[: len(columns)] == columns
    ]
    assert served == []
