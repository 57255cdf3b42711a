"""Helpers the ModelAdmins share: who asks, what may be requested now, how results are shown."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from .. import explain, selectors, services
from ..models import Operation
from ..states import OPERATION_SPECS, OperationSpec
from .forms import operation_form_for

# how many names a message lists before it says "and N more"
MESSAGE_NAMES = 10


class ReadOnlyMixin:
    """For ModelAdmins and inlines of records nobody edits in the admin (view permission only)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ShownWhenMixin:
    """An object's page without rows that would only say "—" for it: ``shown_when`` maps a field
    to a test of the object, and a field whose test fails is left off the page, with any section
    it leaves empty."""

    shown_when: dict = {}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        kept = [
            (title, {**options, "fields": tuple(
                name for name in options["fields"] if name not in self.shown_when or self.shown_when[name](obj)
            )})
            for title, options in fieldsets
        ]
        return [(title, options) for title, options in kept if options["fields"]]


class HeadingMixin:
    """An object's page headed in words (``heading(obj)``), and the browser tab's title, where
    the model's ``__str__`` is a code ("evt_3f… -> endpoint 2 (pending)") kept short because
    Django prints it wherever it lists objects (what deleting an endpoint deletes, say). The
    breadcrumbs end with the heading too."""

    change_form_template = "admin/provisioning/headed_change_form.html"

    def heading(self, obj) -> str:
        return str(obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["subtitle"] = self.heading(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


class RequestedByMixin:
    """``requested_by_words``: who asked for it, in words ("alice, in the admin"), not as stored."""

    @admin.display(description="requested by")
    def requested_by_words(self, obj):
        return explain.requester_words(obj.requested_by)


def requester(request) -> services.Requester:
    """The staff user behind an admin request, as operations record it ("admin:alice")."""
    return services.Requester.for_user(request.user, "admin")


def permission_refusal(what: str, permission: str) -> PermissionDenied:
    """A refusal that says what needs which permission, by the permission's own name, and which
    roles give it ("Reading an account's secrets needs the permission “Can read account secrets”,
    which the role Secret keepers gives."): the admin's 403 page shows it above the roles and
    what each allows (``views.permission_denied``)."""
    from django.contrib.auth.models import Group, Permission

    app_label, codename = permission.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    name = found.values_list("name", flat=True).first()
    roles = sorted(Group.objects.filter(permissions__in=found).values_list("name", flat=True).distinct())
    if not roles:
        given = "which no role gives: it is for administrators (superusers)"
    elif len(roles) == 1:
        given = f"which the role {roles[0]} gives"
    else:
        given = f"which the roles {', '.join(roles[:-1])} and {roles[-1]} give"
    return PermissionDenied(f"{what} needs the permission “{name or permission}”, {given}.")


def deleted_counts(model_admin, objs, going_with: dict) -> dict:
    """A delete page's summary: how many of ``objs`` go, and how many rows go with them
    (``going_with``: ``{Account: "member__in"}``), counted up to a bound where Django would list
    each row: "Accounts: 3", "Operations: 1,000+"."""
    counts = {model_admin.opts.verbose_name_plural: len(objs)}
    for model, lookup in going_with.items():
        counted, beyond = selectors.bounded_count(model.objects.filter(**{lookup: objs}))
        if counted:
            counts[model._meta.verbose_name_plural] = f"{counted:,}{'+' if beyond else ''}"
    return counts


def gone_sentence(obj) -> str:
    """On the delete page of a member or connection that nothing keeps: why its pending or failed
    accounts may go with it (``explain.accounts_gone_sentence``)."""
    return explain.accounts_gone_sentence(*selectors.accounts_not_yet_created_count(obj.accounts.all()))


def may_request(user, kind: str) -> bool:
    """Whether ``user`` may request (retry, cancel) operations of ``kind``."""
    return user.has_perm(OPERATION_SPECS[kind].permission)


def account_external_id(account) -> str:
    """An account's id at its provider, for the pages that show it ("id at the provider")."""
    return account.external_id or "—"


def pretty_json(value) -> str:
    if value in (None, {}, [], ""):
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="provisioning-json">{}</pre>', text)


def pre(text: str) -> str:
    return format_html('<pre class="provisioning-body">{}</pre>', text) if text else "—"


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def admin_link(obj, text=None) -> str:
    if obj is None:
        return "—"
    return format_html('<a href="{}">{}</a>', change_url(obj), obj if text is None else text)


def changelist_url(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def names(items, limit: int = MESSAGE_NAMES, *, total: int | None = None) -> str:
    """"a, b and c" or "a, b, c and 7 more"; ``total``: how many ``items`` (the first ones) stand for."""
    items = [str(item) for item in items]
    total = len(items) if total is None else total
    if total > min(limit, len(items)):
        shown = items[:limit]
        return ", ".join(shown) + f" and {total - len(shown)} more"
    if len(items) > 1:
        return ", ".join(items[:-1]) + f" and {items[-1]}"
    return "".join(items)


# the most rows an action runs on one by one: each request goes through the services on its own,
# about 15 ms on a 2-core machine (1,000: 15 s; the web server stops a request at 30 s)
ACTION_MAX_ROWS = 1_000


def too_many_selected(request, queryset, *, label: str) -> bool:
    """Whether an action's selection holds more than ``ACTION_MAX_ROWS`` rows ("select all" on a
    big list); if so, the list says why nothing was done and what to do instead."""
    _, more = selectors.bounded_count(queryset, ACTION_MAX_ROWS)
    if not more:
        return False
    messages.error(
        request,
        f"{label}: more than {ACTION_MAX_ROWS:,} {queryset.model._meta.verbose_name_plural} are selected, the most "
        "an action takes at once. Nothing was requested: narrow the list with its filters or a search, or select "
        "fewer, then run it again.",
    )
    return True


def request_each(request, *, kind: str, objects, target: str, input: dict | None = None) -> list[Operation]:
    """Request ``kind`` for each of ``objects`` (accounts or connections, as ``target`` says)
    that offers it now (``services.operation_refusal``), through services, with the same
    ``input``; report what happened and why any was not requested; return what was queued.

    Several accounts are a batch (one per connection), whose page follows their progress.
    """
    objects = list(objects)
    requested, refused, skipped = [], [], []
    batches: dict[int, object] = {}
    for obj in objects:
        why_not = services.operation_refusal(kind=kind, **{target: obj})
        if why_not:
            skipped.append((obj, why_not))
            continue
        extra = {}
        if target == "account" and len(objects) > 1:
            if obj.connection_id not in batches:
                batches[obj.connection_id] = services.batch_start(
                    connection=obj.connection, requested_by=requester(request)
                )
            extra["batch"] = batches[obj.connection_id]
        try:
            requested.append(
                services.operation_request(kind=kind, requested_by=requester(request), input=input, **{target: obj},
                                           **extra)
            )
        except services.ServiceError as exc:
            refused.append((obj, exc.message))
    report_requests(request, label=OPERATION_SPECS[kind].label, requested=requested, refused=refused, skipped=skipped)
    return requested


def report_requests(request, *, label: str, requested: list, refused: list[tuple[object, str]],
                    skipped: list[tuple[object, str]] = ()):
    """Tell staff what a bulk request did: what was queued, what was not and why (``refused`` by
    the services; ``skipped``: not offered, as ``services.operation_refusal`` says). Never raises."""
    what = label[:1].lower() + label[1:]
    if len(requested) == 1:
        operation = requested[0]
        messages.success(
            request,
            format_html(
                "Requested {} for {}: {}.",
                what,
                operation.account or operation.connection,
                admin_link(operation, f"operation #{operation.pk}"),
            ),
        )
    elif requested and all(op.batch_id for op in requested):
        batches = sorted({op.batch for op in requested}, key=lambda batch: batch.pk)
        messages.success(
            request,
            format_html(
                "Requested {} for {} accounts, followed on {}.",
                what,
                len(requested),
                format_html_join(", ", "{}", ((admin_link(batch, f"batch #{batch.pk} ({batch.connection})"),) for batch in batches)),
            ),
        )
    elif requested:
        url = changelist_url(Operation, id__in=",".join(str(op.pk) for op in requested))
        messages.success(
            request,
            format_html('Requested {} for {} objects: <a href="{}">see the operations</a>.', what, len(requested), url),
        )
    by_reason: dict[str, list] = {}
    for obj, why_not in skipped:
        by_reason.setdefault(why_not, []).append(obj)
    for why_not, objs in by_reason.items():
        messages.warning(request, f"Not requested for {names(objs)}: {why_not}")
    if refused:
        shown = refused[:MESSAGE_NAMES]
        more = len(refused) - len(shown)
        messages.error(
            request,
            format_html(
                "{} was refused for {}:<ul>{}</ul>{}",
                label,
                f"{len(refused)} object" + ("s" if len(refused) != 1 else ""),
                format_html_join("", "<li>{}: {}</li>", ((str(obj), message) for obj, message in shown)),
                f"… and {more} more." if more else "",
            ),
        )
    if not (requested or skipped or refused):
        messages.info(request, "Nothing was selected.")


class OperationRequestMixin:
    """Per-object pages that request an operation: a confirmation, or a small form for its input.

    ``<object_id>/request/<kind>/``: GET shows the page, POST calls ``services.operation_request``
    and leads to the new operation's page (which refreshes itself until the operation finishes).
    Subclasses say which kinds are available for an object and how it is passed to services.
    """

    operation_request_template = "admin/provisioning/operation_request.html"

    def operation_target(self, obj) -> dict:
        raise NotImplementedError

    def operation_provider(self, obj):
        """The provider class of ``obj``'s connection (``None`` when it is not installed)."""
        raise NotImplementedError

    def operation_kinds(self, obj) -> list[OperationSpec]:
        """The operations ``obj`` offers now (``services.operations_offered``)."""
        return services.operations_offered(**self.operation_target(obj))

    def operation_request_url(self, obj, kind: str) -> str:
        opts = self.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_request", args=[obj.pk, kind])

    def operation_label(self, obj, spec: OperationSpec) -> str:
        """What the button of ``spec`` says on ``obj``'s page (its provider may say it better)."""
        return spec.label

    def operation_refusal(self, obj, spec: OperationSpec) -> str:
        """Why ``spec`` is not among ``obj``'s operations now (a page reached by an old link)."""
        return services.operation_refusal(kind=spec.kind, **self.operation_target(obj))

    def operation_buttons(self, request, obj) -> list[tuple[str, str]]:
        """(label, url) of every operation staff may request on ``obj`` now."""
        return [
            (self.operation_label(obj, spec), self.operation_request_url(obj, spec.kind))
            for spec in self.operation_kinds(obj)
            if may_request(request.user, spec.kind)
        ]

    def operation_request_urls(self):
        opts = self.opts
        return [
            path(
                "<path:object_id>/request/<str:kind>/",
                self.admin_site.admin_view(self.operation_request_view),
                name=f"{opts.app_label}_{opts.model_name}_request",
            ),
        ]

    def operation_request_context(self, request, obj, kind: str) -> dict:
        return {}

    def operation_request_view(self, request, object_id, kind):
        obj = self.get_object(request, unquote(object_id))
        spec = OPERATION_SPECS.get(kind)
        if obj is None or spec is None:
            raise Http404("No such object or operation.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if not may_request(request.user, kind):
            raise permission_refusal(f"Requesting “{self.operation_label(obj, spec)}”", spec.permission)
        label = self.operation_label(obj, spec)
        if spec not in self.operation_kinds(obj):
            messages.error(request, self.operation_refusal(obj, spec))
            return redirect(change_url(obj))
        form_class = operation_form_for(self.operation_provider(obj), kind)
        form = form_class(request.POST) if request.method == "POST" else form_class()
        if request.method == "POST" and form.is_valid():
            try:
                operation = services.operation_request(
                    kind=kind,
                    input=form.operation_input(),
                    requested_by=requester(request),
                    **self.operation_target(obj),
                )
            except services.InvalidRequest as exc:
                form.add_service_errors(exc)
            except services.Conflict as exc:
                messages.error(request, exc.message)
                return redirect(change_url(obj))
            else:
                messages.success(request, f"{label} requested for {obj}.")
                return redirect(change_url(operation))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label}: {obj}",
            "subtitle": None,
            "opts": self.opts,
            "object": obj,
            "spec": spec,
            "label": label,
            "form": form,
            "media": self.media + form.media,
            **self.operation_request_context(request, obj, kind),
        }
        return TemplateResponse(
            request,
            [
                f"admin/provisioning/{self.opts.model_name}/request_{kind}.html",
                self.operation_request_template,
            ],
            context,
        )
