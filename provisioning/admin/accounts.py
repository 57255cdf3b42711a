"""Accounts: status at a glance; every change is an operation requested through services.

The admin never changes an account itself. Bulk actions on the list and buttons on an account's
page (one per operation its provider offers and its state allows) call
``services.operation_request``; operations that need input (an SMS code, a captcha answer, a
validation link) get a small form. Secrets are shown only on an audited page that needs
``provisioning.view_account_secrets``.
"""

from __future__ import annotations

import json
from functools import partial

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from import_export.admin import ExportMixin

from .. import explain, second_factor, selectors, services
from ..models import Account
from ..providers import registry
from ..states import DEPROVISION_PERMISSION, OPERATION_SPECS, OperationKind
from .batches import provision_accounts
from .common import (
    OperationRequestMixin,
    ShownWhenMixin,
    account_external_id,
    admin_link,
    change_url,
    may_request,
    permission_refusal,
    pretty_json,
    request_each,
    requester,
    too_many_selected,
)
from .filters import AccountStatusFilter, ConnectionFilter, ProviderFilter
from .followups import follow_up, last_operation
from .paging import BoundedExportMixin, LargeListMixin
from .forms import AccountCreateForm, operation_form_for
from .resources import FORMATS, AccountResource
from .search import Found, IndexedSearchMixin, account_ids_matching

# operations offered as bulk actions on the account list (only confirmed ones take input: the
# same for every account, typed on their confirmation page)
BULK_OPERATIONS = (
    OperationKind.PROVISION,
    OperationKind.DEPROVISION,
    OperationKind.RECORD_CLOSED,
    OperationKind.LOGIN_LINK,
    OperationKind.ROTATE_SECRET,
    OperationKind.SYNC,
    OperationKind.RESET_PASSWORD,
    OperationKind.REFRESH_CAPTCHA,
)
# bulk actions that ask "are you sure?" first, on a page that says what each provider does
CONFIRMED_OPERATIONS = (OperationKind.DEPROVISION, OperationKind.RECORD_CLOSED)
# inputs offered as an alternative to the first one, folded away: (summary, field names)
FOLDED_INPUTS = {
    OperationKind.VALIDATE: ("Or type the id and the token", ("validation_id", "token")),
}
REQUEST_INTROS = {
    OperationKind.VALIDATE: "Paste the link of the activation email: the link alone is enough.",
    OperationKind.ANSWER_CAPTCHA: "Type the characters of the image.",
    OperationKind.VERIFY: "Type the code the member received by SMS.",
}


def deprovision_warning(account) -> str:
    """What deprovisioning ``account`` does at its provider and what cannot be undone (declared
    by the provider: ``Provider.deprovision_warning``), and, where the provider cannot close it,
    how staff record it closed once they have closed it there."""
    provider = registry.all_providers().get(account.connection.provider)
    if provider is None:
        return "The provider of this connection is not installed: nothing can be done there."
    warning = provider.deprovision_warning_for(account.connection)
    if provider.supports(OperationKind.RECORD_CLOSED):
        warning += f" {capfirst(explain.ONCE_CLOSED)}."
    return warning


RECENT_OPERATIONS = 10
# the account page has the buttons that go on (object tools) above its history
NEXT_STEP_ABOVE = "go on with the buttons at the top of this page"


def bulk_request_action(kind: str):
    """An admin action that requests ``kind`` for every selected account that allows it."""
    spec = OPERATION_SPECS[kind]
    permission = "deprovision" if spec.permission == DEPROVISION_PERMISSION else "provision"

    def action(modeladmin, request, queryset):
        if kind == OperationKind.PROVISION:  # as batches, after saying what will be sent
            return provision_accounts(modeladmin, request, queryset)
        if too_many_selected(request, queryset, label=spec.label):
            return None
        if kind in CONFIRMED_OPERATIONS:
            return modeladmin.bulk_request_confirmation(request, queryset, kind)
        return modeladmin.bulk_request(request, queryset, kind)

    action.__name__ = f"request_{kind}"
    return admin.action(description=spec.label, permissions=[permission])(action)


class NeedsPersonFilter(admin.SimpleListFilter):
    """Accounts waiting for a person (``selectors.NEEDS_PERSON``: a captcha, an SMS code, a
    validation, a failure, or flagged by reconciliation)."""

    title = "needs a person"
    parameter_name = "needs_person"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(selectors.NEEDS_PERSON)
        if self.value() == "no":
            return queryset.exclude(selectors.NEEDS_PERSON)
        return queryset


