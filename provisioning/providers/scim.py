"""SCIM 2.0 applications (RFC 7643 resources, RFC 7644 protocol): users under ``/Users``.

The connection's base URL is the application's SCIM root (often ending in ``/scim/v2``); every
request carries either ``Authorization: Bearer <token>`` or basic authentication (exactly one of
the two is configured), added at the last moment, and speaks ``application/scim+json``.

The member becomes a ``User``: ``userName`` and the primary email are her email, ``name``
her given and family names, ``phoneNumbers`` her phone when she has one, ``active`` true, and
``externalId`` the id the portal derives for the account (``Provider.external_id_for``). That
``externalId`` is what the portal knows an account by (``Account.external_id``, compared by
reconcile); the ``id`` the application assigns is kept in the account's details (``scim_id``).

Look before creating, always: a create is not idempotent, and an earlier attempt (a read timeout
is an ``UnknownOutcome``, a worker may die after sending) may have created the user. So
``provision`` first asks ``GET /Users?filter=externalId eq "<ours>"`` and adopts (and, if it was
deactivated, reactivates) the user it finds. A ``409 uniqueness`` from the create is looked at
again: by ``externalId`` (a concurrent attempt), then by ``userName``. **A user with the same
userName is adopted only when its externalId is ours**: one without externalId, or with another,
was made by someone else (an administrator at the application, another provisioning system), and
adopting it would let the portal deactivate or delete an account it did not create. Provisioning
then stops and asks a person to either set that user's externalId to ours, or remove it.

Deprovisioning follows the connection setting ``deprovision_mode``: ``"deactivate"`` (default,
``PATCH`` ``active`` to false: the user and its data stay at the application) or ``"delete"``
(``DELETE``). A 404 means the user is gone already, which is success. Sync reads the user back
(by ``scim_id``, else by externalId) and flags drift; reconcile lists every user page by page
(``startIndex``/``count``) and compares externalIds (users without one are foreign).

Error bodies (``urn:ietf:params:scim:api:messages:2.0:Error``: ``status``, ``scimType``,
``detail``) map onto the taxonomy: 409 (or a 400) ``uniqueness`` -> AlreadyExists; 400 ``invalidValue``,
``invalidSyntax``, ``invalidFilter``, ``invalidPath``, ``mutability``, ``noTarget`` ->
InvalidInput (with the member field the detail names, when it names one); ``tooMany`` ->
Rejected; ``invalidVers`` and 401/403 -> ConfigurationError; 404 -> NotFound; 412 (the resource
changed since it was read) -> TransientError, since the next attempt reads it afresh; 413 ->
Rejected; 429 -> RateLimited and 503 -> TransientError, both with ``Retry-After``; other 5xx ->
TransientError.

Requests are built with scim2-client (``BaseSyncSCIMClient``) and scim2-models, whose only
transport hook, ``request(method, url, **kwargs)``, is routed through ``ProviderClient.request``:
every exchange still goes through the one choke point (timed, authenticated there, redacted,
recorded). ``error_for`` maps errors before scim2-client sees an answer. Successful answers are
read by ``scim_answers``, leniently (only the attributes the portal uses; an extension or a
vendor's attribute is ignored), and any 2xx is a success: RFC 7644 names 201 for a create and 204
for a delete, but many applications answer 200. An answer that is not SCIM at all (a user without
an ``id``, a list without ``totalResults``) is a ConfigurationError: the base URL most likely
points elsewhere.

Applications differ in the filters they support: one that refuses ``externalId eq`` (400
``invalidFilter``) is asked by ``userName`` instead, and the user found is the member's only when
its externalId is ours. What a filter returns is checked again here (an application that ignores a
filter it does not support lists other users).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.utils import timezone
from pydantic import ValidationError
from requests.auth import _basic_auth_str
from scim2_client.client import BaseSyncSCIMClient, describe_resource_models
from scim2_client.errors import SCIMClientException
from scim2_models import (
    Email,
    Error,
    Name,
    PatchOp,
    PhoneNumber,
    SCIMException,
    ScimProvider as ServiceDescription,
    SearchRequest,
    ServiceProviderConfig,
    User,
)

from ..models import HealthStatus
from ..states import AccountStatus, OperationKind
from . import drift
from .base import OperationContext, Outcome, Provider, health_outcome
from .exceptions import (
    AlreadyExists,
    ConfigurationError,
    Deferred,
    InvalidInput,
    NeedsAttention,
    NotFound,
    ProviderError,
    RateLimited,
    Rejected,
    TransientError,
)
from .http import EXPECT_EMPTY, EXPECT_JSON, ProviderClient, error_for_status
from .inputs import InputErrors, InputField
from .scim_answers import Features, NotScim, ScimUser, UserPage, read_features, read_page, read_user

SCIM_MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PAGE_SIZE = 100
MAX_PAGES = 10_000  # a million users at PAGE_SIZE: beyond that the server is not paging
DEPROVISION_MODES = ("deactivate", "delete")
INVALID_INPUT_TYPES = frozenset({"invalidValue", "invalidSyntax", "invalidFilter", "invalidPath", "mutability", "noTarget"})
# SCIM attribute named in an error's detail -> the member field staff would correct
MEMBER_FIELDS = {
    "userName": "email",
    "emails": "email",
    "phoneNumbers": "phone",
    "givenName": "first_name",
    "familyName": "last_name",
}


class FilterRefused(InvalidInput):
    """The application does not support the filter asked (400 ``invalidFilter``)."""


def filter_value(value: str) -> str:
    """A string literal of a SCIM filter (RFC 7644 §3.4.2.2: JSON string syntax)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Exchange(BaseSyncSCIMClient):
    """scim2-client's request building and answer checking, sending through ``ScimClient.request``."""

    def __init__(self, owner: ScimClient):
        models, resource_types = describe_resource_models([User])
        # answers are read by scim_answers (leniently), whatever their 2xx status and content type:
        # RFC 7644 §8.1 lets older servers answer application/json, and some answer less precisely
        super().__init__(
            provider=ServiceDescription(models=models, resource_types=resource_types),
            check_response_payload=False,
            check_response_status_codes=False,
            check_response_content_type=False,
        )
        self.owner = owner

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {"Accept": SCIM_MEDIA_TYPE, **kwargs.pop("headers", {})}
        body = kwargs.pop("json", None)
        if body is not None:
            headers["Content-Type"] = SCIM_MEDIA_TYPE
        params = kwargs.pop("params", None)
        if kwargs:
            raise TypeError(f"unexpected request arguments from scim2-client: {sorted(kwargs)}")
        if params:  # a space is %20, as RFC 3986 writes it, not the form encoding's "+"
            url = f"{url}?{urlencode(params, quote_via=quote)}"
        # DELETE answers 204, PATCH 204 or 200 with the resource (which scim2-client reads itself)
        expect = EXPECT_EMPTY if method.upper() in ("DELETE", "PATCH") else EXPECT_JSON
        return self.owner.request(method, url, json_body=body, headers=headers, expect=expect)


