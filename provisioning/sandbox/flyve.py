"""GLPI REST API with the Flyve MDM demo plugin, mounted at ``/flyve``.

Point a connection at ``<sandbox>/flyve/apirest.php`` with the demo user token
(``defaults.self.credentials()``). What it does, as GLPI 9.2 and the plugin do:

- ``initSession`` (``Authorization: user_token ...`` or ``?user_token=``), ``killSession``, every
  other call needing ``Session-Token`` (or ``?session_token=``); ``App-Token`` checked on every call
  when the ``app_token`` setting is set. Sessions live ``session_lifetime_seconds`` after last use.
- ``POST /PluginFlyvemdmdemoCaptcha`` creates a captcha (limits per client IP: 6 per 5 min, 15 per
  15 min, 20 per hour; "Too many captcha requests" past them). ``GET .../<id>?alt=media`` (or
  ``Accept: application/octet-stream``) draws its phrase again with new noise as a 150x40 JPEG;
  a JSON GET is refused (``ERROR_RIGHT_MISSING``). Captchas are deleted after an hour.
- ``POST /PluginFlyvemdmdemoUser`` runs the plugin's checks in its order with its messages (§3.5),
  then creates the user, its entity and an account validation, and "emails" the link
  ``<webapp_url>#!/account/<validation id>/validation/<token>`` to the sandbox outbox
  (channel ``email``, ``data``: ``validation_id``, ``token``, ``link``).
- ``PUT /PluginFlyvemdmdemoAccountvalidation/<id>`` with ``{"input": {"_validate": token}}``: single
  use 64-hex tokens that expire after ``validation_lifetime_seconds`` (a day) on the sandbox clock.
  Unvalidated registrations are removed (user, entity) after twice that.
- ``getGlpiConfig``: the password policy from the settings.

Runtime settings (``POST /_sandbox/flyve/settings``): ``webapp_url`` (default from
``SANDBOX_FLYVE_WEBAPP_URL``, which ``manage.py bootstrap`` records in ``.env``, else the portal's
page of connection 1: it must be the portal's ``/validate/flyve/<connection id>/`` page), the password policy keys, ``service_account_active``,
``demo_mode``, ``inactive_profile_configured``, ``fail_default_fleet`` (the plugin's own failure
paths), ``app_token`` (``SANDBOX_FLYVE_APP_TOKEN``), lifetimes and ``captcha_limits``.

The snapshot (``GET /_sandbox/state/flyve``) shows open sessions, the captchas with their phrases
(what a person would read), users and validations; never tokens or passwords.

Sandbox choices where GLPI's behaviour is not documented: an update of a missing item answers 400
``["ERROR_GLPI_UPDATE", "Item not found"]``; injected faults answer ``["ERROR", "<message>"]``.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import secrets

from . import captcha
from .core import HTTPError, Request, Response, Simulator, route

API = "/apirest.php"
CAPTCHA = "pluginflyvemdmdemocaptcha"
USER = "pluginflyvemdmdemouser"
VALIDATION = "pluginflyvemdmdemoaccountvalidation"
ITEMTYPE_NAMES = {
    CAPTCHA: "PluginFlyvemdmdemoCaptcha",
    USER: "PluginFlyvemdmdemoUser",
    VALIDATION: "PluginFlyvemdmdemoAccountvalidation",
}
DEFAULT_WEBAPP_URL = "http://127.0.0.1:8000/validate/flyve/1/"

NO_PERMISSION = "You don't have permission to perform this action."
PASSWORD_RULES = (  # Config::validatePassword, in its order; only the last failure is returned
    ("password_need_number", re.compile(r"[0-9]"), "Password must include at least a digit!"),
    ("password_need_letter", re.compile(r"[a-z]"), "Password must include at least a lowercase letter!"),
    ("password_need_caps", re.compile(r"[A-Z]"), "Password must include at least a uppercase letter!"),
    ("password_need_symbol", re.compile(r"\W", re.ASCII), "Password must include at least a symbol!"),
)
# Close to PHP's FILTER_VALIDATE_EMAIL for the addresses people have.
EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
TOKEN = re.compile(r"^[a-f0-9]{64}$")
NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
LEADING_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
DEFAULT_CODES = {400: "ERROR_BAD_REQUEST", 401: "ERROR_RIGHT_MISSING", 404: "ERROR_ITEM_NOT_FOUND",
                 405: "ERROR_METHOD_NOT_ALLOWED"}


def php_loose_equals(stored: str, given) -> bool:
    """PHP 7's ``$stored == $given`` for a stored string: how the plugin checks captcha answers."""
    if isinstance(given, bool):
        return bool(stored) and stored != "0" if given else not stored or stored == "0"
    if isinstance(given, (int, float)):
        match = LEADING_NUMBER.match(stored)
        return float(match.group(0)) == given if match else given == 0
    if not isinstance(given, str):
        return False
    if NUMERIC.match(stored) and NUMERIC.match(given):
        return float(stored) == float(given)
    return stored == given


