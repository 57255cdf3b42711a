"""Flyve MDM demo plugin on GLPI's REST API: self-registration with a person.

The flow has two human steps, each an account state: a captcha someone must read
(``awaiting_captcha``) and a validation link sent by email (``awaiting_validation``).

- ``provision`` / ``refresh_captcha``: create a captcha, fetch its JPEG, keep it with the account.
- ``answer_captcha``: create the GLPI user (the member's email as login, a generated password that
  satisfies GLPI's password policy, the newsletter choice, the captcha id and the answer). A wrong
  answer keeps the account at ``awaiting_captcha`` with a fresh captcha.
- ``validate``: PUT the token of the email's link ``<webapp_url>#!/account/<id>/validation/<token>``.
  GLPI keeps a link one day and sends no second one: an expired link fails the account, which
  is provisioned again once GLPI has deleted the unvalidated registration (two days after it
  was made).
- ``health_check``: open a session and read the password policy (``getGlpiConfig``, optional: a GLPI
  without it is healthy, its policy unknown).

Every operation opens its own session as the plugin's service account and kills it in all cases:
no session is ever kept while a person is being waited for. There is no delete API, so no
``deprovision``.

GLPI limits captcha creation per client IP (6 per 5 min, 15 per 15 min, 20 per hour) and every
captcha comes from the portal's address: the portal reserves a captcha slot of the connection
before each captcha POST (``call_log.reserve``: a short transaction under the connection's lock,
so workers never pass the limit together, and none is open during the POST) and defers a request
that would pass a limit until a slot frees. A POST GLPI refused with a 4xx gives its slot back.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import string
from collections.abc import Iterator
from urllib.parse import unquote
from typing import Any

import requests
from django.urls import path, reverse
from django.utils import timezone

from ..models import HealthStatus
from ..states import AccountStatus, OperationKind
from .base import OperationContext, Outcome, Provider
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
from .http import ProviderClient, error_for_status
from .inputs import BOOLEAN, INTEGER, InputErrors, InputField

logger = logging.getLogger(__name__)

CAPTCHA_ITEMTYPE = "PluginFlyvemdmdemoCaptcha"
USER_ITEMTYPE = "PluginFlyvemdmdemoUser"
VALIDATION_ITEMTYPE = "PluginFlyvemdmdemoAccountvalidation"

# GLPI's captcha limits per client IP: (captchas, within seconds) [F1].
CAPTCHA_LIMITS = ((6, 300), (15, 900), (20, 3600))
# The name of the captcha budget among the connection's reservations.
CAPTCHA_BUDGET = "captcha"
# Added to a computed wait: the portal's clock and GLPI's are not the same clock.
CAPTCHA_WAIT_MARGIN_SECONDS = 2.0
# How long to wait when GLPI itself says "Too many captcha requests" (someone else shares the IP).
CAPTCHA_REFUSED_WAIT_SECONDS = 300.0

# GLPI error codes that mean the connection (token, app token, rights, plugin) needs a person.
CONFIGURATION_CODES = frozenset(
    {
        "ERROR_LOGIN_PARAMETERS_MISSING",
        "ERROR_GLPI_LOGIN_USER_TOKEN",
        "ERROR_GLPI_LOGIN",
        "ERROR_SESSION_TOKEN_MISSING",
        "ERROR_SESSION_TOKEN_INVALID",
        "ERROR_APP_TOKEN_PARAMETERS_MISSING",
        "ERROR_WRONG_APP_TOKEN_PARAMETER",
        "ERROR_RIGHT_MISSING",
        "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM",
        "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM",
    }
)
CONFIGURATION_HINTS = {
    "ERROR_GLPI_LOGIN_USER_TOKEN": " (check the user token, and that the service account is active)",
    "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM": " (is the Flyve MDM demo plugin installed and enabled?)",
    "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM": " (is the Flyve MDM demo plugin installed and enabled?)",
}
DOCUMENTATION_SUFFIX = re.compile(r";\s*view documentation in your browser at .*$", re.DOTALL)

# The plugin's own messages on ERROR_GLPI_ADD / ERROR_GLPI_UPDATE [F1][F4][F5].
# GLPI's words for a captcha answer it refuses, and what they mean (its own words kept at the end)
CAPTCHA_FAILURES = {
    "Turing test not specified": "GLPI received no captcha answer; it said: Turing test not specified.",
    "Turing test not found": "GLPI no longer knows this captcha (expired or already used); it said: Turing test not found.",
    "Turing test failed": "The captcha answer was wrong; GLPI said: Turing test failed.",
}
CAPTCHA_GONE = CAPTCHA_FAILURES["Turing test not found"]
TOO_MANY_CAPTCHAS = "Too many captcha requests"
ALREADY_REGISTERED = "An entity already exists for your email. You probably already have an account."
INVALID_EMAIL = "Email address is not valid"
NO_PERMISSION = "You don't have permission to perform this action."
VALIDATION_EXPIRED = "Validation token expired"
VALIDATION_INVALID = frozenset({"Validation token missing", "Validation token is invalid"})

# The validation link of the email; the id and token are also accepted on their own.
VALIDATION_LINK = re.compile(r"#!/account/(?P<id>\d+)/validation/(?P<token>[^/?#\s]+)/?$")
VALIDATION_TOKEN = re.compile(r"^[a-f0-9]{64}$")
# GLPI's captcha phrases are 5 characters; anything this long is not an answer
CAPTCHA_ANSWER_MAX_LENGTH = 50

# Characters of generated passwords; the symbols are GLPI "\W" characters and JSON-safe.
PASSWORD_SYMBOLS = "!#$%&*+-=?@^~."
PASSWORD_LENGTH = 20
POLICY_KEYS = (
    "use_password_security",
    "password_min_length",
    "password_need_number",
    "password_need_letter",
    "password_need_caps",
    "password_need_symbol",
)


def clean_message(message: Any) -> str:
    """GLPI's message without the "; view documentation ..." tail some errors carry."""
    if isinstance(message, list):  # an add/update of several items: the messages of each
        message = "; ".join(str(item.get("message", "")) for item in message if isinstance(item, dict))
    return DOCUMENTATION_SUFFIX.sub("", str(message or "")).strip()


