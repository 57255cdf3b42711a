"""What the portal reads from a SCIM application's answers: only what it uses, leniently.

Requests are built with scim2-models (``User``, ``PatchOp``, ``SearchRequest``): there the portal
decides what is sent, and strictness is right. Answers are another matter. scim2-models validates
a resource strictly, so an attribute it was not told of fails the whole answer: the enterprise
extension that many applications add to every user (RFC 7643 §4.3), a vendor's own extension or
attribute, an ``id`` sent as a number. An application's users are not all the portal's (reconcile
lists every one), and RFC 7643 §3.3 lets any application extend them; one such user must not stop
provisioning, nor mark the connection misconfigured.

So answers are read here: the few attributes the portal uses, by case-insensitive name (RFC 7643
§2.1), every other one ignored. Only an answer without what makes it the thing asked for (a user
without an ``id``, a list without ``totalResults`` or ``Resources``, a discovery document without
any feature) is ``NotScim``: the base URL most likely points elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.dateparse import parse_datetime


class NotScim(ValueError):
    """The answer is not the SCIM resource or message asked for (the reason is the message)."""


@dataclass(frozen=True)
class ScimUser:
    """A user as the application answered it: what the portal reads of it."""

    id: str
    user_name: str | None = None
    external_id: str | None = None
    active: bool | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class UserPage:
    """One page of ``GET /Users``. ``total`` is ``None`` when the application did not say."""

    total: int | None
    users: list[ScimUser]


@dataclass(frozen=True)
class Features:
    """What ``/ServiceProviderConfig`` announces, of what the portal relies on."""

    patch: bool
    filtering: bool
    max_results: int | None
    authentication: list[str]


def read_user(payload) -> ScimUser:
    attributes = _attributes(payload, "a user")
    user_id = _text(attributes.get("id"))
    if not user_id:
        raise NotScim("a user without an id")
    meta = _attributes(attributes.get("meta") or {}, "a user's meta")
    return ScimUser(
        id=user_id,
        user_name=_text(attributes.get("username")),
        external_id=_text(attributes.get("externalid")),
        active=_boolean(attributes.get("active")),
        last_modified=_moment(meta.get("lastmodified")),
    )


def read_page(payload) -> UserPage:
    attributes = _attributes(payload, "a list of users")
    if "totalresults" not in attributes and "resources" not in attributes:
        raise NotScim("a list without totalResults or Resources")
    resources = attributes.get("resources") or []
    if not isinstance(resources, list):
        raise NotScim("Resources that is not a list")
    return UserPage(total=_integer(attributes.get("totalresults")), users=[read_user(r) for r in resources])


def read_features(payload) -> Features:
    attributes = _attributes(payload, "a ServiceProviderConfig")
    patch, filtering = (_attributes(attributes.get(name) or {}, name) for name in ("patch", "filter"))
    schemes = attributes.get("authenticationschemes") or []
    if not patch and not filtering and not schemes:
        raise NotScim("a ServiceProviderConfig that announces none of patch, filter or authenticationSchemes")
    names = []
    for scheme in schemes if isinstance(schemes, list) else []:
        if isinstance(scheme, dict):
            scheme = {key.lower(): value for key, value in scheme.items()}
            names.append(_text(scheme.get("type")) or _text(scheme.get("name")) or "?")
    return Features(
        patch=_boolean(patch.get("supported")) is True,
        filtering=_boolean(filtering.get("supported")) is True,
        max_results=_integer(filtering.get("maxresults")),
        authentication=names,
    )


def _attributes(payload, what: str) -> dict:
    """The JSON object's members by lower-cased name (attribute names are case-insensitive)."""
    if not isinstance(payload, dict):
        raise NotScim(f"{what} that is not a JSON object")
    return {str(key).lower(): value for key, value in payload.items()}


def _text(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    return None


def _boolean(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _integer(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _moment(value) -> datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None
