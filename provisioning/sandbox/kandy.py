"""Kandy v1.2 simulator, mounted at ``/kandy``; the API is at ``/kandy/v1.2``.

One domain with the sandbox's domain API key and secret (``defaults.py``). Every answer is
Kandy's envelope ``{"status", "message"[, "result"]}``: HTTP 200 with ``status 0`` and
``"success"`` on success; on errors the HTTP status is the ``error_http_status`` setting (200 by
default, the safest reading of §1.3) and ``status`` is 1, or 3 for missing parameters.

Sandbox choices where Kandy's behaviour is unknown (all marked UNKNOWN/INFERRED in §1):

- an unknown, revoked or invalidated token (or a wrong key/secret) answers
  ``{"status": <invalid_key_status>, "message": "invalid key"}``;
- a duplicate ``user_id`` answers ``status 1`` with "user_id <id> already exists in domain <d>";
- deleting an unknown user answers ``status 1`` "user not found"; a deletion answers
  ``"User Deleted"`` as [K3] shows;
- tokens never expire by time; ``POST /kandy/_sandbox/invalidate-tokens`` revokes every token
  issued so far (tests use it to force the client to fetch a new one).

Settings (``POST /_sandbox/kandy/settings``): ``quota`` (users the domain holds, default 5),
``error_http_status``, ``invalid_key_status``, ``list_includes_password`` (the user list shows
``user_password``, as it does "when set"), ``domain_name``, ``api_key``, ``api_secret``.
"""

from __future__ import annotations

import re
import secrets

from .core import HTTPError, Request, Response, Simulator, route

API = "/v1.2"
QUOTA_MESSAGE = "failed to register user on compass"
STATUS_INTERNAL = 1
STATUS_MISSING_PARAMETERS = 3
# user_id: anything without whitespace or '@' (it becomes "<user_id>@<domain>")
USER_ID = re.compile(r"^[^\s@]{1,100}$")
# [K5]: 8-20 characters, at least one letter and two digits, a few symbols allowed
PASSWORD = re.compile(r"^(?=.*[A-Za-z])(?=(?:.*\d){2})[A-Za-z0-9!@()&'\-.,?^_]{8,20}$")
COUNTRY = re.compile(r"^([A-Za-z]{2}|\+\d{1,4})$")
USER_FIELDS = ("user_first_name", "user_last_name", "user_email", "user_country_code", "user_phone_number")


class KandyError(HTTPError):
    """An envelope error: ``status`` is Kandy's code, the HTTP status comes from the settings."""

    def __init__(self, message: str, status: int = STATUS_INTERNAL):
        super().__init__(0, message, code=str(status))


