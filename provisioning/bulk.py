"""Inserting many rows that are one model instance but for a column or two (a batch's accounts
and operations), without a model instance and a full set of parameters per row.

``bulk_create`` prepares every field of every instance in Python (about 30 values for an
operation); here the shared values are prepared once, from a template instance, by the fields
themselves (defaults, ``auto_now``, JSON and encryption included), and only the varying columns
are sent per row: ``INSERT INTO t (shared..., varying...) SELECT %s..., column1, ... FROM
(VALUES (...), (...)) RETURNING ...`` (PostgreSQL and SQLite alike).
"""

from __future__ import annotations

from django.db import connections, router


def insert_copies(template, varying: tuple[str, ...], rows: list[tuple], returning: tuple[str, ...] = ("pk",)):
    """Insert one row per tuple of ``rows``: ``template``'s values (not saved, no primary key set)
    but for the columns named by ``varying`` (attribute names: ``account_id``), which take the
    tuple's values. Returns the ``returning`` values of each inserted row (tuples), in no
    particular order."""
    if not rows:
        return []
    model = type(template)
    meta = model._meta
    db = router.db_for_write(model)
    connection = connections[db]
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    shared = [field for field in fields if field.attname not in varying]
    by_name = {field.attname: field for field in fields}
    values = [field.get_db_prep_save(field.pre_save(template, add=True), connection) for field in shared]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in [*shared, *(by_name[name] for name in varying)])
    picked = ", ".join([*["%s"] * len(shared), *(f"column{i + 1}" for i in range(len(varying)))])
    row = "(" + ", ".join(["%s"] * len(varying)) + ")"
    returned = ", ".join(quote(meta.pk.column if name == "pk" else by_name[name].column) for name in returning)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {picked} "
        f"FROM (VALUES {', '.join([row] * len(rows))}) AS copies RETURNING {returned}"
    )
    params = [*values, *(value for values_of_row in rows for value in values_of_row)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