class GlpiError(HTTPError):
    """An error in GLPI's shape: ``[code, message]``."""

    def __init__(self, status: int, code: str, message, *, documented: bool = False, api_url: str = ""):
        if documented:  # the generic errors point at the API's documentation
            message = f"{message}; view documentation in your browser at {api_url}/#{code}"
        super().__init__(status, message, code=code)


class FlyveSimulator(Simulator):
    name = "flyve"
    demo_credentials = {"user_token": ("SANDBOX_FLYVE_USER_TOKEN", "sandbox-flyve-service-user-token")}
    default_settings = {
        "user_token": "",
        "app_token": "",
        "service_account_active": True,
        "webapp_url": DEFAULT_WEBAPP_URL,
        "demo_mode": True,
        "inactive_profile_configured": True,
        "fail_default_fleet": False,
        "use_password_security": False,
        "password_min_length": 8,
        "password_need_number": True,
        "password_need_letter": True,
        "password_need_caps": True,
        "password_need_symbol": True,
        "captcha_limits": [[6, 300], [15, 900], [20, 3600]],
        "captcha_lifetime_seconds": 3600,
        "validation_lifetime_seconds": 86400,
        "session_lifetime_seconds": 1440,
        "trial_days": 90,
        "glpi_version": "9.2.4",
    }
    secret_settings = frozenset({"user_token", "app_token"})

    def initial_settings(self) -> dict:
        return {
            **self.default_settings,
            **self.credentials(),
            "app_token": os.environ.get("SANDBOX_FLYVE_APP_TOKEN", ""),
            "webapp_url": os.environ.get("SANDBOX_FLYVE_WEBAPP_URL") or DEFAULT_WEBAPP_URL,
        }

    def reset_state(self) -> None:
        self.sessions: dict[str, float] = {}  # token -> last use
        self.sessions_opened = 0
        self.sessions_killed = 0
        self.captchas: dict[int, dict] = {}  # id -> {"phrase", "ip", "created_at"}
        self.captchas_created = 0
        self.users: dict[int, dict] = {}
        self.entities: dict[str, int] = {}  # name -> id
        self.validations: dict[int, dict] = {}
        self.requests_without_json_content_type = 0
        self._ids = {kind: itertools.count(start) for kind, start in (("captcha", 1), ("user", 7), ("entity", 1), ("validation", 1))}

    def state(self) -> dict:
        with self.lock:
            self._purge()
            return {
                "open_sessions": len(self.sessions),
                "sessions_opened": self.sessions_opened,
                "sessions_killed": self.sessions_killed,
                "captchas_created": self.captchas_created,
                "captchas": [
                    {"id": cid, "phrase": c["phrase"], "ip": c["ip"], "created_at": self.clock.isoformat(c["created_at"])}
                    for cid, c in self.captchas.items()
                ],
                "users": [user["name"] for user in self.users.values()],
                "accounts": [
                    {"id": uid, "name": user["name"], "profile": user["profile"], "entity": user["entity_id"],
                     "newsletter": user["newsletter"], "date_end_trial": user.get("date_end_trial")}
                    for uid, user in self.users.items()
                ],
                "validations": [
                    {"id": vid, "users_id": v["users_id"], "used": not v["pass"],
                     "expires_at": self.clock.isoformat(v["created_at"] + self.settings["validation_lifetime_seconds"])}
                    for vid, v in self.validations.items()
                ],
                "requests_without_json_content_type": self.requests_without_json_content_type,
            }

    # -- test and demo helpers (in-process) --

    def captcha_phrase(self, captcha_id: int) -> str:
        with self.lock:
            return self.captchas[int(captcha_id)]["phrase"]

    # -- GLPI's response shapes --

    def error_response(self, status, message, *, code=None, headers=None) -> Response:
        return Response.json([code or DEFAULT_CODES.get(status, "ERROR"), message], status, headers)

    def throttled_response(self, retry_after: int) -> Response:
        return self.error_response(429, "Too many requests", code="ERROR", headers={"Retry-After": str(retry_after)})

    def unavailable_response(self) -> Response:
        return self.error_response(503, "Service unavailable", code="ERROR")

    def timeout_response(self) -> Response:
        return self.error_response(504, "Gateway timeout", code="ERROR")

    @staticmethod
    def _json(data, status: int = 200, headers: dict | None = None) -> Response:
        response = Response.json(data, status, headers)
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        return response

    # -- the API's front door: app token, body rules, session --

    def _api_url(self, request: Request) -> str:
        return request.base_url + API

    def _begin(self, request: Request, *, session: bool = True):
        """Checks every call goes through; returns the decoded JSON body (None when empty)."""
        if "json" not in request.header("Content-Type", ""):
            with self.lock:
                self.requests_without_json_content_type += 1
        api_url = self._api_url(request)
        expected_app_token = self.settings["app_token"]
        if expected_app_token:
            given = request.header("App-Token") or request.arg("app_token")
            if not given:
                raise GlpiError(400, "ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token",
                                documented=True, api_url=api_url)
            if not secrets.compare_digest(given.encode(), expected_app_token.encode()):
                raise GlpiError(400, "ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong",
                                documented=True, api_url=api_url)
        body = None
        if request.body.strip():
            if request.method == "GET":
                raise GlpiError(400, "ERROR_JSON_PAYLOAD_FORBIDDEN", "GET Request should not have json payload (http body)",
                                documented=True, api_url=api_url)
            try:
                body = request.json()
            except HTTPError:
                raise GlpiError(400, "ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid",
                                documented=True, api_url=api_url) from None
        if session:
            self._session(request)
        return body

    def _session(self, request: Request) -> str:
        token = request.header("Session-Token") or request.arg("session_token")
        if not token:
            raise GlpiError(400, "ERROR_SESSION_TOKEN_MISSING", "parameter session_token is missing or empty",
                            documented=True, api_url=self._api_url(request))
        with self.lock:
            self._purge()
            if token not in self.sessions:
                raise GlpiError(401, "ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid")
            self.sessions[token] = self.clock.now()
        return token

    def _purge(self) -> None:
        """What GLPI's crons and PHP's session collector do, on the sandbox clock."""
        now, settings = self.clock.now(), self.settings
        for token in [t for t, used in self.sessions.items() if used + settings["session_lifetime_seconds"] < now]:
            del self.sessions[token]
        for cid in [c for c, row in self.captchas.items() if row["created_at"] + settings["captcha_lifetime_seconds"] < now]:
            del self.captchas[cid]
        stale = now - 2 * settings["validation_lifetime_seconds"]
        for vid in [v for v, row in self.validations.items() if row["pass"] and row["created_at"] < stale]:
            user = self.users.pop(self.validations.pop(vid)["users_id"], None)
            if user is not None:
                self.entities.pop(user["name"], None)

    # -- session endpoints --

    @route("GET", API + "/initSession")
    def init_session(self, request: Request) -> Response:
        self._begin(request, session=False)
        authorization = request.header("Authorization", "")
        user_token = request.arg("user_token")
        if authorization.lower().startswith("user_token "):
            user_token = authorization.split(" ", 1)[1].strip()
        elif authorization.lower().startswith("basic "):
            try:
                login = base64.b64decode(authorization[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                login = ""
            raise GlpiError(401, "ERROR_GLPI_LOGIN", "Incorrect username or password" if login else "Empty login or password")
        if not user_token:
            raise GlpiError(400, "ERROR_LOGIN_PARAMETERS_MISSING", "parameter(s) login, password or user_token are missing",
                            documented=True, api_url=self._api_url(request))
        expected = self.settings["user_token"]
        if not (expected and secrets.compare_digest(user_token.encode(), expected.encode())
                and self.settings["service_account_active"]):
            raise GlpiError(401, "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid")
        token = secrets.token_hex(20)
        with self.lock:
            self.sessions[token] = self.clock.now()
            self.sessions_opened += 1
        return self._json({"session_token": token})

    @route("GET", API + "/killSession")
    def kill_session(self, request: Request) -> Response:
        self._begin(request, session=False)
        token = self._session(request)
        with self.lock:
            if self.sessions.pop(token, None) is not None:
                self.sessions_killed += 1
        return Response(b"", 200, content_type="application/json; charset=UTF-8")

    @route("GET", API + "/getGlpiConfig")
    def glpi_config(self, request: Request) -> Response:
        self._begin(request)
        s = self.settings
        keys = ("use_password_security", "password_min_length", "password_need_number", "password_need_letter",
                "password_need_caps", "password_need_symbol")
        config = {key: int(s[key]) for key in keys}
        config.update({"version": s["glpi_version"], "url_base": request.base_url, "url_base_api": self._api_url(request)})
        return self._json({"cfg_glpi": config})

    # -- items --

    def _itemtype(self, request: Request) -> str:
        itemtype = request.params["itemtype"].lower()
        if itemtype not in ITEMTYPE_NAMES:
            raise GlpiError(400, "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found or not an instance of CommonDBTM",
                            documented=True, api_url=self._api_url(request))
        return itemtype

    @staticmethod
    def _inputs(request: Request, body) -> tuple[list, bool]:
        """The ``input`` objects and whether several were sent; ERROR_BAD_ARRAY otherwise."""
        value = body.get("input") if isinstance(body, dict) else None
        if isinstance(value, dict):
            return [value], False
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            return value, True
        raise GlpiError(400, "ERROR_BAD_ARRAY", "input parameter must be an array of objects",
                        documented=True, api_url=request.base_url + API)

    @route("POST", API + "/<itemtype>")
    def add_items(self, request: Request) -> Response:
        body = self._begin(request)
        itemtype = self._itemtype(request)
        inputs, several = self._inputs(request, body)
        results = []
        for fields in inputs:
            try:
                results.append({"id": self._add(itemtype, fields, request), "message": ""})
            except _Refused as refused:
                results.append({"id": False, "message": str(refused)})
        failed = [r for r in results if r["id"] is False]
        location = f"{self._api_url(request)}/{ITEMTYPE_NAMES[itemtype]}"
        if not several:
            if failed:
                raise GlpiError(400, "ERROR_GLPI_ADD", failed[0]["message"])
            return self._json(results[0], 201, {"Location": f"{location}/{results[0]['id']}"})
        if len(failed) == len(results):
            return self._json(["ERROR_GLPI_ADD", results], 400)
        if failed:
            return self._json(["ERROR_GLPI_PARTIAL_ADD", results], 207)
        return self._json(results, 201)

    @route("GET", API + "/<itemtype>/<item_id>")
    def get_item(self, request: Request) -> Response:
        self._begin(request)
        itemtype = self._itemtype(request)
        if itemtype != CAPTCHA:
            raise GlpiError(401, "ERROR_RIGHT_MISSING", NO_PERMISSION)
        with self.lock:
            self._purge()
            row = self.captchas.get(int(request.params["item_id"])) if request.params["item_id"].isdigit() else None
            phrase = row["phrase"] if row else None
        if phrase is None:
            raise GlpiError(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        wants_image = request.arg("alt") == "media" or "application/octet-stream" in request.header("Accept", "")
        if not wants_image:  # the JSON load blanks the IP before the IP-bound rights check [F1]
            raise GlpiError(401, "ERROR_RIGHT_MISSING", NO_PERMISSION)
        return Response.raw(captcha.draw(phrase), "image/jpeg", headers={
            "Cache-control": "private, must-revalidate",
            "Pragma": "private",
            "Expires": "Sat, 26 Jul 1962 05:00:00 GMT",  # GLPI also sends "Connection: close" (hop-by-hop: not in WSGI)
        })

    @route("GET", API + "/<itemtype>")
    def list_items(self, request: Request) -> Response:
        self._begin(request)
        self._itemtype(request)
        raise GlpiError(401, "ERROR_RIGHT_MISSING", NO_PERMISSION)

    @route("PUT", API + "/<itemtype>/<item_id>", API + "/<itemtype>")
    def update_items(self, request: Request) -> Response:
        body = self._begin(request)
        itemtype = self._itemtype(request)
        inputs, several = self._inputs(request, body)
        if "item_id" in request.params and not several:
            inputs = [{**inputs[0], "id": request.params["item_id"]}]
        results = []
        for fields in inputs:
            item_id = fields.get("id")
            try:
                self._update(itemtype, item_id, fields)
                results.append({str(item_id): True, "message": ""})
            except _Refused as refused:
                results.append({str(item_id): False, "message": str(refused)})
        failed = [r for r in results if not next(iter(r.values()))]
        if not several and failed:
            raise GlpiError(400, "ERROR_GLPI_UPDATE", failed[0]["message"])
        if several and len(failed) == len(results):
            return self._json(["ERROR_GLPI_UPDATE", results], 400)
        if failed:
            return self._json(["ERROR_GLPI_PARTIAL_UPDATE", results], 207)
        return self._json(results)

    @route("DELETE", API + "/<itemtype>/<item_id>", API + "/<itemtype>")
    def delete_items(self, request: Request) -> Response:
        self._begin(request)
        self._itemtype(request)
        raise GlpiError(400, "ERROR_GLPI_DELETE", NO_PERMISSION)

    # -- the plugin --

    def _add(self, itemtype: str, fields: dict, request: Request) -> int:
        if itemtype == CAPTCHA:
            return self._add_captcha(request.client_ip)
        if itemtype == USER:
            return self._add_user(fields, request)
        raise _Refused(NO_PERMISSION)

    def _add_captcha(self, ip: str) -> int:
        with self.lock:
            self._purge()
            now = self.clock.now()
            mine = [row["created_at"] for row in self.captchas.values() if row["ip"] == ip]
            for limit, seconds in self.settings["captcha_limits"]:
                if sum(1 for created in mine if created > now - seconds) >= limit:
                    raise _Refused("Too many captcha requests")
            captcha_id = next(self._ids["captcha"])
            self.captchas[captcha_id] = {"phrase": captcha.new_phrase(), "ip": ip, "created_at": now}
            self.captchas_created += 1
            return captcha_id

    def _password_error(self, password: str) -> str | None:
        settings, message = self.settings, None
        if not settings["use_password_security"]:
            return None
        if len(password) < settings["password_min_length"]:
            message = "Password too short!"
        for key, pattern, text in PASSWORD_RULES:
            if settings[key] and not pattern.search(password):
                message = text
        return message

    def _add_user(self, fields: dict, request: Request) -> int:
        """The plugin's checks in its order, then the user and its validation."""
        password, password2 = fields.get("password"), fields.get("password2")
        if password != password2:
            raise _Refused("Passwords are different")
        problem = self._password_error(str(password or ""))
        if problem:
            raise _Refused(problem)
        name = fields.get("name")
        if not isinstance(name, str) or not EMAIL.match(name):
            raise _Refused("Email address is not valid")
        captcha_id, answer = fields.get("_plugin_flyvemdmdemo_captchas_id"), fields.get("_answer")
        if captcha_id is None or answer is None:
            raise _Refused("Turing test not specified")
        with self.lock:
            self._purge()
            row = self.captchas.get(int(captcha_id)) if str(captcha_id).isdigit() else None
            if row is None:
                raise _Refused("Turing test not found")
            if not php_loose_equals(row["phrase"], answer):
                raise _Refused("Turing test failed")
            settings = self.settings
            if not settings["inactive_profile_configured"]:
                raise _Refused("No inactive profile available to setup user rights")
            if name in self.entities:
                raise _Refused("An entity already exists for your email. You probably already have an account.")
            if settings["fail_default_fleet"]:
                raise _Refused("Failed to create default fleet")  # the entity is rolled back
            if any(user["name"] == name for user in self.users.values()):
                raise _Refused("Unable to add. The user already exists.")
            entity_id = next(self._ids["entity"])
            self.entities[name] = entity_id
            user_id = next(self._ids["user"])
            newsletter = str(fields.get("_newsletter", "0")) != "0"
            self.users[user_id] = {"name": name, "firstname": fields.get("firstname", ""),
                                   "realname": fields.get("realname", ""), "entity_id": entity_id,
                                   "profile": "inactive registered", "newsletter": newsletter}
            if not (settings["demo_mode"] and settings["webapp_url"]):
                return user_id  # no validation, no email
            validation_id, token = next(self._ids["validation"]), secrets.token_hex(32)
            self.validations[validation_id] = {"users_id": user_id, "pass": token, "created_at": self.clock.now(),
                                               "newsletter": newsletter}
            link = f"{settings['webapp_url']}#!/account/{validation_id}/validation/{token}"
        hours = round(settings["validation_lifetime_seconds"] / 3600)
        self.outbox.send(
            simulator=self.name, channel="email", to=name, subject="Flyve MDM Account Activation",
            body=(f"Hello {fields.get('firstname') or name},\n\nWelcome to Flyve MDM. To activate your account, "
                  f"open this link within {hours} hours:\n\n{link}\n\nThe Flyve MDM team"),
            data={"validation_id": validation_id, "token": token, "link": link},
        )
        return user_id

    def _update(self, itemtype: str, item_id, fields: dict) -> None:
        if itemtype != VALIDATION:
            raise _Refused(NO_PERMISSION)
        with self.lock:
            self._purge()
            row = self.validations.get(int(item_id)) if str(item_id or "").isdigit() else None
            if row is None:
                raise _Refused("Item not found")
            given = fields.get("_validate")
            if not given:
                raise _Refused("Validation token missing")
            if not isinstance(given, str) or given != row["pass"] or not TOKEN.match(given):
                raise _Refused("Validation token is invalid")
            now = self.clock.now()
            if row["created_at"] + self.settings["validation_lifetime_seconds"] < now:
                raise _Refused("Validation token expired")
            user = self.users.get(row["users_id"])
            if user is None or user["profile"] != "inactive registered":
                raise _Refused("Failed to find your account")
            user["profile"] = "registered"
            user["date_end_trial"] = self.clock.isoformat(now + self.settings["trial_days"] * 86400)
            row["pass"] = ""  # single use
        self.outbox.send(
            simulator=self.name, channel="email", to=user["name"], subject="Get started with Flyve MDM",
            body=f"Hello {user['firstname'] or user['name']},\n\nYour Flyve MDM account is active. Enjoy your trial!",
            data={"users_id": row["users_id"]},
        )


class _Refused(Exception):
    """One item of an add or update was refused with the plugin's message."""
