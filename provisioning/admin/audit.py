"""The audit, for Auditors: who read which secrets, and who changed what in the admin, as CSV.

``Secret accesses`` (SecretAccess, registered in ``operations``) and ``Admin changes`` (Django's
LogEntry, registered here, read-only) each have the action "Export the selected as CSV"; it
needs only the view permission (Auditors have both: migrations 0007 and 0009). Selecting "all"
on the list exports every matching record.
"""

from __future__ import annotations

import csv

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.http import StreamingHttpResponse
from django.utils import timezone

from .common import ReadOnlyMixin


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            # a cell starting with =, +, - or @ is text, not a formula, in a spreadsheet
            yield writer.writerow(["'" + c if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@admin.action(description="Export the selected as CSV", permissions=["view"])
def export_secret_accesses_csv(modeladmin, request, queryset):
    rows = (
        (
            access.created_at.isoformat(),
            access.user.get_username(),
            access.account_id or "deleted",
            access.member_email,
            access.connection_name,
            access.via,
            " ".join(access.keys),
            access.ip_address or "",
            access.user_agent,
        )
        for access in queryset.select_related("user").order_by("created_at", "id").iterator()
    )
    header = ["when", "who", "account", "member", "connection", "via", "secrets read", "from address", "client"]
    return csv_response("secret-accesses", header, rows)


@admin.action(description="Export the selected as CSV", permissions=["view"])
def export_log_entries_csv(modeladmin, request, queryset):
    rows = (
        (
            entry.action_time.isoformat(),
            entry.user.get_username(),
            {1: "added", 2: "changed", 3: "deleted"}.get(entry.action_flag, str(entry.action_flag)),
            entry.content_type.app_label + "." + entry.content_type.model if entry.content_type else "",
            entry.object_id or "",
            entry.object_repr,
            entry.get_change_message(),
        )
        for entry in queryset.select_related("user", "content_type").order_by("action_time", "id").iterator()
    )
    header = ["when", "who", "action", "model", "object id", "object", "change"]
    return csv_response("admin-changes", header, rows)


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every change made through the admin (Django's own log), read-only."""

    list_display = ("action_time", "user", "action_flag", "content_type", "object_repr", "change_message_display")
    # the kinds of record changed: those with entries, not every model of every app (about 40)
    list_filter = ("action_flag", ("content_type", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__username", "object_repr", "object_id")
    date_hierarchy = "action_time"
    list_select_related = ("user", "content_type")
    actions = [export_log_entries_csv]
    fields = ("action_time", "user", "action_flag", "content_type", "object_id", "object_repr", "change_message_display")
    readonly_fields = fields

    @admin.display(description="change")
    def change_message_display(self, obj):
        return obj.get_change_message()
