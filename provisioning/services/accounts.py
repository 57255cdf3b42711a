"""Accounts, members and batches: the writes interfaces share."""

from __future__ import annotations

from django.db import IntegrityError, transaction

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


def account_secrets_read(*, account: Account, user, via: str) -> dict:
    """The decrypted secrets of ``account``; every read leaves an audit record."""
    secrets = dict(account.secrets)
    SecretAccess.objects.create(account=account, user=user, via=via, keys=sorted(secrets))
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


def batch_create(
    *, connection: Connection, requested_by: Requester, members=None, all_without_account=False
) -> Batch:
    """Create accounts for many members at once and request their provisioning.

    Members that already have an account at the connection are skipped.
    """
    if all_without_account:
        members = Member.objects.exclude(accounts__connection=connection)
    if not members:
        raise InvalidRequest("No members to provision.", field_errors={"members": ["Give at least one member."]})
    with transaction.atomic():
        batch = Batch.objects.create(connection=connection, requested_by=requested_by.label)
        existing = set(connection.accounts.values_list("member_id", flat=True))
        for member in members:
            if member.pk in existing:
                continue
            account_create(member=member, connection=connection, requested_by=requested_by, batch=batch)
    return batch
