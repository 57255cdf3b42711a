"""Webhooks in the admin: outbound endpoints (secret shown once, on creation), their deliveries
(read-only, redeliver), the providers' webhooks received, and the connection's ``webhook_url``."""

import json
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from .. import explain, services
from ..services import webhooks as _webhooks  # noqa: F401 (services.webhooks)
from ..models import (
    Connection, InboundWebhook, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEventType,
)
from ..webhook_views import webhook_url
from .common import HeadingMixin, ReadOnlyMixin, changelist_url, pre, pretty_json
from .connections import ConnectionAdmin
from .filters import ConnectionFilter
from .paging import LargeListMixin
from .search import IndexedSearchMixin


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        # in words, with the type its payloads carry: "An account failed (account.failed)"
        choices=[(value, f"{label} ({value})") for value, label in WebhookEventType.choices],
        # the admin's own class for a list of choices: its labels as wide as their words (the
        # admin gives every label of a form 160 px, and cut "connection.health_cha nged" in two)
        widget=forms.CheckboxSelectMultiple(attrs={"class": "radiolist"}),
        help_text="What is sent there. Each event is signed with the endpoint's secret (Standard Webhooks).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "enabled"]
        labels = {"url": "URL"}
        help_texts = {
            "url": "Where the portal sends the events chosen below, by POST: an address on the public internet, "
                   "https:// preferably (private and local addresses are refused unless this deployment allows "
                   "them).",
            "description": "What this endpoint is for, for the next person who reads it.",
            "enabled": "Untick to stop sending; events meanwhile are not kept for it.",
        }

    def clean(self):
        data = super().clean()
        if data.get("url") and data.get("events"):
            try:
                services.webhooks.check_endpoint(url=data["url"], events=data["events"])
            except services.InvalidRequest as exc:
                for field, errors in exc.field_errors.items():
                    self.add_error(field, errors)
        return data


def endpoint_state(endpoint: WebhookEndpoint) -> str:
    """Whether events reach ``endpoint``, and what the portal does next, in words."""
    if not endpoint.enabled:
        if endpoint.disabled_reason:
            return (f"{endpoint.disabled_reason} Fix the receiver, then tick Enabled and save: the deliveries "
                    "still waiting are then sent.")
        return "Disabled: no events are sent or kept for it. Tick Enabled and save to send again."
    if endpoint.failing_since:
        give_up = endpoint.failing_since + timedelta(seconds=settings.PROVISIONING["WEBHOOK_DISABLE_AFTER_SECONDS"])
        return (f"Deliveries have failed since {explain.full_time(endpoint.failing_since)}; each is retried. If "
                f"none succeeds by {explain.full_time(give_up)}, the endpoint is disabled and its owner told "
                "by email. Read its deliveries for what the receiver answered.")
    return "Working: its last delivery succeeded (or none has been sent yet)."


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "owner", "state_short", "deliveries_link")
    list_filter = ("enabled",)
    readonly_fields = ("owner", "state_display", "deliveries_link", "created_at")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        # a new endpoint has no owner, failures or date yet: its page showed four rows of "—"
        return fields if obj is not None else [f for f in fields if f not in self.readonly_fields]

    @admin.display(description="state")
    def state_short(self, endpoint):
        if not endpoint.enabled:
            return "Disabled"
        if endpoint.failing_since:
            return format_html("Failing since {}", explain.short_time(endpoint.failing_since))
        return "Working"

    @admin.display(description="state")
    def state_display(self, endpoint):
        return format_html('<p class="provisioning-sentence{}">{}</p>',
                           " provisioning-sentence-bad" if endpoint.failing_since else "", endpoint_state(endpoint))

    @admin.display(description="deliveries")
    def deliveries_link(self, endpoint):
        return format_html('<a href="{}">Its deliveries</a>',
                           changelist_url(WebhookDelivery, endpoint__id__exact=endpoint.pk))

    def has_module_permission(self, request):
        return request.user.has_perm("provisioning.manage_connection")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("provisioning.manage_connection")

    def has_add_permission(self, request):
        return request.user.has_perm("provisioning.manage_connection")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("provisioning.manage_connection")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("provisioning.manage_connection")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.webhook_endpoint_update(endpoint=obj, url=data["url"], events=data["events"],
                                             enabled=data["enabled"], description=data["description"])
            return
        endpoint, secret = services.webhook_endpoint_create(
            owner=request.user, url=data["url"], events=data["events"], enabled=data["enabled"],
            description=data["description"],
        )
        obj.pk = endpoint.pk
        messages.warning(request, format_html(
            "Signing secret of this endpoint, shown this once only: <code>{}</code>", secret))


