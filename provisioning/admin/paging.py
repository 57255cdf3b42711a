"""Lists of big tables (millions of operations and calls, a million accounts) that answer at once.

Django's changelist counts its rows twice per page (``COUNT(*)`` of the filtered list for the
paginator, and of the whole table for "N total"): on PostgreSQL that reads every row. Here the
paginator reads the first page first (a list that fits on it is counted from it), then counts
exactly up to ``COUNT_BOUND`` rows (``SELECT COUNT(*) FROM (... LIMIT n)``,
served by an index), and beyond it takes the planner's estimate (``EXPLAIN``: table statistics,
``pg_class.reltuples`` for a list without filters), which the list then shows as "about N" rows.
The whole-table count is not shown (``show_full_result_count = False``). Pages stay numbered; a
last page reached through a high estimate is just empty. Only the first ``MAX_PAGES`` are: a page
is read with ``OFFSET``, which walks every row before it (page 49,999 of the 5,000,000 operations
took 17.6 s, and the list linked to it as its last page). A page asked for beyond them shows the
last of them, and the list says how to reach the other rows.

Each row's checkbox for the actions is written directly, not rendered through Django's form widget
templates: that took about a fifth of a page of 100 rows (50 of 260 ms on a 2-core machine); nor is
each row's link reversed, then resolved again to add the list's filters to it. And the encrypted
fields of the rows (and of the rows they are listed with) are not read: no list shows a secret,
and each one read is decrypted.
"""

from __future__ import annotations

import json

from django.contrib.admin import ShowFacets, helpers
from django.contrib.admin.views.main import IGNORED_PARAMS, PAGE_VAR, ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

from .. import selectors
from ..fields import encrypted_paths

COUNT_BOUND = 1000
# the pages a big list numbers: 5,000 rows at 100 a page (on the million-account data set, page 50
# of the big lists took 87-161 ms, and page 100 of the operations 150-260 ms from one minute to
# the next, close to the admin's 300 ms)
MAX_PAGES = 50


def planner_estimate(queryset) -> int | None:
    """The rows PostgreSQL expects ``queryset`` to return (``None`` on another database)."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def list_count(queryset, bound: int = COUNT_BOUND) -> tuple[int, bool]:
    """``(n, exact)``: the rows of ``queryset``, counted up to ``bound``, estimated beyond."""
    counted = queryset.order_by().values("pk")[: bound + 1].count()
    if counted <= bound:
        return counted, True
    estimate = planner_estimate(queryset)
    if estimate is None:  # another database: small tables, an exact count is cheap
        return queryset.count(), True
    return max(estimate, counted), False


class EstimatingPaginator(Paginator):
    """A paginator whose ``count`` is exact up to ``COUNT_BOUND`` and estimated beyond.

    It reads the list's first page (and one row more) before counting: a list that fits on it is
    counted from what was read, and read once. A filter that few rows match makes the database
    walk the whole table to find them, and Django's changelist walked it twice, to count them and
    then to list them (on the million-account data set, the members with no account, before they
    were marked: 348 and 388 ms; the calls by DELETE: 336 ms in all). A later page is counted
    without it (``reads_first_page``): read with ``OFFSET``, it walks those rows again anyway."""

    reads_first_page = True

    @cached_property
    def _head(self) -> list:
        """The first page's rows and one more, in the list's order."""
        return list(self.object_list[: self.per_page + 1])

    @property
    def whole(self) -> list | None:
        """Every row of the list, when it fits on its first page (read for a first page), else ``None``."""
        if not self.reads_first_page:
            return None
        return self._head if len(self._head) <= self.per_page else None

    @cached_property
    def _counted(self) -> tuple[int, bool]:
        if self.whole is not None:
            return len(self.whole), True
        return list_count(self.object_list)

    def page(self, number):
        number = self.validate_number(number)
        if number == 1:  # read already
            return self._get_page(self._head[: self.per_page], number, self)
        return super().page(number)

    @cached_property
    def count(self) -> int:
        return self._counted[0]

    @property
    def estimated(self) -> bool:
        """The count is the planner's estimate: the list says "about" (templates/admin/pagination.html)."""
        return not self._counted[1]

    @cached_property
    def _all_pages(self) -> int:
        return Paginator.num_pages.func(self)

    @cached_property
    def num_pages(self) -> int:
        return min(self._all_pages, MAX_PAGES)

    @property
    def pages_capped(self) -> bool:
        """More rows than the numbered pages hold: the list says how to reach them."""
        return self._all_pages > MAX_PAGES


