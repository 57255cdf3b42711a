"""Connections: created, changed and deleted here, whichever interface asks.

The admin, the API and the management commands all call ``connection_create`` and
``connection_update``, so a connection's credentials and settings are merged and checked one
way: against what its provider declares (``Provider.credential_fields``, ``setting_fields``).
Changes are partial: a value sets a key, ``None`` (or a blank string) removes it, a key not
mentioned keeps its value.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from .. import explain, selectors
from ..models import Connection
from ..providers import registry
from ..providers.inputs import InputErrors
from .accounts import members_note_accounts_deleted
from .errors import Conflict, InvalidRequest

# the plain fields of a connection that services set as they are given (the model checks them)
CONNECTION_FIELDS = (
    "name",
    "base_url",
    "enabled",
    "max_accounts",
    "requests_per_minute",
    "max_concurrency",
    "retry_horizon_hours",
)


def _provider(kind: str):
    try:
        return registry.get(kind)
    except registry.UnknownProvider as exc:
        raise InvalidRequest(str(exc), field_errors={"provider": [str(exc)]}) from None


def _merged(current: dict, changes: dict) -> dict:
    merged = dict(current)
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def connection_credentials_merge(*, provider: str, current: dict, changes: dict, from_form: bool = False) -> dict:
    """The credentials ``current`` becomes with ``changes``, checked against the provider's
    declaration; ``InvalidRequest`` with ``{"credentials": {key: [messages]}}`` otherwise."""
    try:
        return _provider(provider).clean_credentials(_merged(current, changes), from_form=from_form)
    except InputErrors as exc:
        raise InvalidRequest("The credentials are not valid.", field_errors={"credentials": exc.errors}) from None


def connection_settings_merge(*, provider: str, current: dict, changes: dict, from_form: bool = False) -> dict:
    """The settings ``current`` becomes with ``changes``, checked (as credentials are)."""
    try:
        return _provider(provider).clean_settings(_merged(current, changes), from_form=from_form)
    except InputErrors as exc:
        raise InvalidRequest("The settings are not valid.", field_errors={"settings": exc.errors}) from None


def connection_changes_check(
    *, provider: str, connection: Connection | None = None, credentials: dict | None = None,
    settings: dict | None = None, from_form: bool = False,
) -> None:
    """Check what ``connection_create`` (no ``connection``) or ``connection_update`` would do to
    the credentials and settings, before a form or a serializer accepts it: ``InvalidRequest``
    with the errors of both (``{"credentials": {...}, "settings": {...}}``), or nothing.
    ``None`` leaves a part unchecked as an update leaves it unchanged; a creation checks both."""
    errors: dict = {}
    parts = (
        ("credentials", credentials, connection_credentials_merge),
        ("settings", settings, connection_settings_merge),
    )
    for name, changes, merge in parts:
        if changes is None and connection is not None:
            continue
        current = dict(getattr(connection, name)) if connection is not None else {}
        try:
            merge(provider=provider, current=current, changes=changes or {}, from_form=from_form)
        except InvalidRequest as exc:
            errors.update(exc.field_errors)
    if errors:
        raise InvalidRequest("The connection's credentials or settings are not valid.", field_errors=errors)


def _save(connection: Connection) -> Connection:
    try:
        connection.full_clean(exclude=["credentials", "secret_state", "provider_state", "settings"])
    except ValidationError as exc:
        raise InvalidRequest("The connection is not valid.", field_errors=exc.message_dict) from None
    connection.save()
    return connection


def connection_create(
    *, provider: str, name: str, base_url: str, credentials: dict | None = None, settings: dict | None = None,
    **fields,
) -> Connection:
    """A new connection to ``provider``; ``fields`` are among ``CONNECTION_FIELDS``."""
    _provider(provider)
    unknown = set(fields) - set(CONNECTION_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown connection fields: {', '.join(sorted(unknown))}.")
    connection = Connection(provider=provider, name=name, base_url=base_url, **fields)
    connection.credentials = connection_credentials_merge(provider=provider, current={}, changes=credentials or {})
    connection.settings = connection_settings_merge(provider=provider, current={}, changes=settings or {})
    return _save(connection)


def connection_update(
    *, connection: Connection, credentials: dict | None = None, settings: dict | None = None, **fields
) -> Connection:
    """Change some of a connection's fields, credentials and settings (the provider stays).

    What the provider cached with the old credentials (an access token, in ``secret_state``) is
    dropped when they change: it may belong to another account or project at the provider.
    """
    if "provider" in fields and fields.pop("provider") != connection.provider:
        raise InvalidRequest(
            "The provider of a connection cannot change.",
            field_errors={"provider": ["The provider of a connection cannot change."]},
        )
    unknown = set(fields) - set(CONNECTION_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown connection fields: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(connection, name, value)
    if credentials is not None:
        new = connection_credentials_merge(
            provider=connection.provider, current=dict(connection.credentials), changes=credentials
        )
        if new != dict(connection.credentials):
            connection.credentials = new
            connection.secret_state = {}
    if settings is not None:
        connection.settings = connection_settings_merge(
            provider=connection.provider, current=dict(connection.settings), changes=settings
        )
    return _save(connection)


def connection_delete(*, connection: Connection) -> None:
    """Delete a connection, with its accounts, their operations and exchanges, and its batches;
    refused as ``connection_delete_refusal`` says."""
    # counted without the row lock, which every claim at a capped connection takes
    refusal = connection_delete_refusal(connection)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        Connection.objects.select_for_update().filter(pk=connection.pk).first()  # an account being added waits
        if selectors.accounts_kept(connection.accounts.all()).exists():  # one came meanwhile
            raise connection_delete_refusal(connection)
        members_note_accounts_deleted(connection)
        connection.accounts.all().delete()
        try:
            connection.delete()
        except ProtectedError:  # an account the lock above should have kept out: all rolled back
            raise Conflict("An account was added to this connection while it was being deleted: nothing was "
                           "deleted. Look at its accounts, then try again.", code="busy") from None


def connection_delete_refusal(connection: Connection) -> Conflict | None:
    """Why ``connection`` cannot be deleted now, in the words both interfaces show (the admin's
    delete page, the API's 409), or None: while any of its accounts may exist at the provider
    (``selectors.accounts_kept``, counted, with what to do), and when it has more operations than
    one request deletes (``selectors.connection_too_big_to_delete``)."""
    counts, more = selectors.connection_accounts_kept_counts(connection)
    if counts:
        return Conflict(explain.connection_kept_sentence(connection, counts, more), code="connection_has_accounts")
    if selectors.connection_too_big_to_delete(connection):
        return Conflict(explain.connection_too_big_sentence(selectors.DELETE_OPERATIONS_LIMIT),
                        code="connection_too_big")
    return None
