"""The GLPI + Flyve demo simulator keeps GLPI's contract: the plugin's own
integration scenarios (DemoAccountTest, CaptchaTest), rewritten against the sandbox."""

from __future__ import annotations

import base64
import io
import re

import pytest
import requests
from PIL import Image

from provisioning.sandbox.captcha import ALPHABET
from provisioning.sandbox.core import Request
from provisioning.sandbox.defaults import sandbox_credentials
from provisioning.sandbox.flyve import php_loose_equals

USER_TOKEN = sandbox_credentials()["flyve"]["user_token"]
JSON = {"Content-Type": "application/json"}


class Glpi:
    """A bare HTTP client of the simulated API (no portal code), for contract tests."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.api = f"{sandbox.url}/flyve/apirest.php"
        self.session_token = None

    def call(self, method, path, *, json=None, headers=None, params=None, session=True):
        sent = {**JSON, **(headers or {})}
        if session and self.session_token:
            sent.setdefault("Session-Token", self.session_token)
        return requests.request(method, f"{self.api}/{path}", json=json, headers=sent, params=params, timeout=5)

    def login(self):
        response = self.call("GET", "initSession", headers={"Authorization": f"user_token {USER_TOKEN}"}, session=False)
        assert response.status_code == 200, response.text
        self.session_token = response.json()["session_token"]
        return self.session_token

    def captcha(self) -> int:
        response = self.call("POST", "PluginFlyvemdmdemoCaptcha", json={"input": {}})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def phrase(self, captcha_id) -> str:
        return self.sandbox.app["flyve"].captcha_phrase(captcha_id)

    def register(self, email="jane@example.org", **overrides):
        captcha_id = self.captcha()
        fields = {"name": email, "password": "S3cure!pass", "password2": "S3cure!pass", "firstname": "Jane",
                  "realname": "Doe", "_newsletter": "0", "_plugin_flyvemdmdemo_captchas_id": captcha_id,
                  "_answer": self.phrase(captcha_id), **overrides}
        return self.call("POST", "PluginFlyvemdmdemoUser", json={"input": fields})

    def validate(self, validation_id, token, itemtype="PluginFlyvemdmdemoAccountValidation"):
        return self.call("PUT", f"{itemtype}/{validation_id}", json={"input": {"_validate": token}})


@pytest.fixture
def glpi(sandbox):
    client = Glpi(sandbox)
    client.login()
    return client


def last_email(sandbox):
    return [m for m in sandbox.control("GET", "outbox") if m["simulator"] == "flyve"][-1]


# --- sessions --------------------------------------------------------------------------------------

def test_init_session_with_the_user_token_in_the_header_or_the_query(sandbox):
    glpi = Glpi(sandbox)
    by_header = glpi.call("GET", "initSession", headers={"Authorization": f"user_token {USER_TOKEN}"})
    by_query = glpi.call("GET", "initSession", params={"user_token": USER_TOKEN})

    for response in (by_header, by_query):
        assert response.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{40}", response.json()["session_token"])
    assert sandbox.state("flyve")["open_sessions"] == 2


@pytest.mark.parametrize(
    ("headers", "status", "code", "message"),
    [
        ({}, 400, "ERROR_LOGIN_PARAMETERS_MISSING", "parameter(s) login, password or user_token are missing; view documentation in your browser at "),
        ({"Authorization": "user_token nope"}, 401, "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"),
        ({"Authorization": "Basic " + base64.b64encode(b"glpi:glpi").decode()}, 401, "ERROR_GLPI_LOGIN", "Incorrect username or password"),
    ],
)
def test_failed_logins_answer_glpis_error_arrays(sandbox, headers, status, code, message):
    response = Glpi(sandbox).call("GET", "initSession", headers=headers)

    assert response.status_code == status
    body = response.json()
    assert body[0] == code and body[1].startswith(message) and len(body) == 2


def test_an_inactive_service_account_cannot_log_in(sandbox):
    sandbox.control("POST", "flyve/settings", {"service_account_active": False})
    response = Glpi(sandbox).call("GET", "initSession", headers={"Authorization": f"user_token {USER_TOKEN}"})
    assert (response.status_code, response.json()[0]) == (401, "ERROR_GLPI_LOGIN_USER_TOKEN")


def test_kill_session_answers_an_empty_200_and_the_token_is_dead_afterwards(sandbox, glpi):
    killed = glpi.call("GET", "killSession")
    again = glpi.call("GET", "getGlpiConfig")

    assert (killed.status_code, killed.content) == (200, b"")
    assert again.status_code == 401
    assert again.json() == ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"]
    state = sandbox.state("flyve")
    assert (state["open_sessions"], state["sessions_opened"], state["sessions_killed"]) == (0, 1, 1)


def test_calls_without_a_session_token(sandbox):
    response = Glpi(sandbox).call("GET", "getGlpiConfig")
    assert response.status_code == 400
    assert response.json()[0] == "ERROR_SESSION_TOKEN_MISSING"
    assert "view documentation in your browser at" in response.json()[1]


def test_sessions_expire_on_the_sandbox_clock(sandbox, glpi):
    sandbox.control("POST", "clock", {"advance_seconds": 1441})
    assert glpi.call("GET", "getGlpiConfig").status_code == 401
    assert sandbox.state("flyve")["open_sessions"] == 0


def test_the_app_token_is_checked_on_every_call_when_configured(sandbox):
    sandbox.control("POST", "flyve/settings", {"app_token": "APP-1"})
    glpi = Glpi(sandbox)
    login = {"Authorization": f"user_token {USER_TOKEN}"}

    missing = glpi.call("GET", "initSession", headers=login)
    wrong = glpi.call("GET", "initSession", headers={**login, "App-Token": "APP-2"})
    right = glpi.call("GET", "initSession", headers={**login, "App-Token": "APP-1"})
    later = glpi.call("GET", "getGlpiConfig", headers={"Session-Token": right.json()["session_token"]})

    assert (missing.status_code, missing.json()[0]) == (400, "ERROR_APP_TOKEN_PARAMETERS_MISSING")
    assert (wrong.status_code, wrong.json()[0]) == (400, "ERROR_WRONG_APP_TOKEN_PARAMETER")
    assert right.status_code == 200
    assert (later.status_code, later.json()[0]) == (400, "ERROR_APP_TOKEN_PARAMETERS_MISSING")


def test_get_requests_must_not_carry_a_body_and_bodies_must_be_json(sandbox, glpi):
    get_with_body = requests.get(f"{glpi.api}/getGlpiConfig", data=b'{"a": 1}',
                                 headers={**JSON, "Session-Token": glpi.session_token}, timeout=5)
    bad_json = requests.post(f"{glpi.api}/PluginFlyvemdmdemoCaptcha", data=b"{nope",
                             headers={**JSON, "Session-Token": glpi.session_token}, timeout=5)
    no_input = glpi.call("POST", "PluginFlyvemdmdemoCaptcha", json={"a": "a"})

    assert get_with_body.json()[0] == "ERROR_JSON_PAYLOAD_FORBIDDEN"
    assert bad_json.json()[0] == "ERROR_JSON_PAYLOAD_INVALID"
    assert (no_input.status_code, no_input.json()[0]) == (400, "ERROR_BAD_ARRAY")


def test_unknown_itemtypes(glpi):
    response = glpi.call("POST", "NotAnItemtype", json={"input": {}})
    assert (response.status_code, response.json()[0]) == (400, "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM")


def test_get_glpi_config_gives_the_password_policy(sandbox, glpi):
    sandbox.control("POST", "flyve/settings", {"use_password_security": True, "password_min_length": 12})
    config = glpi.call("GET", "getGlpiConfig").json()["cfg_glpi"]
    assert config["use_password_security"] == 1 and config["password_min_length"] == 12
    assert config["password_need_symbol"] == 1


# --- captchas --------------------------------------------------------------------------------------

def test_a_captcha_is_created_with_201_and_a_location(glpi):
    for body in ({"input": {}}, {"input": {"a": "a"}}):  # the dashboard's and the how-to's
        response = glpi.call("POST", "PluginFlyvemdmdemoCaptcha", json=body)
        assert response.status_code == 201
        assert response.json()["message"] == ""
        assert response.headers["Location"].endswith(f"/apirest.php/PluginFlyvemdmdemoCaptcha/{response.json()['id']}")


def test_the_captcha_image_is_a_150x40_jpeg_redrawn_on_every_get(sandbox, glpi):
    captcha_id = glpi.captcha()

    first = glpi.call("GET", f"PluginFlyvemdmdemoCaptcha/{captcha_id}", params={"alt": "media"})
    second = glpi.call("GET", f"PluginFlyvemdmdemoCaptcha/{captcha_id}", headers={"Accept": "application/octet-stream"})

    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Cache-control"] == "private, must-revalidate"
        image = Image.open(io.BytesIO(response.content))
        assert (image.format, image.size) == ("JPEG", (150, 40))
    assert first.content != second.content  # same phrase, new noise
    phrase = glpi.phrase(captcha_id)
    assert len(phrase) == 5 and set(phrase) <= set(ALPHABET)
    assert {"id": captcha_id, "phrase": phrase} in [
        {"id": c["id"], "phrase": c["phrase"]} for c in sandbox.state("flyve")["captchas"]
    ]


def test_the_captcha_as_json_is_never_disclosed(glpi):
    captcha_id = glpi.captcha()
    response = glpi.call("GET", f"PluginFlyvemdmdemoCaptcha/{captcha_id}")
    assert (response.status_code, response.json()[0]) == (401, "ERROR_RIGHT_MISSING")
    missing = glpi.call("GET", "PluginFlyvemdmdemoCaptcha/999", params={"alt": "media"})
    assert missing.status_code == 404 and missing.json() == ["ERROR_ITEM_NOT_FOUND", "Item not found"]


def test_the_seventh_captcha_within_five_minutes_is_refused(sandbox, glpi):
    for _ in range(6):
        glpi.captcha()

    refused = glpi.call("POST", "PluginFlyvemdmdemoCaptcha", json={"input": {}})

    assert refused.status_code == 400
    assert refused.json() == ["ERROR_GLPI_ADD", "Too many captcha requests"]
    sandbox.control("POST", "clock", {"advance_seconds": 301})
    assert glpi.call("POST", "PluginFlyvemdmdemoCaptcha", json={"input": {}}).status_code == 201


def test_the_longer_captcha_windows(sandbox, glpi):
    made = []
    for _ in range(4):  # six attempts every five minutes and a second
        made.append(sum(glpi.call("POST", "PluginFlyvemdmdemoCaptcha", json={"input": {}}).status_code == 201
                        for _ in range(6)))
        sandbox.control("POST", "clock", {"advance_seconds": 301})
    # the third round meets 15 per 15 minutes; the fourth, with the first round out of that
    # window, meets 20 per hour
    assert made == [6, 6, 3, 5]


def test_the_captcha_limit_is_per_client_ip(sandbox, glpi):
    for _ in range(6):
        glpi.captcha()
    simulator = sandbox.app["flyve"]
    request = Request(method="POST", path="/apirest.php/PluginFlyvemdmdemoCaptcha", raw_path="", query_string="",
                      headers={**JSON, "Session-Token": glpi.session_token}, body=b'{"input": {}}',
                      client_ip="10.0.0.2", root_url=sandbox.url, mount="/flyve")
    assert simulator.handle(request).status == 201


def test_captchas_are_deleted_after_an_hour(sandbox, glpi):
    captcha_id = glpi.captcha()
    sandbox.control("POST", "clock", {"advance_seconds": 3601})
    glpi.login()
    response = glpi.register(_plugin_flyvemdmdemo_captchas_id=captcha_id, _answer="abcde")
    assert response.json() == ["ERROR_GLPI_ADD", "Turing test not found"]


# --- users, in the plugin's order of checks --------------------------------------------------------

def test_a_registration_creates_the_user_and_emails_the_validation_link(sandbox, glpi):
    response = glpi.register()

    assert response.status_code == 201
    assert response.json()["message"] == ""
    user_id = response.json()["id"]
    assert response.headers["Location"].endswith(f"/PluginFlyvemdmdemoUser/{user_id}")
    email = last_email(sandbox)
    assert (email["channel"], email["to"], email["subject"]) == ("email", "jane@example.org", "Flyve MDM Account Activation")
    validation_id, token = email["data"]["validation_id"], email["data"]["token"]
    assert validation_id != user_id and re.fullmatch(r"[0-9a-f]{64}", token)
    assert f"http://127.0.0.1:8000/validate/flyve/1/#!/account/{validation_id}/validation/{token}" in email["body"]
    assert "jane@example.org" in sandbox.state("flyve")["users"]


def test_the_webapp_url_of_the_link_is_a_setting(sandbox, glpi):
    sandbox.control("POST", "flyve/settings", {"webapp_url": "http://portal.test/validate/flyve/9/"})
    glpi.register()
    assert last_email(sandbox)["data"]["link"].startswith("http://portal.test/validate/flyve/9/#!/account/")


@pytest.mark.parametrize(
    ("settings", "fields", "message"),
    [
        ({}, {"password2": "other"}, "Passwords are different"),
        ({"use_password_security": True}, {"password": "short", "password2": "short"}, "Password must include at least a symbol!"),
        ({"use_password_security": True}, {"password": "Long-enough1", "password2": "Long-enough1", "name": "x"}, "Email address is not valid"),
        ({"use_password_security": True, "password_need_symbol": False}, {"password": "abcdefgh1", "password2": "abcdefgh1"},
         "Password must include at least a uppercase letter!"),
        ({"use_password_security": True, "password_min_length": 30}, {"password": "Abcdefgh1!", "password2": "Abcdefgh1!"},
         "Password too short!"),
        ({}, {"name": "not an email", "_answer": None}, "Email address is not valid"),
        ({}, {"_answer": None}, "Turing test not specified"),
        ({}, {"_plugin_flyvemdmdemo_captchas_id": 999}, "Turing test not found"),
        ({}, {"_answer": "zzzzz0"}, "Turing test failed"),
        ({}, {"_answer": ""}, "Turing test failed"),
        ({"inactive_profile_configured": False}, {}, "No inactive profile available to setup user rights"),
        ({"fail_default_fleet": True}, {}, "Failed to create default fleet"),
    ],
)
def test_registration_checks_in_the_plugins_order_with_its_messages(sandbox, glpi, settings, fields, message):
    if settings:
        sandbox.control("POST", "flyve/settings", settings)

    response = glpi.register(**fields)

    assert response.status_code == 400
    assert response.json() == ["ERROR_GLPI_ADD", message]
    assert sandbox.state("flyve")["users"] == []


def test_the_captcha_answer_is_case_sensitive_and_the_captcha_is_not_consumed(sandbox, glpi):
    captcha_id = glpi.captcha()
    phrase = glpi.phrase(captcha_id)
    common = {"_plugin_flyvemdmdemo_captchas_id": captcha_id}
    if phrase.upper() != phrase:
        assert glpi.register(_answer=phrase.upper(), **common).json()[1] == "Turing test failed"
    assert glpi.register(_answer=phrase, **common).status_code == 201
    assert glpi.register("john@example.org", _answer=phrase, **common).status_code == 201


def test_a_second_registration_of_an_email_is_refused(glpi):
    assert glpi.register().status_code == 201
    assert glpi.register().json() == [
        "ERROR_GLPI_ADD", "An entity already exists for your email. You probably already have an account."
    ]


def test_without_demo_mode_no_validation_email_is_sent(sandbox, glpi):
    sandbox.control("POST", "flyve/settings", {"demo_mode": False})
    assert glpi.register().status_code == 201
    assert not [m for m in sandbox.control("GET", "outbox") if m["simulator"] == "flyve"]


def test_php_loose_equality_of_answers():
    assert php_loose_equals("ab1cd", "ab1cd") and not php_loose_equals("ab1cd", "AB1CD")
    assert php_loose_equals("12345", "12345.0")  # numeric strings compare as numbers
    assert not php_loose_equals("abcde", "")


# --- account validation ----------------------------------------------------------------------------

def test_validation_activates_once_and_a_second_use_is_invalid(sandbox, glpi):
    glpi.register()
    data = last_email(sandbox)["data"]

    first = glpi.validate(data["validation_id"], data["token"])
    second = glpi.validate(data["validation_id"], data["token"])

    assert first.status_code == 200
    assert first.json() == [{str(data["validation_id"]): True, "message": ""}]
    assert second.status_code == 400
    assert second.json() == ["ERROR_GLPI_UPDATE", "Validation token is invalid"]
    account = sandbox.state("flyve")["accounts"][0]
    assert account["profile"] == "registered" and account["date_end_trial"]
    assert last_email(sandbox)["subject"] == "Get started with Flyve MDM"


def test_the_id_may_go_inside_the_input(sandbox, glpi):
    glpi.register()
    data = last_email(sandbox)["data"]
    response = glpi.call("PUT", "PluginFlyvemdmdemoAccountvalidation",
                         json={"input": {"id": data["validation_id"], "_validate": data["token"]}})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("token", "message"),
    [("", "Validation token missing"), ("0" * 64, "Validation token is invalid"), ("ABC", "Validation token is invalid")],
)
def test_bad_validation_tokens(sandbox, glpi, token, message):
    glpi.register()
    response = glpi.validate(last_email(sandbox)["data"]["validation_id"], token)
    assert (response.status_code, response.json()) == (400, ["ERROR_GLPI_UPDATE", message])


def test_validation_tokens_expire_after_a_day(sandbox, glpi):
    glpi.register()
    data = last_email(sandbox)["data"]
    sandbox.control("POST", "clock", {"advance_seconds": 86401})
    glpi.login()

    response = glpi.validate(data["validation_id"], data["token"])

    assert response.json() == ["ERROR_GLPI_UPDATE", "Validation token expired"]


def test_unvalidated_registrations_are_removed_after_two_days(sandbox, glpi):
    glpi.register()
    sandbox.control("POST", "clock", {"advance_seconds": 2 * 86400 + 1})
    state = sandbox.state("flyve")
    assert state["users"] == [] and state["validations"] == []
    glpi.login()
    assert glpi.register().status_code == 201  # the email can register again


def test_an_unknown_validation(glpi):
    response = glpi.validate(999, "a" * 64)
    assert (response.status_code, response.json()) == (400, ["ERROR_GLPI_UPDATE", "Item not found"])


def test_the_snapshot_shows_no_secret(sandbox, glpi):
    glpi.register()
    text = str(sandbox.state("flyve"))
    assert last_email(sandbox)["data"]["token"] not in text
    assert USER_TOKEN not in text and "S3cure!pass" not in text
    assert glpi.session_token not in text
    assert sandbox.state("flyve")["requests_without_json_content_type"] == 0
