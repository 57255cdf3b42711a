"""Many rows in one statement, with one query parameter per column rather than one per value.

``insert_copies``: rows that are one model instance but for a column or two (a batch's accounts
and operations), without a model instance and a full set of parameters per row. ``bulk_create``
prepares every field of every instance in Python (about 30 values for an operation); here the
shared values are prepared once, from a template instance, by the fields themselves (defaults,
``auto_now``, JSON and encryption included), and each varying column is sent as one array.

``IdList``: thousands of ids for an ``__in`` lookup, as one parameter.

``update_rows``: several saved instances' fields in one UPDATE, a value they share once.

``count_by``: rows counted per value of a column, in a statement written here rather than compiled
by the ORM each time (a worker's claim counts twice per group of operations).

``with_relations``: rows and their to-one relations in one SELECT, what ``select_related`` reads,
its statement written once per process (a worker's claim reads each group of operations so).

A placeholder per value costs the request about as much as the database's work on the row
(Django prepares each value, psycopg parses each ``%s``). One parameter per column: PostgreSQL
reads an array (``unnest``), SQLite a JSON text (``json_each``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from django.db import NotSupportedError, connections, router
from django.db.models import BinaryField, Expression, IntegerField


class IdList(Expression):
    """Integers as one query parameter, for an ``__in`` lookup: ``filter(pk__in=IdList(ids))``
    reads ``pk IN (SELECT unnest(%s::bigint[]))`` (PostgreSQL; SQLite: ``json_each``)."""

    output_field = IntegerField()

    def __init__(self, ids):
        super().__init__()
        self.ids = [int(pk) for pk in ids]

    def as_sql(self, compiler, connection):
        return _id_list_sql(connection, self.ids)


def _id_list_sql(connection, ids: list[int]) -> tuple[str, list]:
    """A subquery of the integers ``ids``, as one parameter."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[])", [ids]
    if connection.vendor == "sqlite":
        return "SELECT value FROM json_each(%s)", [json.dumps(ids)]
    raise NotSupportedError(f"no SQL for a list of ids on {connection.vendor}")


def count_by(model, column: str, values, **equal_or_after) -> dict:
    """Rows of ``model`` counted per value of the field ``column`` (an attribute name:
    ``connection_id``), among those whose ``column`` is one of ``values`` (integers) and that
    match ``equal_or_after``: ``status="running"`` (equal) or ``lease_expires_at__gt=now`` (after;
    the only lookup). What ``filter(...).values(column).annotate(Count("pk"))`` returns, without
    compiling it: that costs a worker about 2 ms of CPU each time (2-core AMD EPYC), the database
    a tenth of it."""
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    by = quote(meta.get_field(column).column)
    ids_sql, params = _id_list_sql(connection, [int(value) for value in values])
    where = [f"{by} IN ({ids_sql})"]
    for lookup, value in equal_or_after.items():
        name, _, after = lookup.partition("__")
        if after not in ("", "gt"):
            raise ValueError(f"count_by: only an equality or __gt, not {lookup}")
        field = meta.get_field(name)
        where.append(f"{quote(field.column)} {'>' if after else '='} %s")
        params.append(field.get_db_prep_value(value, connection, prepared=False))
    sql = f"SELECT {by}, COUNT(*) FROM {quote(meta.db_table)} WHERE {' AND '.join(where)} GROUP BY {by}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def insert_copies(template, varying: tuple[str, ...], rows: list[tuple], returning: tuple[str, ...] = ("pk",)):
    """Insert one row per tuple of ``rows``: ``template``'s values (not saved, no primary key set)
    but for the columns named by ``varying`` (attribute names: ``account_id``), which take the
    tuple's values. Returns the ``returning`` values of each inserted row (tuples), in no
    particular order."""
    if not rows:
        return []
    model = type(template)
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    shared = [field for field in fields if field.attname not in varying]
    by_name = {field.attname: field for field in fields}
    values = [field.get_db_prep_save(field.pre_save(template, add=True), connection) for field in shared]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in [*shared, *(by_name[name] for name in varying)])
    picked = ", ".join([*["%s"] * len(shared), *(f"copies.column{i + 1}" for i in range(len(varying)))])
    source, source_params = _rows_source(connection, [by_name[name] for name in varying], rows)
    returned = ", ".join(quote(meta.pk.column if name == "pk" else by_name[name].column) for name in returning)
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {picked} FROM {source} RETURNING {returned}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *source_params])
        return cursor.fetchall()


