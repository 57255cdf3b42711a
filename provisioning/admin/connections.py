"""Connections: configured provider endpoints, with write-only credentials, health and quota.

Adding a connection starts with choosing its provider (the credential inputs depend on it);
each credential is a password input that is never filled in, and left blank keeps its value.
Health checks and reconciliations are requested through services, like every operation.
A quarantined connection says so in the list and on its page (since when, why, next probe);
staff with ``manage_connection`` can quarantine it by hand or lift a quarantine.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Value
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from .. import explain, selectors, services
from ..models import Account, Batch, Connection, ExternalCall, Operation
from ..providers import registry
from ..states import OperationKind
from .common import (
    OperationRequestMixin,
    change_url,
    deleted_counts,
    gone_sentence,
    permission_refusal,
    request_each,
    requester,
)
from .filters import ConnectionProviderFilter, HealthFilter
from .forms import connection_form_for, credential_form_fields, setting_form_fields

# accounts a connection's delete page lists, of those that keep it (then "... and N more")
PROTECTED_SHOWN = 20


class QuarantineForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Shown with the connection's state, e.g. \"the provider announced maintenance until 14:00\".",
    )


def connection_request_action(kind: str, description: str):
    def action(modeladmin, request, queryset):
        request_each(request, kind=kind, objects=queryset, target="connection")

    action.__name__ = f"request_{kind}"
    return admin.action(description=description, permissions=["manage"])(action)


@admin.register(Connection)
class ConnectionAdmin(OperationRequestMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "provider_label",
        "state_column",
        "health",
        "quota_usage",
        "limits",
    )
    list_filter = (ConnectionProviderFilter, "enabled", HealthFilter)
    search_fields = ("name", "base_url")
    actions = [
        connection_request_action(OperationKind.HEALTH_CHECK, "Check health now"),
        connection_request_action(OperationKind.RECONCILE, "Reconcile now"),
    ]
    change_form_template = "admin/provisioning/connection/change_form.html"
    quarantine_fields = ("quarantine_display", "failures_in_a_row")
    status_fields = (
        "credentials_display",
        "secret_state_display",
        "health",
        "health_detail",
        "quota_usage",
        "state_display",
        "created_at",
        "updated_at",
    )

    # --- permissions: configuring a connection needs manage_connection too -----------------------
    def has_manage_permission(self, request):
        return request.user.has_perm("provisioning.manage_connection")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self.has_manage_permission(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.has_manage_permission(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.has_manage_permission(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through services, one at a time
        return actions

    # --- the form: credential inputs of the connection's provider --------------------------------
    def provider_kind(self, request, obj=None) -> str | None:
        kind = obj.provider if obj is not None else request.GET.get("provider")
        return kind if kind in registry.all_providers() else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        kind = self.provider_kind(request, obj)
        if kind is not None:
            kwargs["form"] = connection_form_for(kind)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        kind = self.provider_kind(request, obj)
        # a connection's provider is chosen once: its page names it as the lists do ("SnapTrade")
        main = ["name", "provider" if obj is None else "provider_label", "base_url", "enabled"]
        fieldsets = [(None, {"fields": main})]
        if kind is not None:
            fieldsets.append(
                (
                    "Credentials (write-only)",
                    {
                        "fields": credential_form_fields(kind, obj.credentials if obj is not None else None),
                        "description": "Stored encrypted and never shown again."
                        + (" Leave an input blank to keep the current value." if obj is not None else ""),
                    },
                )
            )
        if kind is not None and setting_form_fields(kind):
            fieldsets.append(("Settings", {"fields": setting_form_fields(kind)}))
        fieldsets.append(
            ("Limits", {"fields": ["max_accounts", "requests_per_minute", "max_concurrency", "retry_horizon_hours"]})
        )
        if obj is not None:
            fieldsets.append(("Quarantine", {"fields": list(self.quarantine_fields)}))
            fieldsets.append(("Status", {"fields": list(self.status_fields)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("provider_label", *self.quarantine_fields, *self.status_fields)

    def add_view(self, request, form_url="", extra_context=None):
        """First choose the provider: the credential inputs depend on it."""
        if self.has_add_permission(request) and self.provider_kind(request) is None:
            return self.choose_provider_view(request)
        return super().add_view(request, form_url, extra_context)

    def choose_provider_view(self, request):
        choices = [
            {
                "kind": kind,
                "label": provider.label,
                "credentials": [declared.verbose_name for declared in provider.credential_fields],
                "base_url_example": provider.base_url_example,
            }
            for kind, provider in registry.all_providers().items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Add connection: choose its provider",
            "opts": self.opts,
            "providers": choices,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/provisioning/connection/choose_provider.html", context)

    # --- saving goes through services ------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        changes = form.connection_changes()
        if change:
            saved = services.connection_update(connection=obj, **changes)
        else:
            saved = services.connection_create(**changes)
        form.instance = saved
        obj.pk = saved.pk

    # --- list and page ---------------------------------------------------------------------------
    def get_queryset(self, request):
        limit = selectors.quota_count_limit()
        queryset = selectors.connections_with_quota_used(super().get_queryset(request), limit=limit)
        return queryset.annotate(quota_limit=Value(limit))

    @admin.display(description="calls failed in a row, since the last answer")
    def failures_in_a_row(self, obj):
        # a quarantined connection's probe that got an answer counts again from 0: the
        # quarantine's reason keeps the count that started it
        return obj.consecutive_failures

    @admin.display(description="provider", ordering="provider")
    def provider_label(self, obj):
        return obj.provider_label

    @admin.display(description="state", ordering="quarantined_since")
    def state_column(self, obj):
        if obj.state == "quarantined":
            return format_html(
                '<span title="{}">{} since {}</span>',
                selectors.connection_quarantine_sentence(obj),
                explain.connection_state_badge(obj),
                selectors.clock(obj.quarantined_since),
            )
        pause = selectors.connection_pause_sentence(obj)
        if pause:
            return format_html('{} {}', explain.connection_state_badge(obj),
                               explain.badge(f"paused until {selectors.clock(obj.paused_until)}", explain.WAIT, pause))
        return explain.connection_state_badge(obj)

    @admin.display(description="quarantine")
    def quarantine_display(self, obj):
        sentence = selectors.connection_quarantine_sentence(obj)
        if not sentence:
            pause = selectors.connection_pause_sentence(obj)
            return f"Not quarantined. {pause}." if pause else "Not quarantined: its operations are sent as they come."
        held = obj.operations.filter(status="held", needs_confirmation=False).count()
        return format_html("<strong>{}.</strong> {} operations held.", sentence, held)

    @admin.display(description="health", ordering="health_status")
    def health(self, obj):
        if obj.health_checked_at is None:
            return explain.health_badge(obj)
        return format_html('{} <span class="provisioning-quiet">checked {}</span>', explain.health_badge(obj),
                           explain.short_time(obj.health_checked_at))

    @admin.display(description="accounts used / quota", ordering="quota_used")
    def quota_usage(self, obj):
        used = getattr(obj, "quota_used", None)
        if used is None:
            used = selectors.connection_quota_used(obj)
        shown = f"{used}+" if used == getattr(obj, "quota_limit", None) else used  # counted up to the limit
        return f"{shown} / {obj.max_accounts if obj.max_accounts is not None else 'no limit'}"

    @admin.display(description="limits")
    def limits(self, obj):
        parts = []
        if obj.requests_per_minute:
            parts.append(f"{obj.requests_per_minute}/min")
        if obj.max_concurrency:
            parts.append(f"{obj.max_concurrency} at once")
        return ", ".join(parts) or "none"

    @admin.display(description="credentials set")
    def credentials_display(self, obj):
        """Named as the inputs above name them ("User token", not ``user_token``)."""
        return self._named(obj, obj.credentials_set) or "—"

    @admin.display(description="secrets kept between calls")
    def secret_state_display(self, obj):
        """What the portal obtained from the provider and reuses (e.g. Kandy's domain access token)."""
        return self._named(obj, sorted(obj.secret_state)) or "None"

    @staticmethod
    def _named(obj, keys) -> str:
        provider = registry.all_providers().get(obj.provider)
        declared = {field.name: field.verbose_name for field in provider.credential_fields} if provider else {}
        return ", ".join(capfirst(declared.get(key, key.replace("_", " "))) for key in keys)

    @admin.display(description="what the provider reported")
    def state_display(self, obj):
        return explain.sentence_with_details(explain.result_sentence(obj.provider_state), obj.provider_state)

    # --- operations on the connection ------------------------------------------------------------
    def operation_target(self, obj):
        return {"connection": obj}

    def operation_provider(self, obj):
        return registry.all_providers().get(obj.provider)

    def get_urls(self):
        view = self.admin_site.admin_view(self.quarantine_view)
        return [
            path("<path:object_id>/quarantine/", view, {"lift": False}, name="provisioning_connection_quarantine"),
            path("<path:object_id>/lift-quarantine/", view, {"lift": True},
                 name="provisioning_connection_lift_quarantine"),
            *self.operation_request_urls(),
            *super().get_urls(),
        ]

    def quarantine_buttons(self, request, connection) -> list[tuple[str, str]]:
        if not self.has_manage_permission(request):
            return []
        if connection.quarantined_since is None:
            return [("Quarantine…", reverse("admin:provisioning_connection_quarantine", args=[connection.pk]))]
        buttons = [("Lift quarantine", reverse("admin:provisioning_connection_lift_quarantine", args=[connection.pk]))]
        if not connection.quarantine_manual:
            buttons.append(("Keep quarantined (by hand)…",
                            reverse("admin:provisioning_connection_quarantine", args=[connection.pk])))
        return buttons

    def quarantine_view(self, request, object_id, lift):
        """GET: a confirmation (with a reason to give when quarantining); POST: through services."""
        connection = self.get_object(request, unquote(object_id))
        if connection is None:
            raise Http404
        if not self.has_manage_permission(request):
            raise permission_refusal("Quarantining a connection or lifting its quarantine", "provisioning.manage_connection")
        form = QuarantineForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                if lift:
                    services.connection_quarantine_lift(connection=connection, requested_by=requester(request))
                else:
                    services.connection_quarantine(
                        connection=connection, reason=form.cleaned_data["reason"], requested_by=requester(request)
                    )
            except services.ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    "Quarantine lifted: held operations are released a few at a time." if lift
                    else "Quarantined: its operations are held until a person lifts the quarantine.",
                )
            return redirect(change_url(connection))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Lift the quarantine of' if lift else 'Quarantine'} {connection}?",
            "opts": self.opts,
            "object": connection,
            "lift": lift,
            "form": None if lift else form,
            "sentence": selectors.connection_quarantine_sentence(connection),
            "media": self.media,
        }
        return TemplateResponse(request, "admin/provisioning/connection/quarantine.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        connection = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if connection is not None:
            extra_context["operation_buttons"] = [
                *self.operation_buttons(request, connection),
                *self.quarantine_buttons(request, connection),
            ]
            extra_context["quarantine_sentence"] = selectors.connection_quarantine_sentence(connection)
        return super().change_view(request, object_id, form_url, extra_context)

    # --- deleting goes through services ----------------------------------------------------------
    def get_deleted_objects(self, objs, request):
        protected = []
        for connection in objs:  # the first few of each: a connection may hold a million
            kept = selectors.accounts_kept(connection.accounts.all()).select_related("member").order_by("pk")
            shown = list(kept[:PROTECTED_SHOWN + 1])
            protected += [f"{account} ({explain.account_status_in_sentence(account.status)})"
                          for account in shown[:PROTECTED_SHOWN]]
            if len(shown) > PROTECTED_SHOWN:
                counted, beyond = selectors.bounded_count(kept)
                protected.append(f"… and {counted - PROTECTED_SHOWN:,}{'+' if beyond else ''} more at {connection}")
            if not shown and selectors.connection_too_big_to_delete(connection):
                protected.append(f"More than {selectors.DELETE_OPERATIONS_LIMIT:,} operations at {connection}, with "
                                 "their exchanges with the provider")
        perms_needed = set() if self.has_delete_permission(request) else {self.opts.verbose_name}
        going_with = {model: "connection__in" for model in (Account, Operation, ExternalCall, Batch)}
        return [str(obj) for obj in objs], deleted_counts(self, objs, going_with), perms_needed, protected

    def delete_model(self, request, obj):
        services.connection_delete(connection=obj)

    def render_delete_form(self, request, context):
        refusal = services.connection_delete_refusal(context["object"])
        if refusal is not None:  # what keeps the connection, and what to do (the service's own words)
            context["kept_sentence"] = refusal.message
        else:  # why its failed accounts may go
            context["gone_sentence"] = gone_sentence(context["object"])
        return super().render_delete_form(request, context)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except services.ServiceError as exc:
            messages.error(request, exc.message)
            connection = self.get_object(request, object_id)
            return redirect(change_url(connection) if connection else "admin:provisioning_connection_changelist")
