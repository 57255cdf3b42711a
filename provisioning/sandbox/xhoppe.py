"""Xhoppe simulator, mounted at ``/xhoppe``; the API is at ``/xhoppe/api/v1``.

The seed's contract (doc version ``1aa0a58``):

    POST /api/v1/users                  {msisdn, password, password_confirmation}
         -> 201 {"msisdn", "valid_for_authentication": false}; an SMS code goes to the outbox
    POST /api/v1/users/verify           {code}
         -> 200 {"msisdn", "authentication_token", "valid_for_authentication": true}
    PUT  /api/v1/users/forget_password  {msisdn} -> 200; an SMS code goes to the outbox
    POST /api/v1/login                  {msisdn, password}
         -> 200 {"msisdn", "authentication_token", "valid_for_authentication"}

Validation errors are Spree's envelope ``{"error": "Invalid resource. Please fix errors and try
again.", "errors": {field: [messages]}}`` with the ``validation_status`` setting (422, inferred);
a create answers ``create_status`` (201, inferred). With the ``api_token`` setting non-empty every
call needs ``X-Xhoppe-Token: <that token>`` (401 with Spree's messages otherwise).

SMS codes: ``code_length`` characters (digits and uppercase letters), valid ``code_ttl_seconds``
(600: "valid for 10 minutes") on the sandbox clock, matched case-insensitively, used once. The
outbox message is ``channel="sms"``, ``to=<msisdn>``, ``data={"code": ...}``. Sandbox choice: the
code ``forget_password`` sends works with ``/users/verify`` too (it verifies an unverified user
and returns the token), which is how a member whose first code expired gets a new one.

Sandbox control (not part of Xhoppe's API): ``POST /xhoppe/_sandbox/lock {"msisdn"}`` locks a
user (``valid_for_authentication`` false from then on), ``.../unlock`` unlocks it.
"""

from __future__ import annotations

import re
import secrets
import string

from .core import HTTPError, Request, Response, Simulator, route

API = "/api/v1"
INVALID_RESOURCE = "Invalid resource. Please fix errors and try again."
NOT_FOUND = "The resource you were looking for could not be found."
MSISDN = re.compile(r"^\+?[1-9]\d{6,14}$")
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read from a phone screen