@admin.register(Account)
class AccountAdmin(ShownWhenMixin, LargeListMixin, IndexedSearchMixin, BoundedExportMixin, ExportMixin,
                   OperationRequestMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "member_short",
        "status_badge",
        "person_sentence",
        "updated_short",
    )
    list_display_links = ("id", "member_short")
    list_select_related = ("member", "connection")
    list_filter = (NeedsPersonFilter, AccountStatusFilter, ProviderFilter, ("connection", ConnectionFilter))
    # what a search finds: search_filter (indexed lookups, not "contains" across the member join)
    search_fields = ("member__email", "member__external_ref", "external_id")
    search_help_text = "A member's email (or its beginning), a member's reference, or the id at the provider."
    search_by_id = True
    # sorting by other columns would sort a million rows
    sortable_by = ("id",)
    actions = [bulk_request_action(kind) for kind in BULK_OPERATIONS]
    fieldsets = (
        (None, {"fields": ("member_link", "connection_link", "provider", "status_badge", "external_id_display")}),
        ("Needs a person", {"fields": ("person_sentence_whole", "last_error_display", "challenge")}),
        ("At the provider", {"fields": ("details_display", "secrets_display")}),
        ("Operations", {"fields": ("pending_operation", "recent_operations")}),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "member_link",
        "connection_link",
        "provider",
        "status_badge",
        "external_id_display",
        "person_sentence_whole",
        "last_error_display",
        "challenge",
        "details_display",
        "secrets_display",
        "pending_operation",
        "recent_operations",
        "created_at",
        "updated_at",
    )
    change_form_template = "admin/provisioning/account/change_form.html"
    resource_classes = [AccountResource]  # exported without secrets (resources.py)
    formats = FORMATS

    def search_filter(self, term):
        # the ids found first (at most MATCH_LIMIT), as the operations' list does: given the ids
        # of a thousand members whose emails begin with the term, the list's own query walked
        # its date index through every account (1,000,000 accounts: 280-560 ms)
        ids, cut = account_ids_matching(term)
        return Found(Q(pk__any_of=ids), cut)

    # --- permissions: accounts change only through operations ----------------------------------
    def has_provision_permission(self, request):
        return request.user.has_perm("provisioning.provision_account")

    def has_deprovision_permission(self, request):
        return request.user.has_perm("provisioning.deprovision_account")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self.has_provision_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- list and page ---------------------------------------------------------------------------
    @admin.display(description="provider", ordering="connection__provider")
    def provider(self, obj):
        return obj.provider_label

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return explain.account_badge(obj)

    @admin.display(description="member, connection", ordering="member__email")
    def member_short(self, obj):
        return format_html('{}<div class="provisioning-quiet">{}</div>', explain.cut(obj.member.email, "short"),
                           explain.cut(obj.connection.name_with_provider, "short"))

    @admin.display(description="updated", ordering="updated_at")
    def updated_short(self, obj):
        return explain.short_time(obj.updated_at)

    @admin.display(description="what a person must do")
    def person_sentence(self, obj):
        sentence = explain.account_person_sentence(obj)
        return explain.cut(sentence) if sentence else "—"

    @admin.display(description="what a person must do")
    def person_sentence_whole(self, obj):
        """The same sentence on the account's page, whole: there it is the instruction to follow."""
        return explain.account_person_sentence(obj) or "—"

    @admin.display(description="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    @admin.display(description="connection")
    def connection_link(self, obj):
        return admin_link(obj.connection)

    @admin.display(description="last error")
    def last_error_display(self, obj):
        return explain.sentence_with_details(explain.account_error_sentence(obj), obj.last_error, bad=True)

    # rows that would only say "—" for this account ("Captcha: —" on a Xhoppe account's page;
    # "What a person must do: —" and "Last error: —" on an active one's), and a section left
    # empty goes with them: "Needs a person" shows only when a person is needed
    shown_when = {
        "person_sentence_whole": lambda account: explain.account_person_sentence(account),
        "last_error_display": lambda account: explain.account_error_sentence(account) or account.last_error,
        "challenge": lambda account: account.challenge_image,
        "secrets_display": lambda account: account.secrets,
        "pending_operation": lambda account: selectors.account_pending_operation(account),
    }

    @admin.display(description="id at the provider")
    def external_id_display(self, obj):
        return account_external_id(obj)

    @admin.display(description="details")
    def details_display(self, obj):
        return explain.sentence_with_details(explain.account_details_sentence(obj), obj.details)

    @admin.display(description="secrets stored")
    def secrets_display(self, obj):
        return explain.secret_names(obj.secrets_set)

    @admin.display(description="captcha")
    def challenge(self, obj):
        if not obj.challenge_image:
            return "—"
        return format_html(
            '<img src="{}" alt="The captcha to read" class="provisioning-captcha-large">',
            self.challenge_image_url(obj),
        )

    @admin.display(description="unfinished operation")
    def pending_operation(self, obj):
        operation = self.unfinished_operation(obj)
        if operation is None:
            return "—"
        # why it waits is said once, at the top of the page
        return format_html(
            "{} {}", admin_link(operation, f"#{operation.pk} {operation.get_kind_display()}"), explain.operation_badge(operation)
        )

    @admin.display(description="recent operations")
    def recent_operations(self, obj):
        operations = obj.operations.select_related("connection").order_by("-id")[:RECENT_OPERATIONS]
        # what the account waits for now is said of its latest operation only (account_status)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_link(op, f"#{op.pk} {op.get_kind_display()}"),
                    explain.operation_badge(op, obj.status if n == 0 else None),
                    explain.requester_words(op.requested_by),
                    explain.full_time(op.created_at),
                    explain.operation_outcome_sentence(op, obj.status if n == 0 else None, go_on=NEXT_STEP_ABOVE),
                )
                for n, op in enumerate(operations)
            ),
        )
        if not rows:
            return "—"
        return format_html(
            "<table><thead><tr><th>operation</th><th>status</th><th>requested by</th><th>created</th>"
            "<th>outcome</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def unfinished_operation(self, obj):
        return selectors.account_pending_operation(obj)

    def challenge_image_url(self, obj):
        return reverse("admin:provisioning_account_challenge_image", args=[obj.pk])

    # --- operations ------------------------------------------------------------------------------
    def operation_target(self, obj):
        return {"account": obj}

    def operation_provider(self, obj):
        return registry.all_providers().get(obj.connection.provider)

    def operation_label(self, obj, spec):
        provider = self.operation_provider(obj)
        return provider.operation_label(spec.kind, obj.status) if provider is not None else spec.label

    def operation_request_context(self, request, obj, kind):
        context = {"intro": REQUEST_INTROS.get(kind, ""), "connection_trouble": selectors.connection_trouble_sentence(obj.connection)}
        if obj.challenge_image and kind in (OperationKind.ANSWER_CAPTCHA, OperationKind.REFRESH_CAPTCHA):
            context["challenge_image_url"] = self.challenge_image_url(obj)
            refresh = OPERATION_SPECS[OperationKind.REFRESH_CAPTCHA]
            if (
                kind == OperationKind.ANSWER_CAPTCHA
                and refresh in self.operation_kinds(obj)
                and may_request(request.user, refresh.kind)
            ):
                context["refresh_captcha_url"] = self.operation_request_url(obj, refresh.kind)
        found = follow_up(last_operation(obj))
        if found is not None and kind in {suggested for suggested, _ in found.suggestions}:
            context["follow_up_sentence"] = found.sentence
        if kind in FOLDED_INPUTS:
            summary, fields = FOLDED_INPUTS[kind]
            context.update(
                folded_summary=summary,
                folded_fields=fields,
                folded_open=request.method == "POST" and any(request.POST.get(name) for name in fields),
            )
        if kind == OperationKind.DEPROVISION:
            context["danger_sentence"] = deprovision_warning(obj)
        if kind == OperationKind.RECORD_CLOSED:
            context["intro"] = explain.record_closed_intro(obj)
        return context

    def bulk_request(self, request, queryset, kind, input=None):
        requested = request_each(
            request,
            kind=kind,
            objects=queryset.select_related("member", "connection"),
            target="account",
            input=input,
        )
        held = [op for op in requested if op.needs_confirmation]
        if held:
            messages.warning(
                request,
                f"{len(held)} of them wait for a person's confirmation ({held[0].hold_reason}): confirm them "
                "on their pages or with the action of the operation list.",
            )
        if len(requested) == 1 and len(queryset) == 1:
            return redirect(change_url(requested[0]))
        return None

    def bulk_request_confirmation(self, request, queryset, kind):
        """"Are you sure?", with what each provider does (or, recording closings, what that means)
        and the input the kind takes, the same for every account; once confirmed, the requests."""
        spec = OPERATION_SPECS[kind]
        accounts, left = [], []
        for account in queryset.select_related("member", "connection"):
            (left if services.operation_refusal(kind=kind, account=account) else accounts).append(account)
        form = None
        if accounts:  # those offering it, whose providers take the same input for it (none to deprovision;
            # to record closings, the one the base class declares)
            form_class = operation_form_for(self.operation_provider(accounts[0]), kind)
            form = form_class(request.POST if request.POST.get("confirmed") == "yes" else None)
            if form.is_bound and form.is_valid():
                return self.bulk_request(request, queryset, kind, input=form.operation_input())
        many = len(accounts) > 1
        if kind == OperationKind.RECORD_CLOSED:
            question = f"Record {len(accounts)} account{'s' if many else ''} as closed at the provider?"
            sentence = partial(explain.record_closed_intro, many=many)
        else:
            question = f"{spec.label} {len(accounts)} account{'s' if many else ''}?"
            sentence = deprovision_warning
        # one sentence per connection: the provider's, which may depend on its settings (those of the
        # accounts left alone too, for a deprovision: "Xhoppe has no deprovision...")
        warnings = {}
        for account in accounts + left if kind == OperationKind.DEPROVISION else accounts:
            connection = account.connection
            if connection.pk not in warnings:
                warnings[connection.pk] = (connection, sentence(account))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{spec.label}: are you sure?" if accounts else f"Nothing to {spec.label.lower()}",
            "opts": self.opts,
            "spec": spec,
            "accounts": accounts,
            "left_alone": left,
            "warnings": list(warnings.values()),
            "form": form,
            "question": question,
            "action_name": f"request_{kind}",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/provisioning/account/confirm_bulk_request.html", context)

    # --- extra pages -----------------------------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/challenge-image/",
                self.admin_site.admin_view(self.challenge_image_view),
                name="%s_%s_challenge_image" % info,
            ),
            path(
                "<path:object_id>/secrets/",
                self.admin_site.admin_view(self.secrets_view),
                name="%s_%s_secrets" % info,
            ),
            *self.operation_request_urls(),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if account is not None:
            pending = self.unfinished_operation(account)
            if not pending:  # one that finished since the account was read has moved it on: the
                account.refresh_from_db()  # buttons follow the state it left, not the one before
            found = None if pending else follow_up(last_operation(account))
            extra_context.update(
                follow_up_sentence=found.sentence if found else "",
                operation_buttons=[] if pending else self.operation_buttons(request, account),
                pending_operation=pending,
                waiting_sentence=selectors.operation_waiting_sentence(pending) if pending else "",
                refresh_seconds=2 if pending and pending.status != "held" else None,
                # offered where there is something to see (asking for a fresh code to read
                # "This account holds no secrets" was a step for nothing)
                secrets_url=reverse("admin:provisioning_account_secrets", args=[account.pk])
                if account.secrets and request.user.has_perm("provisioning.view_account_secrets")
                else None,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        """Provisioning a new account: pick a member and a connection; services do the rest."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else None
        form = AccountCreateForm(data, initial=request.GET.dict(), admin_site=self.admin_site)
        if data is not None and form.is_valid():
            try:
                account, operation = services.account_create(
                    member=form.cleaned_data["member"],
                    connection=form.cleaned_data["connection"],
                    requested_by=requester(request),
                )
            except services.ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, format_html("Account created; {} requested.", admin_link(operation, "its provisioning"))
                )
                return redirect(change_url(account))
        context = {
            **self.admin_site.each_context(request),
            "title": "Provision an account",
            "opts": self.opts,
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": ["member", "connection"]})], {}),
            "media": self.media + form.media,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/provisioning/account/add_form.html", context)

    def challenge_image_view(self, request, object_id):
        """The captcha picture of an account, for staff to read (never cached)."""
        account = self.get_object(request, unquote(object_id))
        if account is None or not account.challenge_image:
            raise Http404("This account has no captcha to read.")
        if not self.has_view_permission(request, account):
            raise PermissionDenied
        response = HttpResponse(bytes(account.challenge_image), content_type="image/jpeg")
        add_never_cache_headers(response)
        return response

    def secrets_view(self, request, object_id):
        """GET asks for confirmation; POST shows the decrypted secrets and records the read."""
        account = self.get_object(request, unquote(object_id))
        if account is None:
            raise Http404
        if not self.has_view_permission(request, account):
            raise PermissionDenied
        if not request.user.has_perm("provisioning.view_account_secrets"):
            raise permission_refusal("Reading an account's secrets", "provisioning.view_account_secrets")
        if not second_factor.is_fresh(request):  # a code again after SECRETS_REAUTH_SECONDS
            return redirect(second_factor.fresh_code_url(request))
        secrets = None
        if request.method == "POST":
            secrets = services.account_secrets_read(account=account, user=request.user, via="admin", request=request)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Secrets of {account}",
            "opts": self.opts,
            "object": account,
            "secret_names": explain.secret_names(account.secrets_set) if account.secrets_set else "",
            "secrets": None if secrets is None else [
                (explain.field_name(name), value if isinstance(value, str) else json.dumps(value))
                for name, value in sorted(secrets.items())
            ],
            "media": self.media,
        }
        response = TemplateResponse(request, "admin/provisioning/account/secrets.html", context)
        add_never_cache_headers(response)
        return response
