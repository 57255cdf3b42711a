"""Accounts and members: the writes interfaces share (batches: ``batches.py``)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .. import explain, selectors
from ..models import Account, Connection, Member, SecretAccess
from ..states import OperationKind
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
    SecretAccess.objects.create(
        account=account, member_email=account.member.email, connection_name=account.connection.name,
        user=user, via=via, keys=sorted(secrets), **origin,
    )
    return secrets


def member_delete(*, member: Member) -> None:
    """Delete a member, with its accounts; refused while any of them may exist at its provider
    (``selectors.member_accounts_kept``), with a sentence that names them and what to do."""
    with transaction.atomic():
        Member.objects.select_for_update().filter(pk=member.pk).first()  # an account being added waits
        kept = list(selectors.member_accounts_kept(member))
        if kept:
            raise Conflict(explain.member_kept_sentence(kept), code="member_has_accounts")
        member.accounts.all().delete()
        member.delete()