def _rows_source(connection, fields, rows) -> tuple[str, list]:
    """A FROM item of ``rows`` (tuples of ``fields``' values), its columns named ``column1``...:
    one array per column (PostgreSQL) or one JSON text of all rows (SQLite)."""
    names = ", ".join(f"column{i + 1}" for i in range(len(fields)))
    if connection.vendor == "postgresql":
        # the type without its length ("varchar", not "varchar(200)"): an explicit cast would cut
        # a value too long, where the column's own (assignment) cast refuses it as save() does
        arrays = ", ".join(f"%s::{field.db_type(connection).split('(')[0]}[]" for field in fields)
        return f"unnest({arrays}) AS copies({names})", [list(column) for column in zip(*rows)]
    picked = ", ".join(f"json_extract(value, '$[{i}]') AS column{i + 1}" for i in range(len(fields)))
    return f"(SELECT {picked} FROM json_each(%s)) AS copies", [json.dumps(rows)]


def update_rows(instances: list, fields: list[str]) -> int:
    """Write ``fields`` (names of concrete, non-relation fields) of saved ``instances`` of one
    model in one UPDATE (``update_columns``). ``bulk_update`` builds a ``CASE`` with a ``WHEN``
    per row and field, which costs a worker more than the database's work on the rows. Like
    ``bulk_update``: no ``save()``, no signals, no ``auto_now`` (set such a field on the
    instances and name it)."""
    if not instances:
        return 0
    meta = type(instances[0])._meta
    columns = {}
    for name in fields:
        attname = meta.get_field(name).attname
        columns[name] = [getattr(instance, attname) for instance in instances]
    return update_columns(type(instances[0]), [instance.pk for instance in instances], columns)


def update_columns(model, pks: list, columns: dict[str, Any]) -> int:
    """Write, in one UPDATE, the rows of ``model`` whose primary keys are ``pks``: each field of
    ``columns`` (names of concrete, non-relation fields) set to its value, or to the value in the
    same place as the row's key when it is a list (no model instance needed: building 500 cost a
    worker about half of the 35 ms it took to put 500 operations to wait). A value all rows
    share is one parameter; a column whose values differ is one array (``insert_copies``' rows
    source), joined on the primary key."""
    if not pks:
        return 0
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    shared, varying = {}, []
    for name, values in columns.items():
        field = meta.get_field(name)
        if not isinstance(values, list):
            shared[field] = values
        elif all(value == values[0] for value in values[1:]):
            shared[field] = values[0]
        else:
            varying.append((field, values))
    if connection.vendor == "sqlite":  # bytes have no JSON: a binary column is written row by row
        binary = [(field, column) for field, column in varying if isinstance(field, BinaryField)]
        for field, column in binary:
            for pk, value in zip(pks, column):
                model._default_manager.filter(pk=pk).update(**{field.attname: value})
        varying = [each for each in varying if each not in binary]
    if not varying:
        return model._default_manager.filter(pk__in=pks).update(**{f.attname: v for f, v in shared.items()})
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotSupportedError(f"update_columns: no SQL for {connection.vendor}")
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    assignments = [f"{quote(field.column)} = %s" for field in shared]
    params = [field.get_db_prep_save(value, connection) for field, value in shared.items()]
    assignments += [f"{quote(field.column)} = copies.column{i + 2}" for i, (field, _) in enumerate(varying)]
    arrays = [pks, *([field.get_db_prep_save(value, connection) for value in column] for field, column in varying)]
    source, source_params = _rows_source(connection, [meta.pk, *(field for field, _ in varying)], list(zip(*arrays)))
    sql = (f"UPDATE {table} SET {', '.join(assignments)} FROM {source} "
           f"WHERE {table}.{quote(meta.pk.column)} = copies.column1")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *source_params])
        return cursor.rowcount


