"""The admin's search boxes, answered by indexes.

Django's default search (``icontains`` on every field of ``search_fields``, ORed across joins)
reads every row of the list's table and of the joined ones. Here each list says what a term may
be, and each is a lookup an index serves: an email or its beginning, in any case (the
``member_email_search_idx`` of PostgreSQL), a member's reference, an account's remote id, an id.
Members are found first (at most ``MATCH_LIMIT``), then the ids of the list's rows (at most as
many) by their foreign key, by which the list filters.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from ..models import Account, Member

MATCH_LIMIT = 1000


def member_ids_matching(term: str) -> list[int]:
    """Members whose email starts with ``term`` (any case) or whose reference is ``term``."""
    members = Member.objects.filter(email_starts_with(term) | Q(external_ref=term))
    return list(members.order_by().values_list("pk", flat=True)[:MATCH_LIMIT])


def email_starts_with(term: str) -> Q:
    """Members whose email begins with ``term``, in any case. On PostgreSQL, as the range of
    upper-cased emails from ``term`` to the next beginning, which only ``member_email_search_idx``
    answers, in order, stopping at ``MATCH_LIMIT``: as a ``LIKE``, a beginning thousands of emails
    share led PostgreSQL to the trigram index of the API's search, which reads every match (11,111
    of 500,000 members for "member25": 190 ms, against 13 ms)."""
    if connection.vendor != "postgresql":
        return Q(email__istartswith=term)
    email = 'UPPER("provisioning_member"."email"::text)'
    next_beginning = "LEFT(UPPER(%s), -1) || CHR(ASCII(RIGHT(UPPER(%s), 1)) + 1)"  # "AN" -> "AO"
    return Q(RawSQL(f"{email} ~>=~ UPPER(%s) AND {email} ~<~ ({next_beginning})", [term, term, term],
                    output_field=BooleanField()))


def account_ids_matching(term: str) -> list[int]:
    """Accounts of those members, or whose remote id is ``term`` (at most ``MATCH_LIMIT``). A list
    filters by these ids, not by the members': given a thousand members' ids, PostgreSQL expects
    them to match as many accounts as they are and walks the list's order index through all of
    them (1,000,000 accounts: 280-560 ms, against 5-10 ms for the ids)."""
    matching = Q(member_id__any_of=member_ids_matching(term)) | Q(external_id=term)
    return list(Account.objects.filter(matching).order_by().values_list("pk", flat=True)[:MATCH_LIMIT])


def id_matching(term: str, field: str = "pk") -> Q:
    """``field`` equal to ``term`` when it is a number (``#12`` too), else nothing."""
    digits = term.removeprefix("#")
    return Q(**{field: int(digits)}) if digits.isascii() and digits.isdigit() and len(digits) < 19 else Q(pk__in=[])


class IndexedSearchMixin:
    """``search_filter(term)`` is the ``Q`` of what a term finds (terms are not split in words)."""

    def search_filter(self, term: str) -> Q:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.search_filter(term)), False