class ScimClient(ProviderClient):
    """HTTP, authentication, error mapping and the SCIM calls of one connection."""

    provider_name = "The SCIM application"
    secret_names = frozenset({"bearer_token"})

    def __init__(self, connection, call_log=None):
        super().__init__(connection, call_log)
        self.scim = _Exchange(self)

    # --- hooks of the choke point --------------------------------------------------------------
    def authenticate(self, request: requests.PreparedRequest) -> None:
        token = self.credentials.get("bearer_token")
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        elif self.credentials.get("username"):
            request.headers["Authorization"] = _basic_auth_str(
                self.credentials["username"], self.credentials.get("password", "")
            )

    def error_for(self, response: requests.Response, data) -> ProviderError | None:
        """What a SCIM error body means (RFC 7644 §3.12), by status and ``scimType``."""
        status = response.status_code
        if status < 400:
            return None
        scim_type, detail = self._error_fields(response, data)
        detail = self.redactor.text(detail)
        said = f"The SCIM application answered {status}" + (f" ({scim_type})" if scim_type else "") + f": {detail}"
        retry_after = self.retry_after(response)
        if status == 429:
            return RateLimited(said, retry_after=retry_after)
        if status >= 500:
            return TransientError(said, retry_after=retry_after)
        if status in (401, 403):
            return ConfigurationError(
                f"{said}. Check the connection's bearer token (or username and password) and its rights "
                "to manage users."
            )
        if status == 404:
            return NotFound(said)
        if status == 409 or scim_type == "uniqueness":  # RFC 7644 §3.12: a 409; some answer 400
            return AlreadyExists(said)
        if status == 412:
            return TransientError(f"{said}. The user changed meanwhile; the next attempt reads it again.")
        if status == 413:
            return Rejected(f"{said}. The request is larger than the application accepts.")
        if scim_type == "tooMany":
            return Rejected(f"{said}. The application refuses to return that many results; it must allow "
                            "listing its users page by page.")
        if scim_type == "invalidVers":
            return ConfigurationError(f"{said}. The base URL must be the application's SCIM 2.0 root.")
        if scim_type == "invalidFilter":
            return FilterRefused(said)
        if scim_type in INVALID_INPUT_TYPES or status == 400:
            fields = sorted({field for attr, field in MEMBER_FIELDS.items() if attr.lower() in detail.lower()})
            return InvalidInput(said, field_errors={field: [detail] for field in fields})
        return error_for_status(status, said)

    @staticmethod
    def _error_fields(response: requests.Response, body) -> tuple[str, str]:
        """``scimType`` and ``detail`` of a SCIM error body (``""`` when not one)."""
        scim_type = detail = ""
        if isinstance(body, dict) and ERROR_SCHEMA in (body.get("schemas") or []):
            try:
                error = Error.model_validate(body)
            except ValidationError:
                scim_type, detail = str(body.get("scimType") or ""), str(body.get("detail") or "")
            else:
                scim_type, detail = error.scim_type or "", error.detail or ""
        detail = " ".join(detail.split())[:500]
        return scim_type, detail or f"HTTP {response.status_code} {response.reason or ''}".strip()

    # --- SCIM calls ------------------------------------------------------------------------------
    def _checked(self, what: str, call, *args, read=None, **kwargs):
        """Run a scim2-client call and ``read`` its answer; an answer that is not SCIM is a
        configuration problem."""
        try:
            answer = call(*args, **kwargs)
            return read(answer) if read else answer
        except ProviderError:
            raise
        except (SCIMClientException, SCIMException, ValidationError, NotScim) as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise ConfigurationError(
                f"The answer to {what} is not valid SCIM ({reason}): check the connection's base URL."
            ) from None

    def service_provider_config(self) -> Features:
        return self._checked("GET /ServiceProviderConfig", self.scim.query, ServiceProviderConfig, read=read_features)

    def create_user(self, user: User) -> ScimUser:
        """``POST /Users``. Not idempotent: a read timeout, or a success without a body, is an
        ``UnknownOutcome`` (the next attempt looks for the user before it creates one)."""
        return self._checked("POST /Users", self.scim.create, user, read=read_user)

    def get_user(self, scim_id: str) -> ScimUser:
        return self._checked("GET /Users/{id}", self.scim.query, User, scim_id, read=read_user)

    def search(self, scim_filter: str | None = None, *, start_index: int = 1, count: int = PAGE_SIZE) -> UserPage:
        # a filter left out must stay unset: an explicit None would be sent
        parameters = SearchRequest(start_index=start_index, count=count, **({"filter": scim_filter} if scim_filter else {}))
        return self._checked("GET /Users", self.scim.query, User, query_parameters=parameters, read=read_page)

    def find_user(self, attribute: str, value: str) -> ScimUser | None:
        """The one user whose ``attribute`` (``externalId`` or ``userName``) equals ``value``, or
        ``None``; NeedsAttention if several. FilterRefused when the application does not filter by
        ``attribute``; the users it answers are checked again (userName is case-insensitive)."""
        answered = self.search(f"{attribute} eq {filter_value(value)}").users
        if attribute == "userName":
            found = [user for user in answered if (user.user_name or "").casefold() == value.casefold()]
        else:
            found = [user for user in answered if user.external_id == value]
        if len(found) > 1:
            raise NeedsAttention(
                f"The SCIM application has {len(found)} users with {attribute} {value} "
                f"(ids {', '.join(str(u.id) for u in found)}); remove the extra ones there."
            )
        return found[0] if found else None

    def set_active(self, scim_id: str, active: bool) -> None:
        patch = PatchOp[User](operations=[{"op": "replace", "path": "active", "value": active}])
        self._checked("PATCH /Users/{id}", self.scim.modify, User, scim_id, patch)

    def delete_user(self, scim_id: str) -> None:
        self._checked("DELETE /Users/{id}", self.scim.delete, User, scim_id)

    def all_users(self, page_size: int = PAGE_SIZE) -> Iterator[ScimUser]:
        """Every user, page by page (``startIndex`` is 1-based; ``totalResults`` says when to stop,
        or, from an application that leaves it out, a page shorter than asked).

        A page that brings nothing new before ``totalResults`` is reached means the listing cannot
        be completed: an incomplete list would make reconcile report users missing, so it fails.
        """
        start, seen = 1, set()
        for _ in range(MAX_PAGES):
            page = self.search(start_index=start, count=page_size)
            resources = page.users
            new = [user for user in resources if user.id not in seen]
            for user in new:
                seen.add(user.id)
                yield user
            done = len(resources) < page_size if page.total is None else len(seen) >= page.total
            if done:
                return
            if not new:
                listed = f"{len(seen)} of the {page.total} users it counts" if page.total is not None else f"{len(seen)} users"
                raise Rejected(
                    f"The SCIM application listed {listed}, then a page at startIndex {start} with nothing new: "
                    "the list of users cannot be completed."
                )
            start += len(resources)
        raise Rejected(f"The SCIM application still had users after {MAX_PAGES} pages.")