def error_for_glpi(status: int, code: str, message: str, *, retry_after: float | None = None) -> ProviderError:
    """Map one GLPI error (HTTP status, ``ERROR_...`` code, message) onto the error taxonomy.

    The plugin's messages on ``ERROR_GLPI_ADD``/``UPDATE`` are kept verbatim: staff see them.
    """
    if status >= 500:
        return TransientError(f"GLPI answered {status}: {message or 'server error'}", retry_after=retry_after)
    if status == 429:
        return RateLimited(message or "Too many requests", retry_after=retry_after)
    if code in CONFIGURATION_CODES:
        hint = CONFIGURATION_HINTS.get(code, "")
        return ConfigurationError(f"GLPI refused the service account: {message}{hint} [{code}]", code="configuration")
    if code in ("ERROR_GLPI_ADD", "ERROR_GLPI_UPDATE"):
        if message in CAPTCHA_FAILURES:
            return Rejected(CAPTCHA_FAILURES[message], code="captcha_failed")
        if message == TOO_MANY_CAPTCHAS:
            return RateLimited(message, retry_after=CAPTCHA_REFUSED_WAIT_SECONDS, code="captcha_rate_limited")
        if message == ALREADY_REGISTERED:
            return AlreadyExists(message)
        if message == INVALID_EMAIL or message.startswith("Password"):
            return InvalidInput(message)
        if message == VALIDATION_EXPIRED:
            return Rejected(message, code="validation_expired")
        if message in VALIDATION_INVALID:
            return Rejected(message, code="validation_invalid")
        if message == NO_PERMISSION:
            return ConfigurationError(f"GLPI refused the service account: {message} [{code}]")
        return Rejected(message or f"GLPI refused the request [{code}]")
    if code == "ERROR_ITEM_NOT_FOUND":
        return NotFound(message or "Item not found")
    label = f"{message} [{code}]" if code else (message or f"HTTP {status}")
    return error_for_status(status, label, retry_after=retry_after)


