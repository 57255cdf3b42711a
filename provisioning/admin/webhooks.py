"""Webhooks in the admin: outbound endpoints (secret shown once, on creation), their deliveries
(read-only, redeliver), the providers' webhooks received, and the connection's ``webhook_url``."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from .. import services
from ..services import webhooks as _webhooks  # noqa: F401 (services.webhooks)
from ..models import Connection, InboundWebhook, WebhookDelivery, WebhookEndpoint, WebhookEventType
from ..webhook_views import webhook_url
from .connections import ConnectionAdmin
from .filters import ConnectionFilter


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


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "owner", "enabled", "failing_since", "disabled_reason")
    list_filter = ("enabled",)
    readonly_fields = ("owner", "failing_since", "disabled_reason", "created_at")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        # a new endpoint has no owner, failures or date yet: its page showed four rows of "—"
        return fields if obj is not None else [f for f in fields if f not in self.readonly_fields]

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


@admin.action(description="Send again now (same event id)")
def redeliver(modeladmin, request, queryset):
    for delivery in queryset:
        services.webhook_delivery_redeliver(delivery=delivery)
    messages.info(request, f"{queryset.count()} deliveries sent again.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event_type", "endpoint", "status", "attempts", "last_status_code", "delivered_at",
                    "next_attempt_at")
    list_filter = ("status", "event__type")
    actions = [redeliver]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    @admin.display(description="type")
    def event_type(self, delivery):
        return delivery.event.type

    def has_module_permission(self, request):
        return request.user.has_perm("provisioning.manage_connection")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("provisioning.manage_connection")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.user.has_perm("provisioning.manage_connection"):
            actions["redeliver"] = (redeliver, "redeliver", redeliver.short_description)
        return actions


@admin.register(InboundWebhook)
class InboundWebhookAdmin(admin.ModelAdmin):
    list_display = ("created_at", "connection", "event_type", "webhook_id", "accepted", "status_code", "detail")
    list_filter = ("accepted", ("connection", ConnectionFilter))
    readonly_fields = [f.name for f in InboundWebhook._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
