"""The GLPI client against GLPI's golden bodies and every error string of the plugin."""

from __future__ import annotations

import json

import pytest

from provisioning.providers import exceptions as e
from provisioning.providers.flyve import (
    GlpiClient,
    error_for_glpi,
    generate_password,
    parse_validation_link,
    password_policy,
)
from provisioning.providers.http import NullCallLog
from tests.providers.flyve_support import BASE, SESSION_TOKEN, TOKEN, USER_TOKEN, flyve_connection

DOC = "; view documentation in your browser at http://glpi.test/apirest.php/#"

# (HTTP status, GLPI body) -> (taxonomy class, code, message staff see), for every error in §3.
ERRORS = [
    # transport and session (§3.2)
    (400, ["ERROR_LOGIN_PARAMETERS_MISSING", "parameter(s) login, password or user_token are missing" + DOC + "ERROR_LOGIN_PARAMETERS_MISSING"],
     e.ConfigurationError, "configuration", "parameter(s) login, password or user_token are missing"),
    (401, ["ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"],
     e.ConfigurationError, "configuration", "parameter user_token seems invalid"),
    (401, ["ERROR_GLPI_LOGIN", "Incorrect username or password"],
     e.ConfigurationError, "configuration", "Incorrect username or password"),
    (400, ["ERROR_SESSION_TOKEN_MISSING", "parameter session_token is missing or empty" + DOC + "ERROR_SESSION_TOKEN_MISSING"],
     e.ConfigurationError, "configuration", "parameter session_token is missing or empty"),
    (401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"],
     e.ConfigurationError, "configuration", "session_token seems invalid"),
    (400, ["ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token" + DOC + "ERROR_APP_TOKEN_PARAMETERS_MISSING"],
     e.ConfigurationError, "configuration", "missing parameter app_token"),
    (400, ["ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong" + DOC + "ERROR_WRONG_APP_TOKEN_PARAMETER"],
     e.ConfigurationError, "configuration", "parameter app_token seems wrong"),
    (400, ["ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found or not an instance of CommonDBTM" + DOC + "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM"],
     e.ConfigurationError, "configuration", "resource not found or not an instance of CommonDBTM"),
    (400, ["ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", "itemtype not found or not an instance of CommonDBTM"],
     e.ConfigurationError, "configuration", "itemtype not found or not an instance of CommonDBTM"),
    (404, ["ERROR_ITEM_NOT_FOUND", "Item not found"], e.NotFound, "not_found", "Item not found"),
    (401, ["ERROR_RIGHT_MISSING", "You don't have permission to perform this action."],
     e.ConfigurationError, "configuration", "You don't have permission to perform this action."),
    (400, ["ERROR_GLPI_UPDATE", "You don't have permission to perform this action."],
     e.ConfigurationError, "configuration", "You don't have permission to perform this action."),
    (400, ["ERROR_BAD_ARRAY", "input parameter must be an array of objects" + DOC + "ERROR_BAD_ARRAY"],
     e.InvalidInput, "invalid_input", "input parameter must be an array of objects"),
    (400, ["ERROR_JSON_PAYLOAD_FORBIDDEN", "GET Request should not have json payload (http body)"],
     e.InvalidInput, "invalid_input", "GET Request should not have json payload (http body)"),
    (400, ["ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid"],
     e.InvalidInput, "invalid_input", "JSON payload seems not valid"),
    # captcha (§3.4)
    (400, ["ERROR_GLPI_ADD", "Too many captcha requests"], e.RateLimited, "captcha_rate_limited", "Too many captcha requests"),
    (400, ["ERROR_GLPI_ADD", "Turing test not specified"], e.Rejected, "captcha_failed",
     "GLPI received no captcha answer; it said: Turing test not specified."),
    (400, ["ERROR_GLPI_ADD", "Turing test not found"], e.Rejected, "captcha_failed",
     "GLPI no longer knows this captcha (expired or already used); it said: Turing test not found."),
    (400, ["ERROR_GLPI_ADD", "Turing test failed"], e.Rejected, "captcha_failed",
     "The captcha answer was wrong; GLPI said: Turing test failed."),
    # user creation, in the plugin's order (§3.5)
    (400, ["ERROR_GLPI_ADD", "Passwords are different"], e.InvalidInput, "invalid_input", "Passwords are different"),
    (400, ["ERROR_GLPI_ADD", "Password too short!"], e.InvalidInput, "invalid_input", "Password too short!"),
    (400, ["ERROR_GLPI_ADD", "Password must include at least a digit!"], e.InvalidInput, "invalid_input",
     "Password must include at least a digit!"),
    (400, ["ERROR_GLPI_ADD", "Password must include at least a lowercase letter!"], e.InvalidInput, "invalid_input",
     "Password must include at least a lowercase letter!"),
    (400, ["ERROR_GLPI_ADD", "Password must include at least a uppercase letter!"], e.InvalidInput, "invalid_input",
     "Password must include at least a uppercase letter!"),
    (400, ["ERROR_GLPI_ADD", "Password must include at least a symbol!"], e.InvalidInput, "invalid_input",
     "Password must include at least a symbol!"),
    (400, ["ERROR_GLPI_ADD", "Email address is not valid"], e.InvalidInput, "invalid_input", "Email address is not valid"),
    (400, ["ERROR_GLPI_ADD", "No inactive profile available to setup user rights"], e.Rejected, "rejected",
     "No inactive profile available to setup user rights"),
    (400, ["ERROR_GLPI_ADD", "An entity already exists for your email. You probably already have an account."],
     e.AlreadyExists, "already_exists", "An entity already exists for your email. You probably already have an account."),
    (400, ["ERROR_GLPI_ADD", "Failed to create default fleet"], e.Rejected, "rejected", "Failed to create default fleet"),
    # account validation (§3.6)
    (400, ["ERROR_GLPI_UPDATE", "Validation token missing"], e.Rejected, "validation_invalid", "Validation token missing"),
    (400, ["ERROR_GLPI_UPDATE", "Validation token is invalid"], e.Rejected, "validation_invalid", "Validation token is invalid"),
    (400, ["ERROR_GLPI_UPDATE", "Validation token expired"], e.Rejected, "validation_expired", "Validation token expired"),
    (400, ["ERROR_GLPI_UPDATE", "Failed to find your account"], e.Rejected, "rejected", "Failed to find your account"),
    # server trouble
    (500, ["ERROR", "Internal error"], e.TransientError, "transient", "Internal error"),
    # a gateway's HTML page: the base client's one rule for answers that are not JSON
    (503, None, e.TransientError, "transient", "GLPI answered HTTP 503 with a body that is not JSON"),
]


