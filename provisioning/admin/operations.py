"""Operations and their records: what was asked, what happened, every HTTP exchange (redacted).

All of these are read-only: operations are requested from the account and connection pages,
retried (a failed one as a new operation; one waiting to retry or held: now), cancelled or
confirmed (held by the mass-deletion guard) through services; exchange records and secret reads are an audit trail.
An unfinished operation's page refreshes itself every two seconds.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from import_export.admin import ExportMixin

from .. import explain, selectors, services
from ..followups import retry_refusal
from ..models import Account, Batch, ExternalCall, Operation, SecretAccess
from ..states import OPERATION_SPECS, UNFINISHED_OPERATION_STATUSES, OperationStatus
from .batches import report_left_out
from .common import (
    ReadOnlyMixin,
    RequestedByMixin,
    ShownWhenMixin,
    admin_link,
    change_url,
    changelist_url,
    may_request,
    permission_refusal,
    pre,
    pretty_json,
    report_requests,
    requester,
    too_many_selected,
)
from .filters import (
    ConnectionFilter,
    ErrorCodeFilter,
    MethodFilter,
    OperationStatusFilter,
    ProviderFilter,
    StatusClassFilter,
    ViaFilter,
)
from .followups import follow_up, next_step_buttons, suggested_buttons
from .paging import BoundedExportMixin, LargeListMixin
from .resources import FORMATS, OperationResource
from .search import IndexedSearchMixin, id_matching, operation_list_matching

REFRESH_SECONDS = 2
# an operation's page shows its first exchanges; the list of calls has every one
CALLS_SHOWN = 50


def account_status(operation) -> str | None:
    """The status of the operation's account now, when the operation is the account's latest;
    ``None`` for an older one (what it left has changed since: "Done — now waiting for the
    email validation" was said of a provisioning that had led to a captcha) and for a
    connection's operation. A list marks its rows first (``get_changelist_instance``)."""
    latest = getattr(operation, "is_accounts_latest", None)
    if latest is None:
        latest = selectors.operation_is_accounts_latest(operation)
    return operation.account.status if latest else None


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Records nobody edits in the admin; they can be viewed by those with the view permission."""


class ExchangeWordsMixin:
    """An HTTP exchange's time and error as the list, its page and an operation's page say them."""

    @admin.display(description="took", ordering="duration_ms")
    def took(self, obj):
        return f"{obj.duration_ms}\u00a0ms"  # "12 ms" on one line in a narrow column

    @admin.display(description="error")
    def error_display(self, obj):
        """The error in words, with what was recorded below when it says more ("—": none)."""
        if not obj.error:
            return "—"
        words = explain.call_error_summary(obj.error)
        if words == obj.error:
            return words
        return format_html('{}<div class="help">Recorded: {}</div>', words, obj.error)


class ExternalCallInline(ExchangeWordsMixin, ReadOnlyMixin, admin.TabularInline):
    """The operation's HTTP exchanges in order, one line each; headers and bodies fold out."""

    model = ExternalCall
    fields = ("attempt", "exchange", "took", "provider_request_id", "error_display")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "HTTP exchange"
    verbose_name_plural = f"HTTP exchanges (redacted): the first {CALLS_SHOWN}, every one in the list of calls"

    @staticmethod
    def shown(queryset, operation):
        """The first ``CALLS_SHOWN`` exchanges of ``operation`` (a subquery: no extra query)."""
        first = ExternalCall.objects.filter(operation=operation).order_by("created_at", "id").values("pk")[:CALLS_SHOWN]
        return queryset.filter(pk__in=first)

    @admin.display(description="exchange")
    def exchange(self, obj):
        return format_html(
            '{} {} → <strong>{}</strong><details class="provisioning-technical"><summary>headers and bodies</summary>'
            "<h4>request headers</h4>{}<h4>request body</h4>{}<h4>response body</h4>{}</details>",
            obj.method,
            obj.url,
            obj.status_code or "no answer",
            pretty_json(obj.request_headers),
            pre(obj.request_body),
            pre(obj.response_body),
        )


@admin.register(Operation)
class OperationAdmin(
    ShownWhenMixin, RequestedByMixin, LargeListMixin, IndexedSearchMixin, BoundedExportMixin, ExportMixin, ReadOnlyAdmin
):
    list_display = (
        "id",
        "kind",
        "status_badge",
        "account_and_connection",
        "outcome_short",
        "created_short",
    )
    list_select_related = ("connection", "account__member", "account__connection")
    list_filter = (OperationStatusFilter, "kind", ProviderFilter, ("connection", ConnectionFilter), ErrorCodeFilter,
                   ("created_at", admin.DateFieldListFilter))
    # what a search finds: search_filter (indexed lookups only)
    search_fields = ("id", "account__member__email", "account__external_id")
    search_help_text = "An operation's id, or a member's email (or its beginning), reference or id at the provider."
    search_by_id = True
    sortable_by = ("id", "created_short")  # others would sort millions of rows
    inlines = [ExternalCallInline]
    actions = ["retry_operations", "cancel_operations", "confirm_operations"]
    fieldsets = (
        (None, {"fields": (
            "kind", "status_badge", "account_link", "connection_link", "batch_link", "requested_by_words",
        )}),
        ("Input", {"fields": ("input_display", "secret_input_display")}),
        ("Outcome", {"fields": ("outcome_display", "result_display", "links", "error_display")}),
        (
            "Progress",
            {
                "fields": (
                    "attempts_display",
                    "next_attempt",
                    "retries_stop_at",
                    "taken_over_at",
                    "created_at",
                    "started_at",
                    "finished_at",
                )
            },
        ),
    )
    readonly_fields = (
        "kind",
        "status_badge",
        "account_link",
        "connection_link",
        "batch_link",
        "requested_by_words",
        "input_display",
        "secret_input_display",
        "outcome_display",
        "result_display",
        "links",
        "error_display",
        "attempts_display",
        "next_attempt",
        "retries_stop_at",
        "taken_over_at",
        "created_at",
        "started_at",
        "finished_at",
    )
    # rows that would only say "—" for this operation (most have no batch, input, links or
    # error), and "Progress" rows that mean something only while it is in some states (a
    # finished one showed "Retry deadline" and "Lease expires at: —")
    shown_when = {
        "batch_link": lambda operation: operation.batch_id,
        "input_display": lambda operation: operation.input,
        "secret_input_display": lambda operation: operation.secret_input,
        "links": lambda operation: explain.result_links(operation.result),
        "error_display": lambda operation: operation.error_code,
        "next_attempt": lambda operation: operation.status == OperationStatus.WAITING_RETRY,
        "retries_stop_at": lambda operation: operation.status in UNFINISHED_OPERATION_STATUSES,
        "taken_over_at": lambda operation: operation.status == OperationStatus.RUNNING,
    }
    change_form_template = "admin/provisioning/operation/change_form.html"
    resource_classes = [OperationResource]  # exported without input, result or error (resources.py)
    formats = FORMATS

    def search_filter(self, term):
        return operation_list_matching(term)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        latest = selectors.operations_latest_of_their_accounts(changelist.result_list)
        for operation in changelist.result_list:
            operation.is_accounts_latest = operation.pk in latest
        return changelist

    def get_inlines(self, request, obj):
        # an operation that sends nothing (a closing recorded by staff) has no exchanges to list
        if obj is not None and not OPERATION_SPECS[obj.kind].calls_provider:
            return []
        return super().get_inlines(request, obj)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, ExternalCallInline) and obj is not None:
            kwargs["queryset"] = inline.shown(kwargs["queryset"], obj)
        return kwargs

    @admin.display(description="account")
    def account_link(self, obj):
        if not obj.account_id:
            return "— (the connection)"
        # whole on the operation's page (the list's column cuts it: account_and_connection)
        return format_html('<a href="{}">#{} {}</a>', change_url(obj.account), obj.account_id, obj.account.member.email)

    @admin.display(description="connection")
    def connection_link(self, obj):
        return admin_link(obj.connection)

    @admin.display(description="batch")
    def batch_link(self, obj):
        return admin_link(obj.batch) if obj.batch_id else "—"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return explain.operation_badge(obj, account_status(obj))

    @admin.display(description="account, connection")
    def account_and_connection(self, obj):
        connection = explain.cut(obj.connection, "short")
        if not obj.account_id:
            return format_html('— (the connection)<div class="provisioning-quiet">{}</div>', connection)
        text = f"#{obj.account_id} {obj.account.member.email}"
        return format_html('<a href="{}" class="provisioning-cut provisioning-cut-short" title="{}">{}</a>'
                           '<div class="provisioning-quiet">{}</div>', change_url(obj.account), text, text, connection)

    @admin.display(description="created", ordering="created_at")
    def created_short(self, obj):
        return explain.short_time(obj.created_at)

    @admin.display(description="outcome")
    def outcome_short(self, obj):
        sentence = explain.operation_outcome_sentence(obj, account_status(obj)) or selectors.operation_waiting_sentence(obj)
        if not sentence:
            return "—"
        return explain.cut(sentence)

    @admin.display(description="what happened")
    def outcome_display(self, obj):
        sentence = explain.operation_outcome_sentence(obj, account_status(obj))
        if not sentence and selectors.operation_waiting_sentence(obj):  # said once, at the top of the page
            sentence = "Not finished yet: why it waits, and until when, is at the top of this page."
        return format_html('<p class="provisioning-sentence">{}</p>', sentence) if sentence else "—"

    @admin.display(description="attempts")
    def attempts_display(self, obj):
        # retries end at the connection's retry horizon (retries_stop_at below); max_attempts only
        # guards against a worker that keeps dying mid-operation: not a count staff wait on
        return str(obj.attempts)

    @admin.display(description="next attempt at")
    def next_attempt(self, obj):
        return obj.next_attempt_at or "—"

    @admin.display(description="retries stop at")
    def retries_stop_at(self, obj):
        # the connection's retry horizon from the first attempt, pushed on by the time held
        return obj.retry_deadline or "—"

    @admin.display(description="if its worker stops, taken over at")
    def taken_over_at(self, obj):
        return obj.lease_expires_at or "—"

    @admin.display(description="input")
    def input_display(self, obj):
        return explain.sentence_with_details(explain.values_sentence(obj.input), obj.input)

    @admin.display(description="secret input")
    def secret_input_display(self, obj):
        keys = sorted(obj.secret_input)
        return f"{', '.join(keys)} (encrypted, not shown)" if keys else "—"

    @admin.display(description="result")
    def result_display(self, obj):
        return explain.sentence_with_details(explain.result_sentence(obj.result), obj.result)

    @admin.display(description="links")
    def links(self, obj):
        """Links in the result (a login link's redirect URI), ready to open."""
        urls = explain.result_links(obj.result)
        if not urls:
            return "—"
        names = [explain.field_name(key) for key, _ in urls]
        expired = explain.result_expired_at(obj.result)
        if expired is not None:  # not a link to hand on: it would show the member an error
            return format_html(
                '{}<div class="help">Expired at {}: request a new {} to send one.</div>',
                format_html_join(mark_safe("<br>"), "{}: {}", zip(names, (url for _, url in urls))),
                explain.full_time(expired), obj.get_kind_display(),
            )
        return format_html_join(
            mark_safe("<br>"), '{}: <a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            ((name, url, url) for name, (_, url) in zip(names, urls)),
        )

    @admin.display(description="error")
    def error_display(self, obj):
        if not obj.error_code:
            return "—"
        if obj.status == OperationStatus.FAILED:  # "what happened" above already says it in words
            return explain.technical_details(obj.error) or "—"
        return explain.sentence_with_details(explain.operation_error_sentence(obj), obj.error, bad=True)

    # --- retry and cancel, through services --------------------------------------------------
    def has_retry_permission(self, request):
        """Offer retry, cancel and confirm to whoever may request some kind of operation; each
        operation is then checked against the permission of its own kind (``may_request``)."""
        return any(
            request.user.has_perm(permission)
            for permission in {spec.permission for spec in OPERATION_SPECS.values()}
        )

    @admin.action(
        description="Retry the selected operations (failed: as new ones; waiting or held: now)",
        permissions=["retry"],
    )
    def retry_operations(self, request, queryset):
        self._each(request, queryset, services.operation_retry, "Retry")

    @admin.action(description="Cancel the selected queued, waiting or held operations", permissions=["retry"])
    def cancel_operations(self, request, queryset):
        self._each(request, queryset, services.operation_cancel, "Cancel")

    @admin.action(description="Confirm the selected operations awaiting confirmation", permissions=["retry"])
    def confirm_operations(self, request, queryset):
        self._each(request, queryset, services.operation_confirm, "Confirm")

    def _each(self, request, queryset, service, label):
        if too_many_selected(request, queryset, label=label):
            return
        done, refused = [], []
        for operation in queryset.select_related("account", "connection"):
            if not may_request(request.user, operation.kind):
                refused.append((operation, "you may not request this kind of operation"))
                continue
            try:
                done.append(service(operation=operation, requested_by=requester(request)))
            except services.ServiceError as exc:
                refused.append((operation, exc.message))
        report_requests(request, label=label, requested=done, refused=refused)

    def lookup_allowed(self, lookup, value, request=None):
        # the batch page links to its operations
        return lookup in ("batch", "batch__id__exact") or super().lookup_allowed(lookup, value, request)

    def get_urls(self):
        view = self.admin_site.admin_view(self.retry_or_cancel_view)
        return [
            path("<path:object_id>/retry/", view, {"verb": "retry"}, name="provisioning_operation_retry"),
            path("<path:object_id>/cancel/", view, {"verb": "cancel"}, name="provisioning_operation_cancel"),
            path("<path:object_id>/confirm/", view, {"verb": "confirm"}, name="provisioning_operation_confirm"),
            *super().get_urls(),
        ]

    def retry_or_cancel_view(self, request, object_id, verb):
        services_by_verb = {
            "retry": services.operation_retry,
            "cancel": services.operation_cancel,
            "confirm": services.operation_confirm,
        }
        operation = self.get_object(request, unquote(object_id))
        if operation is None:
            raise Http404
        if not may_request(request.user, operation.kind):
            doing = {"retry": "Retrying", "cancel": "Cancelling", "confirm": "Confirming"}[verb]
            raise permission_refusal(f"{doing} “{operation.get_kind_display()}”", OPERATION_SPECS[operation.kind].permission)
        refusal = retry_refusal(operation) if verb == "retry" else None
        if refusal is not None:  # the page offers what can help instead (services refuse the retry too)
            messages.warning(request, refusal)
            return redirect(change_url(operation))
        if request.method == "POST":
            try:
                result = services_by_verb[verb](operation=operation, requested_by=requester(request))
            except services.ServiceError as exc:
                messages.error(request, exc.message)
                return redirect(change_url(operation))
            messages.success(request, self.verb_done_message(verb, operation, result))
            return redirect(change_url(result))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb.title()} {operation}?",
            "opts": self.opts,
            "object": operation,
            "verb": verb,
            "sentence": selectors.operation_waiting_sentence(operation),
            "media": self.media,
        }
        return TemplateResponse(request, "admin/provisioning/operation/confirm_verb.html", context)

    @staticmethod
    def verb_done_message(verb, operation, result) -> str:
        if verb == "retry" and result.pk != operation.pk:
            return f"Retry requested: this is the new operation, #{result.pk}."
        if verb == "retry":
            return "Sent now: this page follows it."
        if verb == "confirm":
            return "Confirmed: the operation is queued."
        return "Cancelled."

    def change_view(self, request, object_id, form_url="", extra_context=None):
        operation = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if operation is not None:
            allowed = may_request(request.user, operation.kind)
            cannot_help = follow_up(operation)
            status = operation.status
            awaiting_confirmation = status == OperationStatus.HELD and operation.needs_confirmation
            retry_label = "Retry" if status == OperationStatus.FAILED else "Retry now"
            extra_context.update(
                # held: nothing moves until a probe, a lift or a person, so the page need not refresh
                refresh_seconds=None if operation.finished or status == OperationStatus.HELD else REFRESH_SECONDS,
                waiting_sentence=selectors.operation_waiting_sentence(operation),
                retry_label=retry_label,
                retry_url=reverse("admin:provisioning_operation_retry", args=[operation.pk])
                if allowed and not awaiting_confirmation and cannot_help is None
                and status in (OperationStatus.FAILED, OperationStatus.WAITING_RETRY, OperationStatus.HELD)
                else None,
                cancel_url=reverse("admin:provisioning_operation_cancel", args=[operation.pk])
                if allowed and status in services.CANCELLABLE_STATUSES
                else None,
                confirm_url=reverse("admin:provisioning_operation_confirm", args=[operation.pk])
                if allowed and awaiting_confirmation
                else None,
                # retrying cannot help: what can, instead (see followups.RETRY_CANNOT_HELP)
                follow_up_sentence=cannot_help.sentence if cannot_help else "",
                follow_up_buttons=suggested_buttons(operation, request.user) if cannot_help
                else next_step_buttons(operation, request.user),
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ExternalCall)
class ExternalCallAdmin(ExchangeWordsMixin, LargeListMixin, IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("created_short", "exchange", "answer", "took", "connection_short", "operation_link", "error_short")
    list_select_related = ("connection", "operation")
    list_filter = (ProviderFilter, ("connection", ConnectionFilter), MethodFilter, StatusClassFilter,
                   ("created_at", admin.DateFieldListFilter))
    search_fields = ("operation__id",)
    search_help_text = "An operation's id: its exchanges."
    sortable_by = ("created_short",)  # others would sort millions of rows
    fields = (
        "operation_link",
        "connection",
        "attempt",
        "method",
        "url_display",
        "answer",
        "took",
        "provider_request_id",
        "error_display",
        "request_headers_display",
        "request_body_display",
        "response_body_display",
        "answered_at",
    )
    readonly_fields = fields

    def search_filter(self, term):
        return id_matching(term, "operation_id")

    @admin.display(description="at", ordering="created_at")
    def created_short(self, obj):
        return explain.short_time(obj.created_at)

    @admin.display(description="request", ordering="url")
    def exchange(self, obj):
        # the path: the host is the connection's, in the next column (the whole URL in the title)
        parts = urlsplit(obj.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return explain.cut(f"{obj.method} {path or obj.url}", "long", title=f"{obj.method} {obj.url}")

    @admin.display(description="answer", ordering="status_code")
    def answer(self, obj):
        return obj.status_code or "no answer"

    @admin.display(description="connection", ordering="connection__name")
    def connection_short(self, obj):
        return explain.cut(obj.connection, "short")

    @admin.display(description="error", ordering="error")
    def error_short(self, obj):
        if not obj.error:
            return "—"
        return explain.cut(explain.call_error_summary(obj.error), title=obj.error)

    @admin.display(description="operation")
    def operation_link(self, obj):
        return admin_link(obj.operation, f"#{obj.operation_id}")

    @admin.display(description="URL")
    def url_display(self, obj):
        return obj.url

    @admin.display(description="answered at")
    def answered_at(self, obj):
        return explain.full_time(obj.created_at)

    @admin.display(description="request headers")
    def request_headers_display(self, obj):
        return pretty_json(obj.request_headers)

    @admin.display(description="request body")
    def request_body_display(self, obj):
        return pre(obj.request_body)

    @admin.display(description="response body")
    def response_body_display(self, obj):
        return pre(obj.response_body)


@admin.register(SecretAccess)
class SecretAccessAdmin(ReadOnlyAdmin):
    list_display = ("read_at", "user", "account_link", "where", "keys_display", "ip_address")
    list_select_related = ("user", "account__member", "account__connection")
    list_filter = (ViaFilter,)
    search_fields = ("user__username", "member_email", "=account__id", "ip_address")
    date_hierarchy = "created_at"
    actions = ["export_csv"]
    fields = ("read_at", "user", "account_link", "where", "keys_display", "ip_address", "user_agent")
    readonly_fields = fields

    @admin.display(description="read at", ordering="created_at")
    def read_at(self, obj):
        return explain.full_time(obj.created_at)

    @admin.display(description="where")
    def where(self, obj):
        return explain.via_words(obj.via)

    @admin.display(description="account")
    def account_link(self, obj):
        if obj.account is None:
            return f"{obj.member_email} @ {obj.connection_name} (the account was deleted since)"
        return admin_link(obj.account)

    @admin.display(description="secrets read")
    def keys_display(self, obj):
        return explain.secret_names(obj.keys)

    @admin.action(description="Export the selected as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        from .audit import export_secret_accesses_csv

        return export_secret_accesses_csv(self, request, queryset)


PROGRESS_STEP = 5  # the bar's segments are CSS classes of 5 % steps (no inline style: a CSP comes)


def progress_segments(counts: dict, total: int) -> list[tuple[str, int, int]]:
    """``(status, n, width)`` per status, widths in steps of ``PROGRESS_STEP`` % summing to 100."""
    segments, shown, running = [], 0, 0
    for status in ("succeeded", "failed", "cancelled", "running", "waiting_retry", "held", "queued"):
        n = counts.get(status, 0)
        if not n or not total:
            continue
        running += n
        edge = round(100 * running / total / PROGRESS_STEP) * PROGRESS_STEP
        segments.append((status, n, edge - shown))
        shown = edge
    return segments


@admin.register(Batch)
class BatchAdmin(ShownWhenMixin, RequestedByMixin, LargeListMixin, ReadOnlyAdmin):
    """Batches are made by the bulk provisioning actions (members, accounts) only; their page
    shows the progress, refreshing itself, the failures and "Retry the failed ones"."""

    list_display = ("id", "connection", "requested_by_words", "created_at", "progress")
    list_select_related = ("connection",)
    list_filter = (("connection", ConnectionFilter),)
    fields = ("connection", "requested_by_words", "created_at", "left_out_words", "operations_link")
    readonly_fields = fields
    # "Not sent" only where some of the members given were not (a batch of the list's actions has none)
    shown_when = {"left_out_words": lambda batch: batch.left_out.get("message")}
    change_form_template = "admin/provisioning/batch/change_form.html"

    @admin.display(description="not sent")
    def left_out_words(self, obj):
        return obj.left_out.get("message")

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        progress = selectors.batches_progress(changelist.result_list)  # the page's, in one query
        for batch in changelist.result_list:
            batch.progress = progress[batch.pk]
        return changelist

    @admin.display(description="progress")
    def progress(self, obj):
        progress = obj.progress
        done, total = progress["done"], progress["total"]
        return format_html(
            '<progress max="{}" value="{}"></progress> {} of {} finished ({}%)', total or 1, done, done, total, progress["percent"]
        )

    @admin.display(description="operations")
    def operations_link(self, obj):
        return format_html('<a href="{}">every operation of this batch</a>', changelist_url(Operation, batch__id__exact=obj.pk))

    def has_retry_failed_permission(self, request, batch):
        return self.has_view_permission(request, batch) and request.user.has_perm("provisioning.provision_account")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/retry-failed/",
                self.admin_site.admin_view(self.retry_failed_view),
                name="provisioning_batch_retry_failed",
            ),
            *super().get_urls(),
        ]

    def retry_failed_view(self, request, object_id):
        """POST: provision again, into this batch, the accounts whose provisioning failed."""
        batch = self.get_object(request, unquote(object_id))
        if batch is None:
            raise Http404
        if not self.has_retry_failed_permission(request, batch):
            raise PermissionDenied
        if request.method != "POST":
            return redirect(change_url(batch))
        try:
            requested, preview = services.batch_retry_failed(batch=batch, requested_by=requester(request))
        except services.ServiceError as exc:
            messages.error(request, exc.message)
        else:
            if requested:
                messages.success(request, f"Provisioning {len(requested)} failed account{'s' if len(requested) != 1 else ''} again in this batch.")
            else:
                messages.info(request, "Nothing to retry: no failed provisioning that can start again.")
            if preview is not None:
                report_left_out(request, preview)
        return redirect(change_url(batch))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if batch is not None:
            progress = selectors.batch_progress(batch)
            counts = progress["counts"]
            operations = changelist_url(Operation, batch__id__exact=batch.pk)
            extra_context.update(
                progress=progress,
                segments=[
                    (status, explain.OPERATION_STATUS_WORDS[status][0], n, width,
                     f"{operations}&{urlencode({'status__exact': status})}")
                    for status, n, width in progress_segments(counts, progress["total"])
                ],
                failures_url=f"{operations}&status__exact=failed" if counts.get("failed") else None,
                awaiting_a_person=explain.batch_awaiting_sentence(selectors.batch_accounts_awaiting_a_person(batch)),
                needs_person_url=changelist_url(Account, needs_person="yes"),
                retry_failed_url=reverse("admin:provisioning_batch_retry_failed", args=[batch.pk])
                if counts.get("failed") and self.has_retry_failed_permission(request, batch)
                else None,
                refresh_seconds=None if progress["finished"] else REFRESH_SECONDS,
            )
        return super().change_view(request, object_id, form_url, extra_context)
