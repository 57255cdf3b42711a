"""``field__any_of=[...]``: equal to one of many values, sent as one parameter on PostgreSQL.

Django's ``__in`` makes a placeholder and a prepared parameter of each value. For the thousand
ids a search finds first (``admin/search.py``), reading those placeholders back in the driver
and preparing each value cost more than PostgreSQL's own work for the page. ``= ANY(%s)``, the
values as one array, is what PostgreSQL makes of an ``IN`` list anyway: the same plan. Elsewhere
(SQLite) it is an ``IN`` list. Registered on every field (a foreign key's too, whose lookups are
its own) when ``ProvisioningConfig.ready`` imports this module.
"""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            raise EmptyResultSet  # as ``__in=[]``: nothing matches, and no query is sent
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