def delivery_state(delivery: WebhookDelivery) -> str:
    """Where a delivery stands and what comes next, in words."""
    attempts = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
    answered = (f"the endpoint answered HTTP {delivery.last_status_code}"
                if delivery.last_status_code and not delivery.last_error else "")
    why = (answered or delivery.last_error.rstrip(".") or "no answer was recorded")
    if delivery.status == WebhookDeliveryStatus.DELIVERED:
        when = explain.full_time(delivery.delivered_at) if delivery.delivered_at else "an unrecorded time"
        return f"Delivered at {when} (HTTP {delivery.last_status_code}), after {attempts}."
    if delivery.status == WebhookDeliveryStatus.FAILED:
        return (f"Gave up after {attempts}: {why}. Once the receiver works, send it again "
                "(action “Send again now”).")
    if not delivery.endpoint.enabled:
        return "Waiting: the endpoint is disabled. It is sent once the endpoint is enabled again."
    if not delivery.attempts:
        return "Waiting to be sent."
    after = f"Attempt {delivery.attempts} failed: {why}."
    if delivery.next_attempt_at:
        return f"{after} Next attempt at {explain.full_time(delivery.next_attempt_at)}."
    return after


@admin.action(description="Send again now (same event id)")
def redeliver(modeladmin, request, queryset):
    deliveries = list(queryset.select_related("endpoint"))
    for delivery in deliveries:
        services.webhook_delivery_redeliver(delivery=delivery)
    held = sum(1 for delivery in deliveries if not delivery.endpoint.enabled)
    sent = len(deliveries) - held
    if sent:
        messages.info(request, f"{sent} {'delivery' if sent == 1 else 'deliveries'} sent again.")
    if held:  # the sender sends nothing to a disabled endpoint
        messages.warning(request, f"{held} {'delivery waits' if held == 1 else 'deliveries wait'} for an endpoint "
                                  f"that is disabled: enable the endpoint to send {'it' if held == 1 else 'them'}.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(HeadingMixin, ReadOnlyMixin, LargeListMixin, IndexedSearchMixin, admin.ModelAdmin):
    """One row per event and endpoint subscribed to it: as many as operations, and more."""

    list_display = ("event_words", "endpoint", "state", "created_short")
    ordering = ("-id",)  # the order they were made in, along the primary key's index
    sortable_by = ("created_short",)
    list_display_links = ("event_words",)
    list_select_related = ("event", "endpoint")
    list_filter = ("status", "event__type", "endpoint")
    search_fields = ("event__id",)
    search_help_text = "An event's id (evt_…), as the receiver got it in the webhook-id header."
    actions = [redeliver]
    fieldsets = (
        (None, {"fields": ("event_words", "event_reference", "endpoint", "state", "created_at")}),
        ("What was sent", {"fields": ("payload",)}),
        ("Last attempt", {"fields": ("last_attempt_at", "last_status_code", "last_duration_ms", "last_error",
                                     "response_excerpt")}),
    )
    readonly_fields = ("event_words", "event_reference", "endpoint", "state", "created_at", "payload", "last_attempt_at",
                       "last_status_code", "last_duration_ms", "last_error", "response_excerpt")

    def search_filter(self, term):
        return Q(event_id=term)

    def heading(self, delivery):
        return f"{delivery.event.get_type_display()}, sent to {delivery.endpoint.url}"

    @admin.display(description="event")
    def event_words(self, delivery):
        return delivery.event.get_type_display()  # "An operation finished"

    @admin.display(description="event id")
    def event_reference(self, delivery):
        return delivery.event_id

    @admin.display(description="state")
    def state(self, delivery):
        return delivery_state(delivery)

    @admin.display(description="created", ordering="id")
    def created_short(self, delivery):
        return explain.short_time(delivery.created_at)

    @admin.display(description="body")
    def payload(self, delivery):
        return pre(_indented(services.webhooks.event_body(delivery.event)))  # as sent, indented to be read

    def has_module_permission(self, request):
        return request.user.has_perm("provisioning.manage_connection")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("provisioning.manage_connection")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.user.has_perm("provisioning.manage_connection"):
            actions["redeliver"] = (redeliver, "redeliver", redeliver.short_description)
        return actions


def inbound_outcome(inbound: InboundWebhook) -> str:
    """What the portal made of a provider's webhook: "Accepted: registration confirmed."."""
    detail = (inbound.detail or "").rstrip(".")
    if inbound.accepted:
        return f"Accepted: {detail}." if detail else "Accepted."
    return f"Refused (HTTP {inbound.status_code}): {detail}." if detail else f"Refused (HTTP {inbound.status_code})."


@admin.register(InboundWebhook)
class InboundWebhookAdmin(HeadingMixin, ReadOnlyMixin, LargeListMixin, IndexedSearchMixin, admin.ModelAdmin):
    """What providers sent to the portal's receivers. A record, not to be edited or deleted: an
    accepted one is also the guard that refuses its replay."""

    list_display = ("created_at", "connection", "event_type", "outcome", "account_link")
    list_select_related = ("connection",)
    list_filter = ("accepted", ("connection", ConnectionFilter))
    search_fields = ("webhook_id",)
    search_help_text = "A webhook's id, as the provider sent it."
    fieldsets = (
        (None, {"fields": ("connection", "event_type", "outcome", "account_link", "created_at")}),
        ("As received", {"fields": ("webhook_id", "remote_addr", "status_code", "headers", "body", "applied_display")}),
    )
    readonly_fields = ("connection", "event_type", "outcome", "account_link", "created_at", "webhook_id",
                       "remote_addr", "status_code", "headers", "body", "applied_display")

    def search_filter(self, term):
        return Q(webhook_id=term)

    def heading(self, inbound):
        what = f"{inbound.event_type} from" if inbound.event_type else "A webhook from"
        return f"{what} {inbound.connection.name_with_provider}, {explain.full_time(inbound.created_at)}"

    @admin.display(description="outcome")
    def outcome(self, inbound):
        return inbound_outcome(inbound)

    @admin.display(description="account")
    def account_link(self, inbound):
        account = (inbound.applied or {}).get("account")
        if not isinstance(account, int):
            return "—"
        return format_html('<a href="{}">account #{}</a>', reverse("admin:provisioning_account_change", args=[account]),
                           account)

    @admin.display(description="headers (secrets hidden)")
    def headers(self, inbound):
        return pretty_json(inbound.request_headers)

    @admin.display(description="body (secrets hidden)")
    def body(self, inbound):
        return pre(_indented(inbound.request_body))

    @admin.display(description="what it changed")
    def applied_display(self, inbound):
        return pretty_json(inbound.applied)


def _indented(body: str) -> str:
    """A JSON body indented to be read; any other text as it is."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


class ConnectionWithWebhookAdmin(ConnectionAdmin):
    """The connection's page, plus where its provider must send webhooks (a connection whose
    provider sends none has no such section). The URL is written into the section's description,
    built from this request: the admin instance is shared by every request, so it keeps none."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        url = webhook_url(obj, request) if obj is not None else None
        if url:
            fieldsets.append(("Webhooks", {"fields": (), "description": format_html(
                'Configure this URL at the provider: <code class="provisioning-webhook-url">{}</code>', url
            )}))
        return fieldsets


admin.site.unregister(Connection)
admin.site.register(Connection, ConnectionWithWebhookAdmin)
