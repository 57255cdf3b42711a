"""Members: the people the organisation serves, with their accounts at a glance."""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from import_export.admin import ImportExportMixin

from .. import explain, selectors, services
from ..models import Account, ExternalCall, Member, Operation
from .batches import provision_members
from .common import ReadOnlyMixin, account_external_id, deleted_counts, gone_sentence
from .filters import MemberAccountStatusFilter, MemberCountryFilter, MemberProviderFilter
from .forms import MemberForm
from .paging import BoundedExportMixin, LargeListMixin
from .resources import FORMATS, IMPORT_MAX_ROWS, MemberResource
from .search import IndexedSearchMixin, member_list_matching


class AccountInline(ReadOnlyMixin, admin.TabularInline):
    """The member's accounts, read-only: each links to its page, where operations are requested."""

    model = Account
    fields = ("connection", "provider", "status_badge", "person_sentence", "external_id_display", "updated_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "accounts"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("connection", "member")  # str(account) names both

    @admin.display(description="provider")
    def provider(self, obj):
        return obj.provider_label

    @admin.display(description="status")
    def status_badge(self, obj):
        return explain.account_badge(obj)

    @admin.display(description="what a person must do")
    def person_sentence(self, obj):
        return explain.account_person_sentence(obj) or "—"

    @admin.display(description="id at the provider")
    def external_id_display(self, obj):
        return account_external_id(obj)


def import_preview(result, shown: int) -> dict:
    """What an import's preview says the file does (``preview_summary``), the rows it shows
    (``preview``) and which they are (``preview_note``): every row, in the file's order, when they
    fit; otherwise the rows that change first (in the file's order), then unchanged ones. A file of
    9,990 unchanged rows and 10 changes showed 200 unchanged rows and none of the changes."""
    new, changed, same = (result.totals[kind] for kind in ("new", "update", "skip"))
    summary = f"Confirming adds {new:,} member{'s' if new != 1 else ''} and changes {changed:,}."
    if same:
        summary += f" {same:,} {'is' if same == 1 else 'are'} already as the file says."
    rows = result.valid_rows()
    if len(rows) <= shown:
        return {"preview_summary": summary, "preview": rows, "preview_note": ""}
    changing = [row for row in rows if row.import_type != "skip"]
    if len(changing) >= shown:
        return {"preview_summary": summary, "preview": changing[:shown],
                "preview_note": f"The first {shown} of the {len(changing):,} rows that change are shown."}
    unchanged = [row for row in rows if row.import_type == "skip"][:shown - len(changing)]
    if not changing:
        note = f"The first {shown} are shown."
    elif len(changing) == 1:
        note = f"The row that changes is shown first, then {len(unchanged)} of the {len(rows) - 1:,} unchanged."
    else:
        note = (f"The {len(changing)} rows that change are shown first, then {len(unchanged)} of the "
                f"{len(rows) - len(changing):,} unchanged.")
    return {"preview_summary": summary, "preview": changing + unchanged, "preview_note": note}


@admin.register(Member)
class MemberAdmin(LargeListMixin, IndexedSearchMixin, BoundedExportMixin, ImportExportMixin, admin.ModelAdmin):
    """Members; imported (CSV, XLSX: a preview shows each row's errors before anything is saved)
    and exported with django-import-export (``resources.py``)."""

    list_display = ("email_short", "name", "phone", "country_name", "accounts_summary", "created_short")
    list_filter = (MemberAccountStatusFilter, MemberProviderFilter, ("country", MemberCountryFilter))
    # what a search finds: search_filter (indexed lookups, not "contains" on every column)
    search_fields = ("email", "external_ref")
    search_help_text = "An email (or its beginning, any case) or the organisation's reference."
    sortable_by = ("email_short", "created_short")  # both indexed; others would sort every member
    form = MemberForm
    inlines = [AccountInline]
    actions = ["provision_at_connection"]
    fieldsets = (
        (None, {"fields": ("email", "first_name", "last_name")}),
        ("Contact and place", {"fields": ("phone", "country")}),
        ("Organisation", {"fields": ("external_ref",)}),
    )
    change_form_template = "admin/provisioning/member/change_form.html"
    resource_classes = [MemberResource]
    formats = FORMATS
    import_template_name = "admin/provisioning/member/import.html"

    # the import's preview shows this many rows, those that change first, and says what the whole file does
    import_preview_rows = 200

    def import_action(self, request, *args, **kwargs):
        response = super().import_action(request, *args, **kwargs)
        if hasattr(response, "context_data"):
            response.context_data["import_max_rows"] = f"{IMPORT_MAX_ROWS:,}"
        result = getattr(response, "context_data", {}).get("result")
        if result is not None and not result.has_errors() and not result.has_validation_errors():
            response.context_data.update(import_preview(result, self.import_preview_rows))
        return response

    def search_filter(self, term):
        return member_list_matching(term)

    def has_import_permission(self, request):
        # an import adds members and changes those it finds again by external_ref
        return request.user.has_perm("provisioning.add_member") and request.user.has_perm("provisioning.change_member")

    def has_provision_permission(self, request):
        return request.user.has_perm("provisioning.provision_account")

    def get_queryset(self, request):
        return selectors.members_with_accounts(super().get_queryset(request))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through services, one at a time
        return actions

    @admin.display(description="email", ordering="email")
    def email_short(self, obj):
        return explain.cut(obj.email, "short")

    @admin.display(description="name", ordering="last_name")
    def name(self, obj):
        return f"{obj.first_name} {obj.last_name}".strip() or "—"

    @admin.display(description="country")
    def country_name(self, obj):
        # not the field itself: the admin would rebuild the list of every country for each row
        return obj.country.name or "—"

    @admin.display(description="created", ordering="created_at")
    def created_short(self, obj):
        return explain.short_time(obj.created_at)

    @admin.display(description="accounts")
    def accounts_summary(self, obj):
        accounts = list(obj.accounts.all())
        if not accounts:
            return "—"
        # one line an account: on one line their names and badges ran together
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}" class="provisioning-summary" title="{}">{}</a>&nbsp;{}',
            (
                (
                    reverse("admin:provisioning_account_change", args=[a.pk]),
                    explain.account_person_sentence(a) or a.connection.name,
                    a.connection.name,
                    explain.account_badge(a),
                )
                for a in accounts
            ),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if self.has_provision_permission(request):
            extra_context["provision_url"] = (
                reverse("admin:provisioning_account_add") + "?" + urlencode({"member": object_id})
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Provision at a connection…", permissions=["provision"])
    def provision_at_connection(self, request, queryset):
        """Choose the connection, see what will be sent there (new accounts, accounts provisioned
        again, the ones left alone, the quota), then send it as a batch (``admin/batches.py``)."""
        return provision_members(self, request, queryset)

    # --- deleting goes through services ----------------------------------------------------------
    def get_deleted_objects(self, objs, request):
        protected = [
            f"{account} ({explain.account_status_in_sentence(account.status)})"
            for member in objs
            for account in selectors.member_accounts_kept(member)
        ]
        perms_needed = set() if self.has_delete_permission(request) else {self.opts.verbose_name}
        going_with = {Account: "member__in", Operation: "account__member__in",
                      ExternalCall: "operation__account__member__in"}
        return [str(obj) for obj in objs], deleted_counts(self, objs, going_with), perms_needed, protected

    def delete_model(self, request, obj):
        services.member_delete(member=obj)

    def render_delete_form(self, request, context):
        refusal = services.member_delete_refusal(context["object"])
        if refusal is not None:  # what keeps the member, and what to do (the service's own words)
            context["kept_sentence"] = refusal.message
        else:  # why its failed accounts may go
            context["gone_sentence"] = gone_sentence(context["object"])
        return super().render_delete_form(request, context)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except services.ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("admin:provisioning_member_change", object_id)
