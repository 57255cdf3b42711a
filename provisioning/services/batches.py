"""Batches: many provisionings requested at once, chunk by chunk.

A batch of any size is read, checked and written ``selectors.BATCH_CHUNK`` members at a time
(a few queries and one chunk of rows in memory at any moment), in one transaction under the
connection's row lock, and dispatched after commit in a few messages
(``operations_dispatch_on_commit``). The rule of what is sent is ``selectors.BatchPreview``,
the one the admin shows before sending.
"""

from __future__ import annotations

import logging
from array import array

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from .. import explain, selectors
from ..bulk import insert_copies
from ..models import Account, Batch, Connection, Member
from ..states import OperationKind, OperationStatus
from .accounts import members_note_accounts
from .errors import Conflict, InvalidRequest
from .operations import (
    Requester,
    operation_check,
    operation_hold_reason,
    operation_new,
    operations_dispatch_on_commit,
)

logger = logging.getLogger(__name__)


def batch_start(*, connection: Connection, requested_by: Requester) -> Batch:
    """An empty batch at ``connection``, for operations requested together (an admin bulk
    action): they are passed ``batch=`` and its page follows their progress."""
    return Batch.objects.create(connection=connection, requested_by=requested_by.label)


def batch_create(
    *, connection: Connection, requested_by: Requester, members=None, all_without_account=False
) -> Batch:
    """Provision many members at ``connection`` at once, as one batch; returns it, with the
    ``selectors.BatchPreview`` of what was sent as ``batch.preview``.

    ``members``: a queryset, or a list of members or member ids. What is sent follows
    ``selectors.BatchPreview`` (the rule the admin shows before sending): members without an
    account there get one; those whose account there is pending, failed or deprovisioned (and not
    busy) are provisioned again, the same account; the others are left alone; and never more than
    the connection's quota still allows. Counted under the connection's row lock, so two batches
    cannot both take the last places. Nothing to send is an ``InvalidRequest``; candidates but no
    quota left a ``Conflict`` (``quota_exceeded``); an operation refused on the way rolls the
    whole batch back.
    """
    if all_without_account:
        members = Member.objects.exclude(accounts__connection=connection)
    if members is None or (not isinstance(members, QuerySet) and not members):
        raise InvalidRequest("No members to provision.", field_errors={"members": ["Give at least one member."]})
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        batch = Batch.objects.create(connection=connection, requested_by=requested_by.label)
        preview, sent = _send(batch, members, requested_by)
        if not preview.send_count:
            if not preview.selected and all_without_account:
                raise InvalidRequest(
                    "No members to provision: every member has an account at this connection already.",
                    field_errors={"members": [
                        f"Every member has an account at '{connection}' already: nobody is left to provision."
                    ]},
                )
            if not preview.selected:
                raise InvalidRequest("No members to provision.", field_errors={"members": ["Give at least one member."]})
            if preview.over_quota_count:
                raise Conflict(
                    f"The connection '{connection}' is at its quota of {connection.max_accounts} accounts.",
                    code="quota_exceeded",
                )
            if preview.incomplete_count:
                why = explain.batch_left_out_sentence(preview)
                raise InvalidRequest(f"No members to provision: {why}", field_errors={"members": [why]})
            raise InvalidRequest(
                "No members to provision: each already has an account there that is active, busy or "
                "waiting for a person.",
                field_errors={"members": ["Nobody left to provision at this connection."]},
            )
        batch.left_out = _left_out(preview)
        batch.save(update_fields=["left_out"])
    logger.info("batch requested id=%s operations=%s by=%s", batch.pk, sent, requested_by.label)
    batch.preview = preview
    return batch


def _left_out(preview: selectors.BatchPreview) -> dict:
    """What ``Batch.left_out`` keeps of ``preview``: which of the members given were not sent and
    why, as the API answers it (``left_out``), for the batch's page and ``GET`` later."""
    return {
        "count": preview.left_out_count,
        "over_quota": preview.over_quota_count,
        "over_quota_members": list(preview.over_quota_ids),
        "incomplete": preview.incomplete_count,
        "incomplete_members": list(preview.incomplete_ids),
        "already_there": dict(preview.existing),
        "message": explain.batch_left_out_sentence(preview),
    }


def batch_retry_failed(*, batch: Batch, requested_by: Requester) -> tuple[list, selectors.BatchPreview | None]:
    """Provision again, into the same batch, each account whose latest provisioning in ``batch``
    failed (same rule and quota as ``batch_create``). Returns the new operations (maybe none) and
    the ``selectors.BatchPreview`` of what was sent and left out (``None``: none had failed).
    """
    latest = {}
    for account_id, status in (
        batch.operations.filter(kind=OperationKind.PROVISION, account__isnull=False)
        .order_by("account_id", "-id")
        .values_list("account_id", "status")
    ):
        latest.setdefault(account_id, status)
    failed = [account_id for account_id, status in latest.items() if status == OperationStatus.FAILED]
    if not failed:
        return [], None
    with transaction.atomic():
        Connection.objects.select_for_update().get(pk=batch.connection_id)
        before = batch.operations.order_by("-pk").values_list("pk", flat=True).first() or 0
        preview, _ = _send(batch, Member.objects.filter(accounts__in=failed), requested_by)
        if not preview.send_count and preview.over_quota_count:
            raise Conflict(
                f"The connection '{batch.connection}' is at its quota of {batch.connection.max_accounts} accounts.",
                code="quota_exceeded",
            )
        return list(batch.operations.filter(pk__gt=before).order_by("pk")), preview


def _send(batch: Batch, members, requested_by: Requester) -> tuple[selectors.BatchPreview, int]:
    """Provision the members the preview's rule sends, into ``batch``, chunk by chunk (the caller
    holds the connection's row lock); dispatched when the transaction commits. Returns the
    preview and how many operations were written. Per member, no query: tuples, and the member
    itself only where the provider reads its fields (``selectors.batch_chunks``)."""
    connection = batch.connection
    provider, plain_input, secret_input = operation_check(kind=OperationKind.PROVISION, connection=connection)
    remote = provider(connection)
    hold_reason = operation_hold_reason(kind=OperationKind.PROVISION, connection=connection)
    operation = operation_new(kind=OperationKind.PROVISION, account=None, connection=connection, batch=batch,
                              input=(plain_input, secret_input), requested_by=requested_by, hold_reason=hold_reason)
    preview = selectors.BatchPreview(connection=connection, quota_left=selectors.connection_quota_left(connection))
    queued = array("q")
    for chunk in selectors.batch_chunks(connection, members, lock=True):
        new, again = [], []
        for entry in chunk:
            if preview.add(entry.member_id, entry.account, entry.missing):
                (new if entry.account is None else again).append(entry)
        if not new and not again:
            continue
        unnamed = [entry for entry in again if not entry.account.external_id]
        try:
            with transaction.atomic():
                new_ids = [entry.member_id for entry in new]
                created = insert_copies(Account(connection=connection), ("member_id", "external_id"),
                                        list(zip(new_ids, _external_ids(remote, new))))
                members_note_accounts(new_ids)
                if unnamed:
                    Account.objects.bulk_update(
                        [Account(pk=entry.account.pk, external_id=external_id)
                         for entry, external_id in zip(unnamed, _external_ids(remote, unnamed))],
                        ["external_id"],
                    )
                account_ids = [pk for (pk,) in created] + [entry.account.pk for entry in again]
                operations = insert_copies(operation, ("account_id",), [(pk,) for pk in account_ids])
        except IntegrityError:  # another request took one of these members or accounts meanwhile
            raise Conflict("An account of this batch was changed meanwhile: try again.", code="busy")
        if not hold_reason:
            queued.extend(pk for (pk,) in operations)
    operations_dispatch_on_commit(queued)
    preview.name_samples()
    return preview, preview.send_count


def _external_ids(remote, entries: list[selectors.BatchMember]) -> list[str]:
    """``remote.external_id_for`` the account of each member at its connection: one unsaved
    account whose member changes, with the member's ``external_id_member_fields`` as its chunk
    read them (none when the provider needs none)."""
    draft = Account(connection=remote.connection)
    ids = []
    for entry in entries:
        if remote.external_id_member_fields:
            if entry.member is None:  # deleted after the batch listed it
                raise Conflict("A member of this batch was deleted meanwhile: try again.", code="busy")
            draft.member = entry.member
        else:
            draft.member_id = entry.member_id
        ids.append(remote.external_id_for(draft))
    return ids