def with_relations(model, ids, relations: tuple[str, ...], *, lock: bool = False) -> list:
    """The instances of ``model`` whose primary key is in ``ids``, in that key's order, each with
    its to-one ``relations`` (forward paths: ``"connection"``, ``"account__member"``) read in the
    same SELECT and cached on it, as ``select_related`` does (a relation that is null: ``None``);
    with ``lock``, their own rows (not their relations') locked until the transaction ends, as
    ``select_for_update(of=("self",))``. ``select_related`` compiles its statement at each call:
    for a group of 8 operations with their connection, account and member, 5.5 ms of a worker's
    CPU (2-core AMD EPYC); here, with the statement written once per process, 2.6 ms."""
    if not ids:
        return []
    connection = connections[router.db_for_write(model) if lock else router.db_for_read(model)]
    sql, plan = _with_relations_sql(connection.alias, model, tuple(relations), lock)
    with connection.cursor() as cursor:
        cursor.execute(sql, _id_list_sql(connection, [int(pk) for pk in ids])[1])
        rows = cursor.fetchall()
    found = []
    for row in rows:
        built = {}
        for step in plan:
            values = list(row[step.start:step.start + len(step.attnames)])
            instance = None
            if values[step.pk_index] is not None:
                for index, column, converters in step.converted:
                    for converter in converters:
                        values[index] = converter(values[index], column, connection)
                instance = step.model.from_db(connection.alias, step.attnames, values)
            built[step.path] = instance
            if step.field is not None and built[step.parent] is not None:
                step.field.set_cached_value(built[step.parent], instance)
        found.append(built[""])
    return found


@dataclass(frozen=True)
class _Step:
    """How ``with_relations`` reads one model of a row: the relation's path from the model read
    (``""`` for that one), its parent's path, the field that leads there from the parent, the
    model, its first column in the row, its primary key's place among its columns, its fields'
    attribute names, and the columns that have converters (from the database to Python), each
    with its place among them, its expression and its converters."""

    path: str
    parent: str
    field: object
    model: type
    start: int
    pk_index: int
    attnames: list
    converted: list


@functools.lru_cache(maxsize=32)
def _with_relations_sql(alias: str, model, relations: tuple[str, ...], lock: bool) -> tuple[str, list[_Step]]:
    """The SELECT of ``with_relations`` (its ids one parameter) and how to read its rows."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    paths = [""]
    for relation in relations:
        parts = relation.split("__")
        paths += [path for path in ("__".join(parts[:n]) for n in range(1, len(parts) + 1)) if path not in paths]
    aliases, steps, selected, joins = {}, [], [], []
    for path in paths:
        parent, _, name = path.rpartition("__")
        table = f"t{len(aliases)}"
        field, related = None, model
        if path:
            field = steps[paths.index(parent)].model._meta.get_field(name)
            if not (field.many_to_one or field.one_to_one) or field.auto_created:
                raise ValueError(f"with_relations: {path} is not a forward to-one relation")
            related = field.related_model
            joins.append(f"LEFT OUTER JOIN {quote(related._meta.db_table)} {table} ON "
                         f"{table}.{quote(field.target_field.column)} = {aliases[parent]}.{quote(field.column)}")
        aliases[path] = table
        fields = related._meta.concrete_fields
        # the backend's converters are bound to this thread's connection and kept for every
        # thread's: PostgreSQL has none for these fields, and SQLite's (dates, booleans,
        # decimals) read only the settings and the column
        converted = []
        for index, column in enumerate(each.get_col(table) for each in fields):
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                converted.append((index, column, converters))
        steps.append(_Step(path, parent, field, related, len(selected), fields.index(related._meta.pk),
                           [each.attname for each in fields], converted))
        selected += [f"{table}.{quote(each.column)}" for each in fields]
    pk = f"t0.{quote(model._meta.pk.column)}"
    ids_sql = _id_list_sql(connection, [])[0]
    sql = (f"SELECT {', '.join(selected)} FROM {quote(model._meta.db_table)} t0 {' '.join(joins)} "
           f"WHERE {pk} IN ({ids_sql}) ORDER BY {pk}")
    if lock and connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF t0"
    elif lock and connection.features.has_select_for_update:
        raise NotSupportedError(f"with_relations: no lock of the model's rows alone on {connection.vendor}")
    return sql, steps
