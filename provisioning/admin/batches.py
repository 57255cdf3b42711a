"""Bulk provisioning from the admin, as batches: a confirmation that says what will be sent
(``selectors.batch_preview``, the rule ``services.batch_create`` follows), then one batch per
connection and a message that leads to its page (progress, failures, "Retry the failed ones")."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html

from .. import explain, selectors, services
from ..models import Connection
from .common import MESSAGE_NAMES, change_url, names, requester
from .forms import ProvisionAtConnectionForm

CONFIRM_TEMPLATE = "admin/provisioning/batch/confirm_provision.html"


def preview_lines(preview: selectors.BatchPreview) -> dict:
    """What the confirmation page says of one connection, ready for the template."""
    existing = explain.status_counts_in_sentence(preview.existing)  # "needs a captcha answer: 3"
    connection = preview.connection
    if preview.quota_left is None:
        quota = "no quota: every one can be sent"
    else:
        quota = (
            f"{preview.quota_left} more of {connection.max_accounts} "
            f"({selectors.connection_quota_used(connection)} used, requests not started yet included)"
        )
    return {
        "preview": preview,
        "existing": existing,
        "quota": quota,
        "over_quota_names": names(preview.over_quota_names, total=preview.over_quota_count),
        "again_names": names(preview.again_names, total=preview.reprovision_count),
        "incomplete_names": names(preview.incomplete_names, total=preview.incomplete_count),
    }


def report_batch(request, batch) -> None:
    """The message after sending: how many, and a link to the batch's page."""
    preview = batch.preview
    parts = [f"{preview.new_count} new account" + ("s" if preview.new_count != 1 else "")]
    if preview.again_count:
        parts.append(f"{preview.again_count} provisioned again")
    messages.success(
        request,
        format_html(
            'Provisioning {} at {} ({}): <a href="{}">follow batch #{}</a>.',
            f"{preview.send_count} member" + ("s" if preview.send_count != 1 else ""),
            batch.connection,
            ", ".join(parts),
            change_url(batch),
            batch.pk,
        ),
    )
    report_left_out(request, preview)


def report_left_out(request, preview: selectors.BatchPreview) -> None:
    """The message, when a batch (or its retry) left members out: why, and who."""
    left_out = explain.batch_left_out_sentence(preview)  # the words the API's answer gives too
    if left_out:
        if preview.over_quota_count:
            left_out += f" Left out for the quota: {names(preview.over_quota_names, total=preview.over_quota_count)}."
        if preview.incomplete_count:
            left_out += f" Left out as they are: {names(preview.incomplete_names, total=preview.incomplete_count)}."
        messages.warning(request, left_out)


def _send(request, connection, members) -> bool:
    try:
        batch = services.batch_create(connection=connection, members=members, requested_by=requester(request))
    except services.ServiceError as exc:
        messages.error(request, f"Provisioning at {connection}: {exc.message}")
        return False
    report_batch(request, batch)
    return True


def _page(modeladmin, request, context):
    sendable = sum(item["preview"].send_count for item in context["previews"])
    context = {
        "sendable": sendable,
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
        **context,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def _selection(request, queryset, describe) -> dict:
    """How the confirmation page carries the selection back: the changelist's "select all"
    (``select_across``) stays a query however many rows it finds (one id is carried, as the
    admin wants one); ticked rows are carried one by one. ``describe(first rows)``: their names."""
    across = request.POST.get("select_across") == "1"
    count = queryset.count()
    first = list(queryset[:MESSAGE_NAMES])
    carried = first[:1] if across else queryset.values_list("pk", flat=True)
    return {
        "select_across": across,
        "selected_count": count,
        "selected_ids": [getattr(row, "pk", row) for row in carried],
        "member_names": names(describe(first), total=count),
    }


def provision_members(modeladmin, request, queryset):
    """The member list's "Provision at a connection…": choose the connection, see what will be
    sent there, then send it as a batch. Changing the connection shows its preview first. The
    selection stays a query (any number of members, read chunk by chunk)."""
    members = queryset.order_by("pk")
    step = request.POST.get("step")
    form = ProvisionAtConnectionForm(request.POST if step else None)
    if not form.fields["connection"].queryset.exists():
        messages.error(request, "No enabled connection can provision accounts: add or enable one first.")
        return None
    connection = None  # none is chosen for staff: the preview comes once one is picked
    if form.is_bound and form.is_valid():
        connection = form.cleaned_data["connection"]
    if connection is not None and step == "send" and request.POST.get("previewed") == str(connection.pk):
        _send(request, connection, members)
        return None
    return _page(
        modeladmin,
        request,
        {
            "title": "Provision at a connection",
            "form": form,
            **_selection(request, members, lambda first: first),
            "action_name": "provision_at_connection",
            "previews": [preview_lines(selectors.batch_preview(connection, members))] if connection else [],
            "cancel_url": "admin:provisioning_member_changelist",
        },
    )


def provision_accounts(modeladmin, request, queryset):
    """The account list's bulk "Provision": what will be sent at each connection of the selected
    accounts, then one batch per connection."""
    accounts = queryset.order_by("pk")
    by_connection = defaultdict(list)
    for account_id, connection_id, member_id in accounts.values_list("pk", "connection_id", "member_id"):
        by_connection[connection_id].append(member_id)
    connections = Connection.objects.in_bulk(list(by_connection))
    if request.POST.get("step") == "send":
        for connection_id, members in by_connection.items():
            _send(request, connections[connection_id], members)
        return None
    return _page(
        modeladmin,
        request,
        {
            "title": "Provision: what will be sent",
            **_selection(request, accounts.select_related("member"), lambda first: (a.member for a in first)),
            "action_name": request.POST.get("action", "request_provision"),
            "previews": [
                preview_lines(selectors.batch_preview(connections[cid], members)) for cid, members in by_connection.items()
            ],
            "cancel_url": "admin:provisioning_account_changelist",
        },
    )
