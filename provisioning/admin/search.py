"""The admin's search boxes, answered by indexes.

Django's default search (``icontains`` on every field of ``search_fields``, ORed across joins)
reads every row of the list's table and of the joined ones. Here each list says what a term may
be, and each is a lookup an index serves: an email or its beginning, in any case (the
``member_email_search_idx`` of PostgreSQL), a member's reference, an account's remote id, an id.
Members are found first (at most ``MATCH_LIMIT``), then the ids of the list's rows (at most as
many) by their foreign key, by which the list filters. A term that matches more stops there, and
the list says so above its rows (``Found.cut``): selecting all of it then takes only those.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.admin.views.main import SEARCH_VAR
from django.db.models import Q

from ..models import Account, Member, Operation
from ..selectors import IDS_FIRST, first_ids

MATCH_LIMIT = 1000


@dataclass(frozen=True)
class Found:
    """What a term finds, when the search may stop before all of it: ``cut`` says it did."""

    condition: Q
    cut: bool = False


def member_matching(term: str) -> Q:
    """Members whose email starts with ``term`` (any case) or whose reference is ``term``."""
    return Q(email__istartswith_range=term) | Q(external_ref=term)


def member_ids_matching(term: str) -> tuple[list[int], bool]:
    """``(ids, cut)``: the first ``MATCH_LIMIT`` of those members, and whether there are more."""
    return first_ids(Member.objects.filter(member_matching(term)), MATCH_LIMIT)


def account_ids_matching(term: str) -> tuple[list[int], bool]:
    """``(ids, cut)``: accounts of those members, or whose remote id is ``term`` (at most
    ``MATCH_LIMIT``), and whether the search stopped before all of them. A list filters by these
    ids, not by the members': given a thousand members' ids, PostgreSQL expects them to match as
    many accounts as they are and walks the list's order index through all of them (1,000,000
    accounts: 280-560 ms, against 5-10 ms for the ids)."""
    members, members_cut = member_ids_matching(term)
    matching = Q(member_id__any_of=members) | Q(external_id=term)
    ids, cut = first_ids(Account.objects.filter(matching), MATCH_LIMIT)
    return ids, members_cut or cut


def member_list_matching(term: str) -> Q:
    """The member list's search: every member it finds, as their ids when they are at most
    ``IDS_FIRST``. The list is sorted by date: with the condition itself, PostgreSQL walked
    the date index through every member made after the matches (a beginning 11,111 of 500,000
    emails share, made together: 98 ms, against 3 ms for their ids and 16 ms for the page by id).
    A term more members share matches often enough along the date index."""
    ids, more = first_ids(Member.objects.filter(member_matching(term)), IDS_FIRST)
    return member_matching(term) if more else Q(pk__any_of=ids)


def operation_list_matching(term: str) -> Found:
    """The operation list's search: an operation's id, or the operations of the accounts a term
    finds, as their ids when they are at most ``IDS_FIRST``. Given the accounts' ids, PostgreSQL
    expected each to have 15 operations and walked the list's order index past every younger one
    (5,000,000 operations, the thousand old accounts of a broad search: 7.0 s by date, 1.2 s by
    id, against 3 ms for the operations' ids by their account index and 4 ms for the page by id)."""
    accounts, cut = account_ids_matching(term)
    ids, more = first_ids(Operation.objects.filter(account_id__any_of=accounts), IDS_FIRST)
    return Found(id_matching(term) | (Q(account_id__any_of=accounts) if more else Q(pk__any_of=ids)), cut)


def id_matching(term: str, field: str = "pk") -> Q:
    """``field`` equal to ``term`` when it is a number (``#12`` too), else nothing."""
    digits = term.removeprefix("#")
    return Q(**{field: int(digits)}) if digits.isascii() and digits.isdigit() and len(digits) < 19 else Q(pk__in=[])


def cut_sentence(term: str) -> str:
    return (f"“{term}” matches more than the search reads at once ({MATCH_LIMIT:,}): the list shows only "
            "what it read, and selecting all of it takes only that. Type more of the email, or all of it, "
            "to narrow the search.")


class IndexedSearchMixin:
    """``search_filter(term)`` is the ``Q`` of what a term finds (terms are not split in words), or
    a ``Found``. The list shows ``search_cut`` (``LargeChangeList``) above its rows.

    ``search_by_id``: a search's rows are listed newest first by id (ids are given out as rows
    are made), which the ids' own index answers in order. By date, PostgreSQL walked the date
    index through every account to find the thousand a search found (177 ms at 1,000,000
    accounts, against 0.1 ms by id). A sort the person chose from the list's headers still comes
    first."""

    search_by_id = False

    def search_filter(self, term: str) -> Q | Found:
        raise NotImplementedError

    def get_ordering(self, request):
        if self.search_by_id and request.GET.get(SEARCH_VAR, "").strip():
            return ["-pk"]
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = self.search_filter(term)
        if isinstance(found, Q):
            found = Found(found)
        request.search_cut = cut_sentence(term) if found.cut else ""
        return queryset.filter(found.condition), False