def _opaque(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class KandySimulator(Simulator):
    name = "kandy"
    demo_credentials = {
        "api_key": ("SANDBOX_KANDY_API_KEY", "DAK-portal-sandbox"),
        "api_secret": ("SANDBOX_KANDY_API_SECRET", "DAS-portal-sandbox"),
    }
    default_settings = {
        "api_key": "",
        "api_secret": "",
        "domain_name": "portal.sandbox",
        "project_name": "Portal sandbox",
        "quota": 5,
        "error_http_status": 200,
        "invalid_key_status": STATUS_INTERNAL,
        "list_includes_password": True,
        "sms_code_ttl_seconds": 600,
    }
    secret_settings = frozenset({"api_secret"})

    def initial_settings(self) -> dict:
        return {**self.default_settings, **self.credentials()}

    def reset_state(self) -> None:
        self.users: dict[str, dict] = {}  # user_id -> user object (with secrets)
        self.tokens: set[str] = set()  # valid domain access tokens
        self.user_tokens: dict[str, str] = {}  # user access token -> user_id
        self.sms_codes: dict[str, dict] = {}  # code -> {"phone", "expires_at"}

    def state(self) -> dict:
        with self.lock:
            return {
                "users": list(self.users),
                "number_of_users": len(self.users),
                "quota": self.settings["quota"],
                "valid_tokens": len(self.tokens),
            }

    # -- envelope ---------------------------------------------------------------------------

    @staticmethod
    def success(result: dict | None = None, message: str = "success") -> Response:
        body = {"status": 0, "message": message}
        if result is not None:
            body["result"] = result
        return Response.json(body)

    def error_response(self, status, message, *, code=None, headers=None) -> Response:
        if code is None:  # raised by the framework (404, 405, malformed JSON) or an injected fault
            kandy_status, http_status = (STATUS_MISSING_PARAMETERS if status == 400 else STATUS_INTERNAL), status
        else:
            kandy_status, http_status = int(code), status or self.settings["error_http_status"]
        return Response.json({"status": kandy_status, "message": message}, http_status, headers)

    # -- authentication -----------------------------------------------------------------------

    def _invalid_key(self) -> KandyError:
        return KandyError("invalid key", self.settings["invalid_key_status"])

    def _domain_token(self, request: Request) -> str:
        """The domain access token sent as ``key=``; KandyError when it is not a valid one."""
        token = request.arg("key")
        if not token:
            raise KandyError("missing parameters: key", STATUS_MISSING_PARAMETERS)
        if token not in self.tokens:
            raise self._invalid_key()
        return token

    def _check_domain_key(self, request: Request) -> None:
        key, secret = request.arg("key"), request.arg("domain_api_secret")
        if not key or not secret:
            raise KandyError("missing parameters: key, domain_api_secret", STATUS_MISSING_PARAMETERS)
        if not (secrets.compare_digest(key, self.settings["api_key"])
                and secrets.compare_digest(secret, self.settings["api_secret"])):
            raise self._invalid_key()

    def invalidate_tokens(self) -> int:
        """Revoke every domain and user access token issued so far; returns how many."""
        with self.lock:
            count = len(self.tokens) + len(self.user_tokens)
            self.tokens.clear()
            self.user_tokens.clear()
            return count

    # -- users (also usable in-process to seed demos and tests) ------------------------------------

    def seed_user(self, user_id: str, **fields: str) -> dict:
        """Create a user as the create call would (no quota check); returns the full user object."""
        with self.lock:
            domain = self.settings["domain_name"]
            user = {
                "user_id": user_id,
                "user_password": fields.pop("user_password", None) or secrets.token_hex(7),
                "full_user_id": f"{user_id}@{domain}",
                "domain_name": domain,
                "user_api_key": _opaque("UAK"),
                "user_api_secret": _opaque("UAS"),
                **{name: fields.get(name, "") for name in USER_FIELDS},
            }
            self.users[user_id] = user
            return dict(user)

    def _listed(self, user: dict) -> dict:
        listed = {k: v for k, v in user.items() if k != "full_user_id"}
        if not self.settings["list_includes_password"]:
            listed.pop("user_password")
        return listed

    # -- endpoints ----------------------------------------------------------------------------

    @route("GET", API + "/domains/accesstokens")
    def get_domain_access_token(self, request: Request) -> Response:
        with self.lock:
            self._check_domain_key(request)
            token = _opaque("DAT")
            self.tokens.add(token)
        return self.success({"domain_access_token": token})

    @route("DELETE", API + "/domains/accesstokens")
    def revoke_domain_access_token(self, request: Request) -> Response:
        with self.lock:
            self._check_domain_key(request)
            self.tokens.discard(request.arg("domain_access_token", ""))
        return self.success()

    @route("POST", API + "/domains/users/user_id")
    def create_user(self, request: Request) -> Response:
        body = request.json(empty={})
        if not isinstance(body, dict):
            raise KandyError("invalid request body: expected a JSON object", STATUS_MISSING_PARAMETERS)
        with self.lock:
            self._domain_token(request)
            user_id = body.get("user_id")
            if not user_id:
                raise KandyError("missing parameters: user_id", STATUS_MISSING_PARAMETERS)
            if not isinstance(user_id, str) or not USER_ID.match(user_id):
                raise KandyError("invalid user_id: no spaces or '@', at most 100 characters")
            password = body.get("user_password")
            if password and (not isinstance(password, str) or not PASSWORD.match(password)):
                raise KandyError("invalid user_password: 8-20 characters with at least 1 letter and 2 digits")
            country = body.get("user_country_code")
            if country and (not isinstance(country, str) or not COUNTRY.match(country)):
                raise KandyError("invalid user_country_code")
            if user_id in self.users:
                raise KandyError(f"user_id {user_id} already exists in domain {self.settings['domain_name']}")
            if len(self.users) >= self.settings["quota"]:
                raise KandyError(QUOTA_MESSAGE)
            fields = {name: str(body[name]) for name in (*USER_FIELDS, "user_password") if body.get(name)}
            user = self.seed_user(user_id, **fields)
        return self.success({k: user[k] for k in ("user_id", "user_password", "full_user_id", "domain_name",
                                                   "user_api_key", "user_api_secret")})

    @route("GET", API + "/domains/users")
    def list_users(self, request: Request) -> Response:
        with self.lock:
            self._domain_token(request)
            return self.success({"users": [self._listed(u) for u in self.users.values()]})

    @route("DELETE", API + "/domains/users")
    def delete_user(self, request: Request) -> Response:
        with self.lock:
            self._domain_token(request)
            user_id = request.arg("user_id")
            if not user_id:
                raise KandyError("missing parameters: user_id", STATUS_MISSING_PARAMETERS)
            if user_id not in self.users:
                raise KandyError("user not found")
            del self.users[user_id]
            for token in [t for t, uid in self.user_tokens.items() if uid == user_id]:
                del self.user_tokens[token]
        return self.success(message="User Deleted")

    @route("GET", API + "/domains/users/accesstokens")
    def get_user_access_token(self, request: Request) -> Response:
        with self.lock:
            self._check_domain_key(request)
            user_id = request.arg("user_id")
            if not user_id:
                raise KandyError("missing parameters: user_id", STATUS_MISSING_PARAMETERS)
            if user_id not in self.users:
                raise KandyError("user not found")
            token = _opaque("UAT")
            self.user_tokens[token] = user_id
        return self.success({"user_access_token": token})

    @route("GET", API + "/domains/users/details")
    def user_details(self, request: Request) -> Response:
        with self.lock:
            self._domain_token(request)
            user_id = self.user_tokens.get(request.arg("user_access_token", ""))
            if user_id is None:
                api_key = request.arg("user_api_key", "")
                user_id = next((u["user_id"] for u in self.users.values() if u["user_api_key"] == api_key), None)
            if user_id is None:
                raise KandyError("user not found")
            return self.success({"users": [self._listed(self.users[user_id])]})

    @route("GET", API + "/accounts/domains/details")
    def domain_details(self, request: Request) -> Response:
        with self.lock:
            self._domain_token(request)
            if request.arg("domain_api_key") != self.settings["api_key"]:
                raise KandyError("invalid domain_api_key")
            return self.success({"domain": {
                "domain_name": self.settings["domain_name"],
                "domain_api_key": self.settings["api_key"],
                "project_name": self.settings["project_name"],
                "number_of_users": len(self.users),
            }})

    @route("POST", API + "/domains/verifications/smss")
    def send_sms_verification(self, request: Request) -> Response:
        body = request.json(empty={})
        body = body if isinstance(body, dict) else {}
        with self.lock:
            self._domain_token(request)
            phone, country = body.get("user_phone_number"), body.get("user_country_code")
            if not phone or not country:
                raise KandyError("missing parameters: user_phone_number, user_country_code", STATUS_MISSING_PARAMETERS)
            code = f"{secrets.randbelow(10**6):06d}"
            expires_at = self.clock.now() + self.settings["sms_code_ttl_seconds"]
            self.sms_codes[code] = {"phone": str(phone), "expires_at": expires_at}
        self.outbox.send(simulator=self.name, channel="sms", to=str(phone),
                         body=f"Your Kandy verification code is {code}", data={"code": code})
        return self.success()

    @route("GET", API + "/domains/verifications/codes")
    def check_sms_verification(self, request: Request) -> Response:
        with self.lock:
            self._domain_token(request)
            pending = self.sms_codes.get(request.arg("validation_code", ""))
            if pending is None or pending["expires_at"] <= self.clock.now():
                raise KandyError("invalid validation_code")
            del self.sms_codes[request.arg("validation_code")]
        return self.success()

    @route("POST", "/_sandbox/invalidate-tokens")
    def invalidate_tokens_endpoint(self, request: Request) -> Response:
        """Sandbox control (not part of Kandy's API): revoke every token issued so far."""
        return Response.json({"invalidated": self.invalidate_tokens()})
