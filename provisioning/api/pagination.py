from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination

from .ids import parse_id


class PageSizeMixin:
    """``?page_size=`` from 1 to 200 (default 50); anything else is a 400 (DRF would silently
    use the default)."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class Pagination(PageSizeMixin, PageNumberPagination):
    """``?page=N`` (from 1; past the end: 404, saying how many pages there are; not a page
    number, 0 included: 400) and ``?page_size=``.

    Lists are ordered newest first. For the lists that grow without bound (accounts,
    operations), ``CursorPagination``.
    """

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({self.page_query_param: ["A page number (1, 2, ...)."]})
        # DRF's "Invalid page." said neither why nor what there is (the count is the one the
        # page itself would run)
        if int(raw) > paginator.num_pages:
            pages = paginator.num_pages
            raise NotFound(f"There is no page {raw} of this list: it has {pages} page{'s' if pages > 1 else ''}.")
        return raw

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class NewestFirstCursorPagination(PageSizeMixin, CursorPagination):
    """Newest first, by ``?cursor=`` (the opaque value of the ``next`` and ``previous`` links; a
    cursor that is not one is a 404) and ``?page_size=``; no ``count``.

    For the lists of millions of rows: every page, however deep, is an index range scan from the
    cursor's position, where numbered pages would ``OFFSET`` past every row before them and count
    them all.

    The position is the ``id`` (newest first, as ids are given in order): DRF's cursor keeps the
    value of its first ordering field only, and steps over the rows that share it by an offset,
    which it caps at 1,000. The rows of one batch share their ``created_at``: ordered by it, a
    batch of more than 1,000 gave the same page again and again, and never its last rows.
    """

    ordering = ("-id",)
    # DRF's "Invalid cursor" said nothing of where a cursor comes from
    invalid_cursor_message = (
        "This cursor is not one this list gave: start from the list's first page and follow its next links."
    )

    def paginate_queryset(self, queryset, request, view=None):
        """A client of the numbered pages these lists had before v1.2 asking for a page beyond the
        first is told to follow ``next`` (ignored, ``?page=2`` gave the first page for ever)."""
        page = request.query_params.get("page")
        if page not in (None, "", "1"):
            raise ValidationError({"page": [
                "This list is paged by cursor: follow its next link (?cursor=...), not page numbers."
            ]})
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF checks a cursor's form, not its position: one that is no id (made by hand) is a
        404 like any other cursor that is not one, never a database error."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and parse_id(cursor.position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor
