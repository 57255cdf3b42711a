"""Accounts, members and batches: the writes interfaces share."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .. import selectors
from ..models import Account, Batch, Connection, Member, SecretAccess
from ..states import AccountStatus, OperationKind
from .errors import Conflict, InvalidRequest
from .operations import Requester, operation_request


def account_create(*, member: Member, connection: Connection, requested_by: Requester, batch=None):
    """Create the account of ``member`` at ``connection`` and request its provisioning.

    Returns ``(account, operation)``. A second account for the same pair is a ``Conflict``.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                account = Account.objects.create(member=member, connection=connection)
        except IntegrityError:
            raise Conflict(
                f"{member} already has an account at '{connection}'.", code="account_exists"
            )
        operation = operation_request(
            kind=OperationKind.PROVISION, account=account, requested_by=requested_by, batch=batch
        )
    return account, operation


def account_secrets_read(*, account: Account, user, via: str, request=None) -> dict:
    """The decrypted secrets of ``account``; every read leaves an audit record: who, when, which
    secrets, through what and (given the ``request``) from which address and client."""
    from ..security import client_ip

    secrets = dict(account.secrets)
    origin = {}
    if request is not None:
        origin = {"ip_address": client_ip(request), "user_agent": request.META.get("HTTP_USER_AGENT", "")[:255]}
    SecretAccess.objects.create(account=account, user=user, via=via, keys=sorted(secrets), **origin)
    return secrets


def member_delete(*, member: Member) -> None:
    """Delete a member; refused while any of its accounts is not deprovisioned."""
    with transaction.atomic():
        open_accounts = member.accounts.exclude(status=AccountStatus.DEPROVISIONED)
        if open_accounts.exists():
            raise Conflict(
                "This member still has accounts that are not deprovisioned; deprovision them first.",
                code="member_has_accounts",
            )
        member.accounts.all().delete()
        member.delete()


def batch_start(*, connection: Connection, requested_by: Requester) -> Batch:
    """An empty batch at ``connection``, for operations requested together (an admin bulk
    action): they are passed ``batch=`` and its page follows their progress."""
    return Batch.objects.create(connection=connection, requested_by=requested_by.label)


def batch_create(
    *, connection: Connection, requested_by: Requester, members=None, all_without_account=False
) -> Batch:
    """Provision many members at ``connection`` at once, as one batch; returns it.

    What is sent follows ``selectors.batch_preview`` (the rule the admin shows before sending):
    members without an account there get one; those whose account there is pending, failed or
    deprovisioned (and not busy) are provisioned again, the same account; the others are left
    alone; and never more than the connection's quota still allows. Counted under the
    connection's row lock, so two batches cannot both take the last places. Nothing to send is an
    ``InvalidRequest``; candidates but no quota left a ``Conflict`` (``quota_exceeded``); an
    operation refused on the way rolls the whole batch back.
    """
    if all_without_account:
        members = Member.objects.exclude(accounts__connection=connection)
    members = list(members or ())
    if not members:
        raise InvalidRequest("No members to provision.", field_errors={"members": ["Give at least one member."]})
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        preview = selectors.batch_preview(connection, members)
        if not preview.to_send:
            if preview.over_quota:
                raise Conflict(
                    f"The connection '{connection}' is at its quota of {connection.max_accounts} accounts.",
                    code="quota_exceeded",
                )
            raise InvalidRequest(
                "No members to provision: each already has an account there that is active, busy or "
                "waiting for a person.",
                field_errors={"members": ["Nobody left to provision at this connection."]},
            )
        batch = Batch.objects.create(connection=connection, requested_by=requested_by.label)
        _send(batch, preview, requested_by)
    batch.preview = preview
    return batch


def _send(batch: Batch, preview, requested_by: Requester) -> None:
    for member, account in preview.to_send:
        if account is None:
            account_create(member=member, connection=batch.connection, requested_by=requested_by, batch=batch)
        else:
            operation_request(kind=OperationKind.PROVISION, account=account, requested_by=requested_by, batch=batch)


def batch_retry_failed(*, batch: Batch, requested_by: Requester) -> list:
    """Provision again, into the same batch, each account whose latest provisioning in ``batch``
    failed (same rule and quota as ``batch_create``). Returns the new operations (maybe none).
    """
    from ..models import Operation
    from ..states import OperationStatus

    latest = {}
    for account_id, status in (
        batch.operations.filter(kind=OperationKind.PROVISION, account__isnull=False)
        .order_by("account_id", "-id")
        .values_list("account_id", "status")
    ):
        latest.setdefault(account_id, status)
    failed = [account_id for account_id, status in latest.items() if status == OperationStatus.FAILED]
    if not failed:
        return []
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=batch.connection_id)
        members = Member.objects.filter(accounts__in=failed).order_by("pk")
        preview = selectors.batch_preview(connection, members)
        if not preview.to_send and preview.over_quota:
            raise Conflict(
                f"The connection '{connection}' is at its quota of {connection.max_accounts} accounts.",
                code="quota_exceeded",
            )
        before = set(batch.operations.values_list("pk", flat=True))
        _send(batch, preview, requested_by)
        new = list(Operation.objects.filter(batch=batch).exclude(pk__in=before).order_by("pk"))
    return new
