"""Accounts and members: the writes interfaces share (batches: ``batches.py``)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from .. import explain, selectors
from ..bulk import IdList
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
        members_note_accounts([member.pk])
        try:
            operation = operation_request(
                kind=OperationKind.PROVISION, account=account, requested_by=requested_by, batch=batch
            )
        except InvalidRequest as exc:
            if exc.code != "member_incomplete":
                raise
            # the member is this request's field here
            raise InvalidRequest(exc.message, code=exc.code, field_errors={"member": [exc.message]}) from None
    return account, operation


# Both take the members' rows first, so that the two cannot pass each other: an account added
# while the connection of the member's other accounts is deleted is either seen by the deletion
# (committed before it took the rows) or noted after it (its request waited for them). The key
# a new account refers to is checked, and its member's row shared, only at commit: Django's
# foreign keys are deferred on PostgreSQL.


def members_note_accounts(member_ids: list[int]) -> None:
    """``member_ids`` have an account now (``Member.has_accounts``): their rows taken (until the
    transaction the accounts are added in commits), and those that had none written."""
    members = Member.objects.filter(pk__in=IdList(member_ids))
    with transaction.atomic():
        list(members.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True))
        members.filter(has_accounts=False).update(has_accounts=True)


def members_note_accounts_deleted(connection: Connection) -> None:
    """The accounts at ``connection`` are about to be deleted: its members with no account
    elsewhere will have none (``Member.has_accounts``)."""
    locked = list(Member.objects.select_for_update().filter(pk__in=connection.accounts.values("member_id"))
                  .order_by("pk").values_list("pk", flat=True))
    elsewhere = Account.objects.filter(member=OuterRef("pk")).exclude(connection=connection)
    Member.objects.filter(pk__in=IdList(locked)).filter(~Exists(elsewhere)).update(has_accounts=False)


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
    """Delete a member, with its accounts; refused as ``member_delete_refusal`` says."""
    with transaction.atomic():
        Member.objects.select_for_update().filter(pk=member.pk).first()  # an account being added waits
        refusal = member_delete_refusal(member)
        if refusal is not None:
            raise refusal
        member.accounts.all().delete()
        member.delete()


def member_delete_refusal(member: Member) -> Conflict | None:
    """Why ``member`` cannot be deleted now, in the words both interfaces show (the admin's delete
    page, the API's 409), or None: while any of its accounts may exist at its provider
    (``selectors.member_accounts_kept``, named, with what to do)."""
    kept = list(selectors.member_accounts_kept(member))
    return Conflict(explain.member_kept_sentence(kept), code="member_has_accounts") if kept else None