def parse_validation_link(text: str) -> tuple[int, str] | None:
    """``(validation id, token)`` from an email's link (or any text holding its fragment)."""
    found = VALIDATION_LINK.search(text or "")
    return (int(found["id"]), found["token"]) if found else None


def generate_password(policy: dict | None = None) -> str:
    """A random password that satisfies any GLPI password policy, the stored one's length included.

    It always has a digit, a lowercase and an uppercase letter and a symbol, so whichever of
    GLPI's requirements are on, it passes.
    """
    length = max(PASSWORD_LENGTH, int((policy or {}).get("password_min_length") or 0))
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SYMBOLS)
    alphabet = "".join(classes)
    chosen = [secrets.choice(chars) for chars in classes]
    chosen += [secrets.choice(alphabet) for _ in range(length - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


def password_policy(config: dict) -> dict:
    """The password policy keys of ``getGlpiConfig``'s answer, as ints (GLPI sends 0/1 flags)."""
    values = config.get("cfg_glpi", config) if isinstance(config, dict) else {}
    policy = {}
    for key in POLICY_KEYS:
        try:
            policy[key] = int(values.get(key) or 0)
        except (TypeError, ValueError):
            policy[key] = 0
    return policy


def describe_policy(policy: dict) -> str:
    if not policy.get("use_password_security"):
        return "GLPI's password policy is off"
    needs = [
        label
        for key, label in (
            ("password_need_number", "a digit"),
            ("password_need_letter", "a lowercase letter"),
            ("password_need_caps", "an uppercase letter"),
            ("password_need_symbol", "a symbol"),
        )
        if policy.get(key)
    ]
    text = f"GLPI's password policy: at least {policy.get('password_min_length', 0)} characters"
    return text + (f", with {', '.join(needs)}" if needs else "")


class GlpiClient(ProviderClient):
    """GLPI REST API: session tokens, ``["ERROR_...", "message"]`` error arrays.

    ``Content-Type: application/json`` goes on every request, GETs included (the docs require it);
    ``App-Token`` when the connection has one; ``Authorization: user_token ...`` to open a
    session, ``Session-Token`` afterwards.
    """

    provider_name = "GLPI"
    secret_names = frozenset({"_validate", "session_token", "user_token", "app_token"})
    request_id_header = "X-GLPI-Request-ID"  # GLPI sends none; nothing is recorded

    def __init__(self, connection, call_log=None):
        super().__init__(connection, call_log)
        self.session_token: str | None = None

    def authenticate(self, request: requests.PreparedRequest) -> None:
        request.headers["Content-Type"] = "application/json"
        if self.credentials.get("app_token"):
            request.headers["App-Token"] = self.credentials["app_token"]
        if self.session_token:
            request.headers["Session-Token"] = self.session_token
        else:
            request.headers["Authorization"] = f"user_token {self.credentials.get('user_token', '')}"

    def error_for(self, response: requests.Response, data: Any) -> ProviderError | None:
        """An error status with GLPI's ``["ERROR_...", "message"]`` array (or any other JSON)."""
        if response.status_code < 400:
            return None
        code, message = "", ""
        if isinstance(data, list) and len(data) >= 2 and isinstance(data[0], str):
            code, message = data[0], clean_message(data[1])
        return error_for_glpi(response.status_code, code, message, retry_after=self.retry_after(response))

    # --- session --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def service_session(self) -> Iterator[GlpiClient]:
        """A service-account session for the block, killed afterwards whatever happens."""
        self.init_session()
        try:
            yield self
        finally:
            self.kill_session()

    def init_session(self) -> None:
        body = self.request("GET", "/initSession", shape=dict).data
        token = body.get("session_token")
        if not token:
            raise TransientError("GLPI opened no session (no session_token in its answer).")
        self.redactor.add_values(str(token))
        self.session_token = str(token)

    def kill_session(self) -> None:
        """Close the session; a failure is logged (and recorded), never raised over the result."""
        if not self.session_token:
            return
        try:
            self.request("GET", "/killSession", expect="empty")
        except ProviderError as err:
            logger.warning("GLPI killSession failed on connection %s: %s", self.connection.pk, err.code)
        finally:
            self.session_token = None

    # --- endpoints ------------------------------------------------------------------------------
    def create_captcha(self) -> int:
        """A new captcha. Its ``input`` holds a field GLPI ignores, as the plugin's documentation
        sends it: GLPI's add can mishandle an empty ``input`` (older versions skip preparing one)."""
        response = self.request("POST", f"/{CAPTCHA_ITEMTYPE}", json_body={"input": {"a": "a"}}, shape=dict)
        return self._created_id(response, "captcha")

    def captcha_image(self, captcha_id: int) -> bytes:
        response = self.request("GET", f"/{CAPTCHA_ITEMTYPE}/{captcha_id}", params={"alt": "media"}, expect="bytes")
        content_type = response.headers.get("Content-Type", "")
        if not response.content.startswith(b"\xff\xd8") or "image/" not in content_type:
            raise TransientError(f"GLPI did not send the captcha as an image (got {content_type or 'no type'}).")
        return response.content

    def create_user(self, fields: dict) -> int | None:
        """Create the user; its GLPI id (``None`` when its JSON answer held none: it was created)."""
        response = self.request("POST", f"/{USER_ITEMTYPE}", json_body={"input": fields}, shape=dict)
        try:
            return self._created_id(response, "user")
        except ProviderError:
            return None

    def validate_account(self, validation_id: int, token: str) -> None:
        """Confirm the validation; a link GLPI refuses (its token, or an id it does not know: "Item
        not found") is ``validation_invalid``, which another attempt with it cannot change."""
        try:
            response = self.request(  # not idempotent: GLPI clears the token once it validated
                "PUT", f"/{VALIDATION_ITEMTYPE}/{validation_id}", json_body={"input": {"_validate": token}},
                idempotent=False,
            )
        except (Rejected, NotFound) as err:
            if err.code in ("validation_invalid", "validation_expired"):
                raise
            raise Rejected(f"GLPI has no validation {validation_id}: {err.message}", code="validation_invalid") from err
        body = response.data
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, dict) and item.get(str(validation_id)) is True:
                return
        message = clean_message(items) or "GLPI did not confirm the validation."
        raise Rejected(message, code="validation_invalid")

    def glpi_config(self) -> dict:
        return self.request("GET", "/getGlpiConfig", shape=dict).data

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _created_id(response: requests.Response, what: str) -> int:
        try:
            return int(response.data["id"])
        except (TypeError, KeyError, ValueError):
            raise TransientError(f"GLPI created the {what} but sent no id.") from None


class FlyveProvider(Provider):
    kind = "flyve"
    label = "Flyve MDM demo (GLPI)"
    deprovision_warning = (
        "Flyve MDM has no deprovision (GLPI's plugin offers no delete): these accounts are left as "
        "they are; remove the users in GLPI by hand."
    )
    client_class = GlpiClient
    operations = frozenset(
        {
            OperationKind.PROVISION,
            OperationKind.REFRESH_CAPTCHA,
            OperationKind.ANSWER_CAPTCHA,
            OperationKind.VALIDATE,
            OperationKind.HEALTH_CHECK,
            OperationKind.RECORD_CLOSED,
        }
    )
    credential_fields = (
        InputField("user_token", label="user token", secret=True, max_length=200,
                   help_text="The API token of the demo plugin's service account (GLPI user token)."),
        InputField("app_token", label="app token", required=False, secret=True, max_length=200,
                   help_text="The App-Token of GLPI's API client, when GLPI asks for one."),
    )
    input_fields = {
        OperationKind.ANSWER_CAPTCHA: (
            InputField("answer", label="captcha answer", secret=True, max_length=CAPTCHA_ANSWER_MAX_LENGTH,
                       help_text="The characters shown in the captcha image."),
            InputField("newsletter", BOOLEAN, required=False,
                       help_text="Whether the member subscribes to Flyve's newsletter (default: no)."),
        ),
        OperationKind.VALIDATE: (
            InputField("link", label="validation link", required=False, secret=True, max_length=2000,
                       help_text="The whole link of the activation email: …#!/account/<id>/validation/<token>. "
                       "It is enough on its own."),
            InputField("validation_id", INTEGER, label="validation id", required=False, min_value=1,
                       max_value=2**31 - 1, help_text="Instead of the link: the number after #!/account/."),
            InputField("token", required=False, secret=True, lowercase=True, pattern=r"[0-9a-fA-F]{64}",
                       pattern_message="The token is 64 hexadecimal characters (0-9, a-f).",
                       help_text="Instead of the link: the 64 characters after /validation/."),
        ),
    }
    base_url_example = "https://glpi.example.org/apirest.php"
    sandbox_api_path = "/apirest.php"

    client: GlpiClient

    @classmethod
    def sandbox_environment(cls, *, connection, portal_url: str) -> dict[str, str]:
        """The simulator's validation emails link to this connection's public page."""
        page = reverse("flyve-validation", kwargs={"connection_id": connection.pk})
        return {"SANDBOX_FLYVE_WEBAPP_URL": f"{portal_url.rstrip('/')}{page}"}

    external_id_member_fields = ("email",)

    def external_id_for(self, account) -> str:
        """The GLPI login: the member's email."""
        return account.member.email

    # --- input ------------------------------------------------------------------------------
    @classmethod
    def check_input(cls, kind: str, values: dict) -> dict:
        """``validate`` takes the email's link, or its id and token: kept as id and token."""
        if kind != OperationKind.VALIDATE:
            return values
        link = values.pop("link", None)
        if link is not None:
            parsed = parse_validation_link(unquote(link))
            if parsed is None or not VALIDATION_TOKEN.match(parsed[1].lower()):
                raise InputErrors({"link": [
                    "This is not a validation link: it should end in #!/account/<id>/validation/<64 hexadecimal "
                    "characters>."
                ]})
            link_id, link_token = parsed[0], parsed[1].lower()
            if values.get("validation_id", link_id) != link_id or values.get("token", link_token) != link_token:
                raise InputErrors({"non_field_errors": [
                    "The link and the id or token given with it disagree: give one or the other."
                ]})
            values["validation_id"], values["token"] = link_id, link_token
        if "validation_id" not in values or "token" not in values:
            raise InputErrors({"non_field_errors": [
                "Paste the validation link, or give both the validation id and the token."
            ]})
        if not VALIDATION_TOKEN.match(values["token"]):
            raise InputErrors({"token": ["The token is 64 hexadecimal characters (0-9, a-f)."]})
        return values

    @staticmethod
    def validation_pair(data: dict) -> tuple[int, str]:
        """``(validation id, token)`` from an operation's (checked) input."""
        return int(data["validation_id"]), str(data["token"]).lower()  # GLPI's are lowercase

    @classmethod
    def public_urls(cls) -> list:
        from . import flyve_page

        return [path("validate/flyve/<int:connection_id>/", flyve_page.flyve_validation, name="flyve-validation")]

    # --- captcha budget -------------------------------------------------------------------------
    def captcha_wait_seconds(self) -> float:
        """Seconds before this connection may ask for one more captcha within GLPI's limits (0: now).

        Counts the connection's captcha slots: one is reserved before each captcha POST and given
        back when GLPI refused it with a 4xx (nothing was created); a POST that got no answer keeps
        its slot, it may have created one.
        """
        return self._with_margin(self.client.call_log.budget_wait(CAPTCHA_BUDGET, CAPTCHA_LIMITS))

    @staticmethod
    def _with_margin(wait: float) -> float:
        return wait + CAPTCHA_WAIT_MARGIN_SECONDS if wait > 0 else 0.0

    def _budget_deferred(self, wait: float) -> Deferred:
        limits = ", ".join(f"{n} per {s // 60} min" for n, s in CAPTCHA_LIMITS)
        return Deferred(
            f"GLPI allows {limits} captchas from the portal's address: the next one can be asked "
            f"for in {wait:.0f} s, and will be then.",
            retry_after=wait,
            code="captcha_budget",
        )

    def _reserve_captcha(self) -> None:
        """Take one of the connection's captcha slots, in a short transaction of its own (atomic
        across workers, never open around a request); ``Deferred`` when none is free."""
        wait = self._with_margin(self.client.call_log.reserve(CAPTCHA_BUDGET, CAPTCHA_LIMITS))
        if wait:
            raise self._budget_deferred(wait)

    def _post_captcha(self) -> Outcome:
        """In an open session, with a captcha slot taken: a new captcha, as the outcome that shows
        it. The slot is given back when GLPI refused the POST with a 4xx (it created nothing); a
        POST that got no answer keeps it, it may have created one."""
        try:
            captcha_id = self.client.create_captcha()
        except ProviderError as err:
            if err.status_code and 400 <= err.status_code < 500:
                self.client.call_log.release(CAPTCHA_BUDGET)  # refused: GLPI created nothing
            raise
        image = self.client.captcha_image(captcha_id)
        return Outcome(
            account_status=AccountStatus.AWAITING_CAPTCHA,
            challenge_image=image,
            details={"captcha_id": captcha_id, "captcha_issued_at": timezone.now().isoformat()},
            result={"captcha_id": captcha_id},
        )

    def _new_captcha(self) -> Outcome:
        """In an open session: a new captcha within budget."""
        self._reserve_captcha()
        return self._post_captcha()

    def _captcha_outcome(self) -> Outcome:
        """A new captcha within budget, its slot taken before a session is opened for nothing: of
        two workers that both would see room for one more, the second is deferred without a
        request sent (so without an attempt used up). A session that did not open gives it back."""
        self._reserve_captcha()
        opened = False
        try:
            with self.client.service_session():
                opened = True
                return self._post_captcha()
        except BaseException:
            if not opened:
                self.client.call_log.release(CAPTCHA_BUDGET)  # no session: no captcha asked for
            raise

    # --- operations -----------------------------------------------------------------------------
    def provision(self, ctx: OperationContext) -> Outcome:
        outcome = self._captcha_outcome()
        outcome.external_id = ctx.member.email
        outcome.details["glpi_login"] = ctx.member.email
        return outcome

    def refresh_captcha(self, ctx: OperationContext) -> Outcome:
        return self._captcha_outcome()

    def answer_captcha(self, ctx: OperationContext) -> Outcome:
        data = {**ctx.input, **ctx.secret_input}
        captcha_id = ctx.account.details.get("captcha_id")
        stay = Outcome(account_status=AccountStatus.AWAITING_CAPTCHA)
        if not captcha_id:
            raise Rejected("There is no captcha to answer: ask for a new one.", code="no_captcha", outcome=stay)
        email = ctx.member.email
        password = generate_password(ctx.connection.provider_state.get("glpi_password_policy"))
        newsletter = "1" if str(data.get("newsletter", "0")).lower() not in ("0", "", "false", "none") else "0"
        fields = {
            "name": email,
            "password": password,
            "password2": password,
            "firstname": ctx.member.first_name,
            "realname": ctx.member.last_name,
            "_newsletter": newsletter,
            "_plugin_flyvemdmdemo_captchas_id": captcha_id,
            "_answer": str(data["answer"]).strip(),
        }
        creating = False
        try:
            with self.client.service_session():
                creating = True
                try:
                    user_id = self.client.create_user(fields)
                except ProviderError as err:
                    if err.code == "captcha_failed":
                        err.outcome = self._captcha_after_failure(captcha_id, err)
                    elif isinstance(err, AlreadyExists) and ctx.is_retry:
                        return self._created_by_an_earlier_attempt(email, newsletter)
                    raise
        except ProviderError as err:
            if not creating and err.outcome is None:
                err.outcome = stay  # nothing reached GLPI's user creation: the captcha still stands
            raise
        return Outcome(
            account_status=AccountStatus.AWAITING_VALIDATION,
            external_id=email,
            challenge_image=None,
            details={
                "glpi_user_id": user_id,
                "glpi_login": email,
                "newsletter": newsletter == "1",
                "captcha_id": None,
                "captcha_issued_at": None,
            },
            secrets={"password": password},
            result={"glpi_user_id": user_id},
        )

    def _captcha_after_failure(self, old_id: int, err: ProviderError) -> Outcome:
        """After a wrong answer: a fresh captcha; without budget, the same one redrawn."""
        try:
            return self._new_captcha()
        except ProviderError as fresh_err:
            logger.info("no fresh captcha after '%s' on connection %s: %s", err.message, self.connection.pk, fresh_err.code)
        if err.message == CAPTCHA_GONE:  # the old one is gone: nothing to show
            return Outcome(
                account_status=AccountStatus.AWAITING_CAPTCHA,
                challenge_image=None,
                details={"captcha_id": None, "captcha_issued_at": None},
            )
        try:
            image = self.client.captcha_image(old_id)  # same phrase, new noise: no new captcha used
        except ProviderError:
            return Outcome(account_status=AccountStatus.AWAITING_CAPTCHA)
        return Outcome(account_status=AccountStatus.AWAITING_CAPTCHA, challenge_image=image)

    def _created_by_an_earlier_attempt(self, email: str, newsletter: str) -> Outcome:
        """A retry after an unanswered creation finds the user there: it was (most likely) ours.

        Its password was in the lost attempt and is not known: staff must reset it in GLPI.
        """
        return Outcome(
            account_status=AccountStatus.AWAITING_VALIDATION,
            external_id=email,
            challenge_image=None,
            details={"glpi_login": email, "newsletter": newsletter == "1", "captcha_id": None, "captcha_issued_at": None},
            attention=(
                "GLPI already had this user when the creation was retried after an unanswered attempt: "
                "it was most likely created by that attempt, whose password the portal never received. "
                "Validate with the email's link, then reset the password in GLPI."
            ),
            result={"recovered": True},
        )

    def validate(self, ctx: OperationContext) -> Outcome:
        validation_id, token = self.validation_pair({**ctx.input, **ctx.secret_input})
        try:
            with self.client.service_session():
                self.client.validate_account(validation_id, token)
        except Rejected as err:
            if err.code == "validation_expired":
                # the registration's only link: it can no longer be completed (followups says what can)
                err.outcome = Outcome(account_status=AccountStatus.FAILED)
            if err.code != "validation_invalid" or not ctx.is_retry:
                raise
            # GLPI clears a validation's token once it is used: an earlier attempt whose answer was
            # lost may have validated the account, and this refusal cannot tell
            raise NeedsAttention(
                f"GLPI refused validation {validation_id} ({err.message}), but an earlier attempt may have "
                "sent it without receiving GLPI's answer, and GLPI accepts a validation only once. Ask the "
                "member to sign in to Flyve MDM: if they can, the account is validated (GLPI offers the "
                "portal no way to read that); if not, validate again with the link of a newer validation email."
            ) from None
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            details={"validation_id": validation_id, "validated_at": timezone.now().isoformat()},
            attention="",
            result={"validation_id": validation_id},
        )

    def health_check(self, ctx: OperationContext) -> Outcome:
        """The service account's session opened and closed, and GLPI's password policy read.

        ``getGlpiConfig`` is optional here (a GLPI that does not offer it, or not to this account,
        still registers people): then the policy is unknown, and the passwords the portal makes
        (long, with every class of character) satisfy any usual one."""
        unread = ""
        with self.client.service_session():
            try:
                config = self.client.glpi_config()
            except ProviderError as err:
                if err.retryable:  # GLPI unreachable, or asking to wait: the check fails
                    raise
                # its words are not shown: they would send a person after the plugin, which works
                config, unread = None, f"getGlpiConfig answered HTTP {err.status_code or '?'}"
        wait = self.captcha_wait_seconds()
        budget = f"next captcha in {wait:.0f} s" if wait else "captchas available"
        if config is None:
            detail = (f"Service account session opened and closed; GLPI did not give its password policy "
                      f"({unread}), so passwords are made to satisfy any usual one; {budget}.")
            return Outcome(health=(HealthStatus.OK, detail),
                           result={"password_policy": None, "captcha_wait_seconds": round(wait)})
        policy = password_policy(config)
        detail = f"Service account session opened and closed; {describe_policy(policy)}; {budget}."
        return Outcome(
            health=(HealthStatus.OK, detail),
            provider_state={"glpi_password_policy": policy},
            result={"password_policy": policy, "captcha_wait_seconds": round(wait)},
        )