def _token() -> str:
    """A Devise-style 20-character URL-safe authentication token."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(20))


class XhoppeSimulator(Simulator):
    name = "xhoppe"
    demo_credentials = {}  # registration needs no credentials
    default_settings = {
        "create_status": 201,
        "validation_status": 422,
        "code_ttl_seconds": 600,
        "code_length": 6,
        "password_min_length": 6,
        "api_token": "",
    }
    secret_settings = frozenset({"api_token"})

    def reset_state(self) -> None:
        # msisdn -> {"password", "verified", "locked", "token", "created_at"}
        self.users: dict[str, dict] = {}
        # code (uppercase) -> {"msisdn", "expires_at"}
        self.codes: dict[str, dict] = {}

    def state(self) -> dict:
        with self.lock:
            return {
                "users": list(self.users),
                "verified": [m for m, u in self.users.items() if u["verified"]],
                "locked": [m for m, u in self.users.items() if u["locked"]],
                "pending_codes": len(self.codes),
            }

    # -- Spree's shapes ---------------------------------------------------------------------

    def error_response(self, status, message, *, code=None, headers=None) -> Response:
        return Response.json({"error": message}, status, headers)

    def invalid(self, errors: dict[str, list[str]]) -> Response:
        return Response.json({"error": INVALID_RESOURCE, "errors": errors}, self.settings["validation_status"])

    def _user_body(self, msisdn: str, *, with_token: bool) -> dict:
        user = self.users[msisdn]
        body = {"msisdn": msisdn}
        if with_token:
            body["authentication_token"] = user["token"]
        body["valid_for_authentication"] = user["verified"] and not user["locked"]
        return body

    def _authenticate(self, request: Request) -> None:
        expected = self.settings["api_token"]
        if not expected:
            return
        sent = request.header("X-Xhoppe-Token")
        if not sent:
            raise HTTPError(401, "You must specify an API key.")
        if not secrets.compare_digest(sent, expected):
            raise HTTPError(401, f"Invalid API key ({sent}) specified.")

    def _body(self, request: Request) -> dict:
        body = request.json(empty={})
        if not isinstance(body, dict):
            raise HTTPError(400, "The request body must be a JSON object.")
        # Spree also accepts the attributes wrapped as {"user": {...}}
        return body["user"] if isinstance(body.get("user"), dict) else body

    # -- users and codes (also usable in-process to seed demos and tests) -------------------------

    def seed_user(self, msisdn: str, password: str = "password1", *, verified: bool = False) -> None:
        with self.lock:
            self.users[msisdn] = {"password": password, "verified": verified, "locked": False,
                                  "token": _token(), "created_at": self.clock.now()}

    def send_code(self, msisdn: str, purpose: str) -> str:
        """Issue a fresh code for ``msisdn`` (earlier ones stop working) and 'send' it by SMS."""
        with self.lock:
            for old in [c for c, pending in self.codes.items() if pending["msisdn"] == msisdn]:
                del self.codes[old]
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(self.settings["code_length"]))
            self.codes[code] = {"msisdn": msisdn, "expires_at": self.clock.now() + self.settings["code_ttl_seconds"]}
            minutes = max(1, round(self.settings["code_ttl_seconds"] / 60))
        self.outbox.send(simulator=self.name, channel="sms", to=msisdn,
                         body=f"Your Xhoppe {purpose} code is {code}. It is valid for {minutes} minutes.",
                         data={"code": code})
        return code

    def set_locked(self, msisdn: str, locked: bool) -> None:
        with self.lock:
            if msisdn not in self.users:
                raise HTTPError(404, NOT_FOUND)
            self.users[msisdn]["locked"] = locked

    # -- endpoints ----------------------------------------------------------------------------

    @route("POST", API + "/users")
    def register(self, request: Request) -> Response:
        self._authenticate(request)
        body = self._body(request)
        msisdn, password, confirmation = (body.get(k) for k in ("msisdn", "password", "password_confirmation"))
        errors: dict[str, list[str]] = {}
        if not msisdn:
            errors.setdefault("msisdn", []).append("can't be blank")
        elif not isinstance(msisdn, str) or not MSISDN.match(msisdn):
            errors.setdefault("msisdn", []).append("is invalid")
        if not password:
            errors.setdefault("password", []).append("can't be blank")
        elif not isinstance(password, str) or len(password) < self.settings["password_min_length"]:
            errors.setdefault("password", []).append(
                f"is too short (minimum is {self.settings['password_min_length']} characters)")
        elif confirmation != password:
            errors.setdefault("password_confirmation", []).append("doesn't match Password")
        with self.lock:
            if isinstance(msisdn, str) and msisdn in self.users:
                errors.setdefault("msisdn", []).append("has already been taken")
            if errors:
                return self.invalid(errors)
            self.seed_user(msisdn, password)
        self.send_code(msisdn, "verification")
        with self.lock:
            return Response.json(self._user_body(msisdn, with_token=False), self.settings["create_status"])

    @route("POST", API + "/users/verify")
    def verify(self, request: Request) -> Response:
        self._authenticate(request)
        code = self._body(request).get("code")
        with self.lock:
            if not code or not isinstance(code, str):
                return self.invalid({"code": ["can't be blank"]})
            pending = self.codes.get(code.strip().upper())
            if pending is None:
                return self.invalid({"code": ["is invalid"]})
            if pending["expires_at"] <= self.clock.now():
                return self.invalid({"code": ["is expired"]})
            del self.codes[code.strip().upper()]
            self.users[pending["msisdn"]]["verified"] = True
            return Response.json(self._user_body(pending["msisdn"], with_token=True))

    @route("PUT", API + "/users/forget_password")
    def forget_password(self, request: Request) -> Response:
        self._authenticate(request)
        msisdn = self._body(request).get("msisdn")
        if not msisdn or not isinstance(msisdn, str):
            return self.invalid({"msisdn": ["can't be blank"]})
        with self.lock:
            if msisdn not in self.users:
                raise HTTPError(404, NOT_FOUND)
        self.send_code(msisdn, "password reset")
        return Response.json({"msisdn": msisdn})

    @route("POST", API + "/login")
    def login(self, request: Request) -> Response:
        self._authenticate(request)
        body = self._body(request)
        msisdn, password = body.get("msisdn"), body.get("password")
        with self.lock:
            user = self.users.get(msisdn) if isinstance(msisdn, str) else None
            if user is None or not isinstance(password, str) or not secrets.compare_digest(
                    user["password"].encode(), password.encode()):
                raise HTTPError(401, "Invalid msisdn or password.")
            return Response.json(self._user_body(msisdn, with_token=True))

    @route("POST", "/_sandbox/lock", "/_sandbox/unlock")
    def lock_endpoint(self, request: Request) -> Response:
        """Sandbox control: lock or unlock a user (``{"msisdn": ...}``)."""
        msisdn = self._body(request).get("msisdn")
        locked = request.path.endswith("/lock")
        self.set_locked(str(msisdn or ""), locked)
        return Response.json({"msisdn": msisdn, "locked": locked})