class LargeChangeList(ChangeList):
    """A list's rows without their encrypted fields (nor those of the rows listed with them), and
    each row's link to its page carrying the list's filters, without a URL reversed and resolved
    per row."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Django adds the list's filters to each row's link after resolving that link (in case it
        # is the list itself, whose filters would be nested): a row's page never is, so the link
        # takes them as they are, and Django's step, given none, only re-encodes the same query.
        self.row_link_query, self.preserved_filters = self.preserved_filters, ""

    @cached_property
    def _change_url_around_id(self) -> tuple[str, str]:
        """The row's page URL, reversed once per list: what comes before an integer id and after."""
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=("0",),
                      current_app=self.model_admin.admin_site.name)
        before, _, after = url.rpartition("/0/")
        return f"{before}/", f"/{after}"

    def url_for_result(self, result) -> str:
        pk = getattr(result, self.pk_attname)
        if isinstance(pk, int):
            before, after = self._change_url_around_id
            url = f"{before}{pk}{after}"
        else:
            url = super().url_for_result(result)
        return f"{url}?{self.row_link_query}" if self.row_link_query else url

    def get_results(self, request):
        self.page_num = min(self.page_num, MAX_PAGES)  # beyond them: the last numbered page
        super().get_results(request)
        if not self.multi_page and getattr(self.paginator, "whole", None) is not None:
            # Django lists a list of one page with a fresh query: the rows the paginator read
            self.result_list = self.paginator.whole
        if not self.narrowed:
            # the whole list: the search bar says "N results (Show all)" when the list's count
            # differs from the whole table's, which is not counted here (it would be compared
            # with None, and offer every list to show all of itself)
            self.full_result_count = self.result_count

    @property
    def narrowed(self) -> bool:
        """A search or a filter narrows the list (one of its choices, or a field in the URL)."""
        return bool(self.query) or any(name not in IGNORED_PARAMS for name in self.filter_params)

    def get_ordering_field(self, field_name):
        # a column the list does not offer to sort by (``sortable_by``) is not sorted by from a
        # URL either (``?o=3``): it would sort millions of rows (the accounts by status: 357 ms,
        # the operations by kind: 566 ms)
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_queryset(self, request, exclude_parameters=None):
        related = self.list_select_related if isinstance(self.list_select_related, (list, tuple)) else ()
        queryset = super().get_queryset(request, exclude_parameters).defer(*encrypted_paths(self.model, related))
        # a search that stopped before all it matches says so above the rows (IndexedSearchMixin)
        self.search_cut = getattr(request, "search_cut", "")
        return queryset


# the most rows an export of a big list writes: django-import-export builds the whole file inside
# the request, at about 1 ms a row on a 2-core machine (10,000 rows: 10-13 s; the web server stops
# a request at 30 s)
EXPORT_MAX_ROWS = 10_000


class BoundedExportMixin:
    """For the exports (django-import-export's ``ExportMixin``) of big lists: one that would hold
    more than ``EXPORT_MAX_ROWS`` rows is refused with a sentence saying how to narrow it, rather
    than running past the web server's timeout (all 5,000,000 operations: about an hour, and the
    memory of the whole file)."""

    def get_export_data(self, file_format, request, queryset, **kwargs):
        _, more = selectors.bounded_count(queryset, EXPORT_MAX_ROWS)
        if more:  # the export page shows it above the form (ValueError)
            api_list = reverse(f"api:{self.opts.model_name}-list")
            raise ValueError(
                f"This export would hold more than {EXPORT_MAX_ROWS:,} {self.opts.verbose_name_plural}, the most one "
                f"file holds. Narrow the list first with its filters or a search (one connection, one status, one "
                f"day), then export again. To take every one, the API lists them page by page ({api_list})."
            )
        return super().get_export_data(file_format, request, queryset, **kwargs)


class LargeListMixin:
    """For ModelAdmins of tables that grow without bound: no exact count beyond a bound."""

    paginator = EstimatingPaginator
    show_full_result_count = False
    # no "Show counts" beside the filters' choices: each choice's count reads every row it
    # matches (on the 1,000,000-account data set, the operations list with them had not answered
    # after 10 minutes, holding a web worker all along)
    show_facets = ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return LargeChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        paginator.reads_first_page = request.GET.get(PAGE_VAR, "1") == "1"
        return paginator

    def action_checkbox(self, obj):
        """Django's checkbox, the same HTML, without a template rendered per row."""
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           helpers.ACTION_CHECKBOX_NAME, str(obj.pk), label)