@pytest.fixture
def connection(db):
    return flyve_connection()


@pytest.fixture
def client(connection):
    return GlpiClient(connection, NullCallLog())


@pytest.mark.parametrize(("status", "body", "error_class", "code", "message"), ERRORS, ids=[str(row[1]) for row in ERRORS])
def test_every_glpi_error_maps_onto_the_taxonomy_with_its_message(client, http, status, body, error_class, code, message):
    http.add("GET", f"{BASE}/initSession", status=status, **({"json": body} if body is not None else {"body": "<html>"}))

    with pytest.raises(e.ProviderError) as raised:
        client.init_session()

    assert type(raised.value) is error_class
    assert raised.value.code == code
    assert message in raised.value.message
    assert "view documentation" not in raised.value.message


def test_plugin_messages_on_add_and_update_are_kept_verbatim_for_staff():
    for text in ("Email address is not valid", "Validation token expired", "Failed to create default fleet"):
        assert error_for_glpi(400, "ERROR_GLPI_ADD", text).message == text
    # a refused captcha answer is said in words, GLPI's own kept at the end
    assert error_for_glpi(400, "ERROR_GLPI_ADD", "Turing test failed").message == (
        "The captcha answer was wrong; GLPI said: Turing test failed."
    )


def test_too_many_captchas_from_glpi_waits_before_trying_again():
    error = error_for_glpi(400, "ERROR_GLPI_ADD", "Too many captcha requests")
    assert error.retryable and error.retry_after >= 60


def test_init_session_sends_the_user_token_and_json_content_type(client, glpi):
    client.init_session()

    sent = glpi.requests("GET", "initSession")[0]
    assert sent.headers["Authorization"] == f"user_token {USER_TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert not sent.body
    assert "App-Token" not in sent.headers
    assert client.session_token == SESSION_TOKEN


def test_the_app_token_goes_on_every_request_when_the_connection_has_one(connection, glpi):
    connection.credentials = {"user_token": USER_TOKEN, "app_token": "APP-TOKEN-1234"}
    client = GlpiClient(connection, NullCallLog())

    with client.service_session():
        client.captcha_image(client.create_captcha())

    assert [r.headers.get("App-Token") for r in glpi.requests()] == ["APP-TOKEN-1234"] * 4