class ScimProvider(Provider):
    kind = "scim"
    label = "SCIM 2.0 application"
    client_class = ScimClient
    # deprovision_mode "deactivate" (the default); "delete": ``delete_warning``
    deprovision_warning = (
        "The SCIM application deactivates the user (active: false), who keeps their data there; "
        "provisioning the account again reactivates them."
    )
    delete_warning = "This connection deletes users (deprovision_mode delete): the SCIM application deletes the user for good."
    operations = frozenset(
        {
            OperationKind.PROVISION,
            OperationKind.SYNC,
            OperationKind.DEPROVISION,
            OperationKind.RECONCILE,
            OperationKind.HEALTH_CHECK,
        }
    )
    credential_fields = (
        InputField("bearer_token", label="bearer token", required=False, secret=True, max_length=2000,
                   help_text="The token the application issued for provisioning (sent as Authorization: Bearer)."),
        InputField("username", required=False, max_length=200,
                   help_text="Instead of a token: the user name of basic authentication."),
        InputField("password", required=False, secret=True, max_length=500,
                   help_text="Instead of a token: the password of basic authentication."),
    )
    setting_fields = (
        InputField("deprovision_mode", label="deprovision mode", required=False, choices=DEPROVISION_MODES,
                   help_text="deactivate (default): PATCH active=false, the user stays; delete: DELETE the user."),
    )
    base_url_example = "https://app.example.com/scim/v2 (the sandbox: http://127.0.0.1:8001/scim/v2)"
    sandbox_api_path = "/v2"

    client: ScimClient

    @classmethod
    def check_credentials(cls, values: dict) -> dict:
        """Exactly one way in: a bearer token alone, or a username and a password together."""
        token, username, password = (values.get(k) for k in ("bearer_token", "username", "password"))
        if token and (username or password):
            raise InputErrors({"bearer_token": [
                "Give a bearer token or a username and password (basic authentication), not both."
            ]})
        if not token and not username and not password:
            raise InputErrors({"bearer_token": [
                "Give a bearer token, or a username and password (basic authentication)."
            ]})
        if not token and not username:
            raise InputErrors({"username": ["A password needs a username."]})
        if not token and not password:
            raise InputErrors({"password": ["A username needs a password."]})
        return values

    # --- connection level ----------------------------------------------------------------------
    def health_check(self, ctx: OperationContext) -> Outcome:
        """The discovery document (what the application supports), then an authenticated list."""
        try:
            config = self.client.service_provider_config()
            users = self.client.search(count=1).total
        except Deferred:
            raise
        except ConfigurationError as err:
            return health_outcome(HealthStatus.ERROR, f"Credentials or base URL rejected: {err.message}")
        except TransientError as err:
            return health_outcome(HealthStatus.ERROR, f"The SCIM application is unreachable: {err.message}")
        except ProviderError as err:
            return health_outcome(HealthStatus.DEGRADED, f"The SCIM application answered unexpectedly: {err.message}")
        patch, filtering, max_results = config.patch, config.filtering, config.max_results
        schemes = config.authentication
        features = (
            f"PATCH {'supported' if patch else 'not supported'}; filtering "
            + (("supported" + (f" (at most {max_results} results)" if max_results else "")) if filtering else "not supported")
            + f"; authentication: {', '.join(schemes) or 'not announced'}"
        )
        detail = f"Credentials accepted; {users if users is not None else '?'} users. {features}."
        problems = []
        if not filtering:
            problems.append("without filtering the portal cannot look for a user before creating it")
        if not patch and self._deprovision_mode() == "deactivate":
            problems.append("without PATCH deprovisioning cannot deactivate users (set deprovision_mode to delete)")
        status = HealthStatus.DEGRADED if problems else HealthStatus.OK
        if problems:
            detail += " But " + "; ".join(problems) + "."
        return health_outcome(
            status, detail, users=users, patch=patch, filter=filtering, filter_max_results=max_results,
            authentication_schemes=schemes,
        )

    def remote_user_ids(self) -> set[str]:
        """Every user's externalId; one without is foreign, named by its SCIM id instead."""
        return {user.external_id or f"(no externalId) {user.id}" for user in self.client.all_users()}

    # --- account level -------------------------------------------------------------------------
    def provision(self, ctx: OperationContext) -> Outcome:
        account = ctx.account
        external_id = account.external_id or self.external_id_for(account)
        existing = self._ours(external_id, ctx.member.email)
        if existing is not None:  # an earlier attempt (or a concurrent one) created it
            return self._adopted(existing, external_id, "found by externalId")
        try:
            created = self.client.create_user(self._user_for(ctx.member, external_id))
        except AlreadyExists as err:
            return self._resolve_conflict(ctx.member, external_id, err)
        return self._active(created, external_id, {"created": True})

    def _ours(self, external_id: str, email: str) -> ScimUser | None:
        """The user with our externalId: asked by externalId, or, from an application that does not
        filter by it, by the member's userName (that user is ours only if its externalId is)."""
        try:
            return self.client.find_user("externalId", external_id)
        except FilterRefused:
            user = self.client.find_user("userName", email)
            return user if user is not None and user.external_id == external_id else None

    def _resolve_conflict(self, member, external_id: str, err: AlreadyExists) -> Outcome:
        existing = self._ours(external_id, member.email)
        if existing is not None:
            return self._adopted(existing, external_id, "found by externalId after a uniqueness conflict")
        same_name = self.client.find_user("userName", member.email)
        if same_name is None:
            raise Rejected(
                f"The SCIM application refused user {member.email} as not unique, but has no user with that "
                f"userName or externalId {external_id}: another of its unique attributes is taken. {err.message}"
            )
        if same_name.external_id == external_id:
            return self._adopted(same_name, external_id, "found by userName after a uniqueness conflict")
        owner = f"externalId {same_name.external_id}" if same_name.external_id else "no externalId"
        raise NeedsAttention(
            f"The SCIM application already has a user {same_name.user_name} (id {same_name.id}, {owner}) that "
            f"the portal did not create. If it is this member's, set its externalId to {external_id} at the "
            "application and provision again; otherwise rename or remove it there first."
        )

    def _adopted(self, user: ScimUser, external_id: str, how: str) -> Outcome:
        if user.active is False:  # deactivated by an earlier deprovisioning: provisioning wakes it
            self.client.set_active(user.id, True)
            user = replace(user, active=True)
            how += ", reactivated"
        return self._active(user, external_id, {"adopted": how})

    def _active(self, user: ScimUser, external_id: str, result: dict) -> Outcome:
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            external_id=external_id,
            details=_user_details(user),
            result={"scim_id": user.id, "user_name": user.user_name, **result},
            attention="",
        )

    @staticmethod
    def _user_for(member, external_id: str) -> User:
        name = Name(given_name=member.first_name or None, family_name=member.last_name or None)
        return User(
            user_name=member.email,
            external_id=external_id,
            name=name if (member.first_name or member.last_name) else None,
            display_name=f"{member.first_name} {member.last_name}".strip() or None,
            emails=[Email(value=member.email, primary=True)],
            phone_numbers=[PhoneNumber(value=member.phone, type="mobile")] if member.phone else None,
            active=True,
        )

    def _find(self, account) -> ScimUser | None:
        """The account's user: by its SCIM id, else by externalId (it may have been recreated)."""
        scim_id = account.details.get("scim_id")
        if scim_id:
            try:
                return self.client.get_user(scim_id)
            except NotFound:
                pass
        return self._ours(account.external_id, account.member.email) if account.external_id else None

    def sync(self, ctx: OperationContext) -> Outcome:
        """Reads the user back; flags drift (gone, or deactivated at the application while active here)."""
        account = ctx.account
        user = self._find(account)
        present = user is not None
        attention = drift.account_drift(
            label=self.label,
            account=drift.LocalAccount(account.pk, account.external_id, account.status, account.attention),
            present=present,
        )
        if present and user.active is False and account.status == AccountStatus.ACTIVE:
            attention = (
                f"{drift.DRIFT_PREFIX}{self.label} has user {account.external_id} but it was deactivated there. "
                "Deprovision this account, or provision it again to reactivate the user."
            )
        details = {"remote_present": present, "remote_checked_at": timezone.now().isoformat()}
        if user is not None:
            details.update(_user_details(user))
        return Outcome(
            details=details,
            result={"external_id": account.external_id, "present_remotely": present,
                    "active_remotely": user.active if user is not None else None},
            attention=attention,
        )

    def deprovision(self, ctx: OperationContext) -> Outcome:
        mode = self._deprovision_mode()
        account = ctx.account
        user = self._find(account) if account.external_id else None
        if user is None:
            outcome = "not found (already gone)"
        else:
            try:
                if mode == "delete":
                    self.client.delete_user(user.id)
                else:
                    self.client.set_active(user.id, False)
                outcome = "deleted" if mode == "delete" else "deactivated"
            except NotFound:
                outcome = "not found (already gone)"
        gone = mode == "delete" or user is None or outcome.startswith("not found")
        return Outcome(
            account_status=AccountStatus.DEPROVISIONED,
            details={"active": None if gone else False, "scim_id": None if gone else user.id,
                     "remote_deprovisioning": outcome},
            result={"external_id": account.external_id, "mode": mode, "remote": outcome},
            attention="",
        )

    @classmethod
    def deprovision_warning_for(cls, connection) -> str:
        mode = (connection.settings or {}).get("deprovision_mode", "deactivate")
        return cls.delete_warning if mode == "delete" else cls.deprovision_warning

    def _deprovision_mode(self) -> str:
        mode = (self.connection.settings or {}).get("deprovision_mode", "deactivate")
        if mode not in DEPROVISION_MODES:
            raise ConfigurationError(
                f"The connection's deprovision_mode is {mode!r}; it must be one of {', '.join(DEPROVISION_MODES)}."
            )
        return mode


def _user_details(user: ScimUser) -> dict:
    return {
        "scim_id": user.id,
        "user_name": user.user_name,
        "active": user.active,
        "last_modified": user.last_modified.isoformat() if user.last_modified else None,
    }


__all__ = ["ScimClient", "ScimProvider", "filter_value"]