def test_every_call_in_a_session_carries_the_session_token_and_json_content_type(client, glpi):
    with client.service_session():
        captcha_id = client.create_captcha()
        client.captcha_image(captcha_id)

    init, create, image, kill = glpi.requests()
    for sent in (create, image, kill):
        assert sent.headers["Session-Token"] == SESSION_TOKEN
        assert sent.headers["Content-Type"] == "application/json"
        assert "Authorization" not in sent.headers
    assert json.loads(create.body) == {"input": {"a": "a"}}  # as documented: GLPI can mishandle an empty input
    assert image.url.endswith(f"/PluginFlyvemdmdemoCaptcha/{captcha_id}?alt=media")
    assert "octet-stream" not in create.headers.get("Accept", "")  # would make GLPI answer an image
    assert not image.body and not kill.body  # GETs carry no body (ERROR_JSON_PAYLOAD_FORBIDDEN)


def test_the_session_is_killed_when_the_block_fails(client, glpi):
    glpi.error("captcha", "ERROR_GLPI_ADD", "Too many captcha requests")

    with pytest.raises(e.RateLimited):
        with client.service_session():
            client.create_captcha()

    assert glpi.sessions_opened == glpi.sessions_killed == 1
    assert client.session_token is None


def test_a_failing_kill_session_does_not_hide_the_result(client, glpi):
    glpi.answer("kill", status=503, body=b"")

    with client.service_session():
        captcha_id = client.create_captcha()

    assert captcha_id == 3
    assert client.session_token is None


def test_no_session_no_kill(client, glpi):
    glpi.error("init", "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid", status=401)

    with pytest.raises(e.ConfigurationError):
        with client.service_session():
            pass  # pragma: no cover

    assert glpi.sessions_killed == 0


def test_created_ids_come_as_numbers_or_numeric_strings_with_200_or_201(client, glpi):
    glpi.answer("captcha", status=200, json={"id": "17", "message": ""})
    with client.service_session():
        assert client.create_captcha() == 17


def test_validation_accepts_the_array_answer_of_an_update(client, glpi):
    glpi.answer("validate", status=200, json=[{"7": True, "message": ""}])
    with client.service_session():
        client.validate_account(7, TOKEN)

    assert json.loads(glpi.requests("PUT")[0].body) == {"input": {"_validate": TOKEN}}


def test_a_validation_answer_without_true_for_the_id_is_not_success(client, glpi):
    glpi.answer("validate", status=200, json=[{"7": False, "message": "Item not found"}])
    with pytest.raises(e.Rejected) as raised:
        with client.service_session():
            client.validate_account(7, TOKEN)
    assert raised.value.message == "Item not found"


def test_an_image_that_is_not_a_jpeg_is_not_accepted(client, glpi):
    glpi.answer("image", status=200, json={"id": 3})
    with pytest.raises(e.TransientError):
        with client.service_session():
            client.captcha_image(3)


def test_glpi_config_gives_the_password_policy_as_numbers(client, glpi):
    with client.service_session():
        policy = password_policy(client.glpi_config())

    assert policy == {
        "use_password_security": 1,
        "password_min_length": 24,
        "password_need_number": 1,
        "password_need_letter": 1,
        "password_need_caps": 1,
        "password_need_symbol": 1,
    }


@pytest.mark.parametrize("min_length", [0, 8, 20, 33])
def test_generated_passwords_satisfy_glpis_strictest_policy(min_length):
    for _ in range(50):
        password = generate_password({"password_min_length": min_length})
        assert len(password) >= max(min_length, 8)
        assert any(c.isdigit() for c in password)
        assert any(c.islower() for c in password)
        assert any(c.isupper() for c in password)
        assert any(not (c.isalnum() or c == "_") for c in password)  # PHP's \W


def test_the_validation_link_of_the_email_is_understood():
    link = f"http://portal.test/validate/flyve/3/#!/account/12/validation/{TOKEN}"
    assert parse_validation_link(link) == (12, TOKEN)
    assert parse_validation_link("http://portal.test/validate/flyve/3/") is None


def test_recorded_exchanges_hold_neither_tokens_nor_the_session(connection, glpi):
    recorded = []

    class Recorder(NullCallLog):
        def record(self, call):
            recorded.append(call)

    client = GlpiClient(connection, Recorder())
    with client.service_session():
        client.validate_account(7, TOKEN)

    text = json.dumps([vars(call) for call in recorded])
    assert USER_TOKEN not in text and SESSION_TOKEN not in text and TOKEN not in text
    assert len(recorded) == 3
