"""The Flyve registration flow through the real pipeline (services), GLPI faked with ``responses``."""

from __future__ import annotations

import re

import pytest
import requests
from django.utils import timezone

from provisioning import services
from provisioning.followups import follow_up
from provisioning.models import ExternalCall, HealthStatus, Operation
from provisioning.states import AccountStatus, OperationStatus
from tests.providers.flyve_support import STAFF, TOKEN, USER_TOKEN, flyve_connection, jpeg, run


@pytest.fixture
def connection(db):
    return flyve_connection()


@pytest.fixture
def awaiting_captcha(account, glpi):
    run("provision", account=account)
    assert account.status == AccountStatus.AWAITING_CAPTCHA
    return account


@pytest.fixture
def awaiting_validation(awaiting_captcha, glpi):
    run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})
    assert awaiting_captcha.status == AccountStatus.AWAITING_VALIDATION
    return awaiting_captcha


def test_provision_stores_the_captcha_image_and_waits_for_a_person(account, glpi):
    operation = run("provision", account=account)

    assert operation.status == OperationStatus.SUCCEEDED
    assert account.status == AccountStatus.AWAITING_CAPTCHA
    assert bytes(account.challenge_image) == jpeg()
    assert account.details["captcha_id"] == 3
    assert account.details["captcha_issued_at"]
    assert account.external_id == "jane@example.org"
    assert glpi.sessions_opened == glpi.sessions_killed == 1


def test_refresh_gives_a_new_captcha_and_keeps_waiting(awaiting_captcha, glpi):
    operation = run("refresh_captcha", account=awaiting_captcha)

    assert operation.status == OperationStatus.SUCCEEDED
    assert awaiting_captcha.status == AccountStatus.AWAITING_CAPTCHA
    assert awaiting_captcha.details["captcha_id"] == 4
    assert glpi.sessions_opened == glpi.sessions_killed == 2


def test_the_right_answer_creates_the_user_and_waits_for_the_email(awaiting_captcha, glpi):
    operation = run(
        "answer_captcha", account=awaiting_captcha, input={"newsletter": True, "answer": " k4m2z "}
    )

    account = awaiting_captcha
    assert operation.status == OperationStatus.SUCCEEDED
    assert account.status == AccountStatus.AWAITING_VALIDATION
    assert account.details["glpi_user_id"] == 42
    assert "captcha_id" not in account.details
    assert account.challenge_image is None
    sent = glpi.body("POST", "PluginFlyvemdmdemoUser")["input"]
    assert sent["name"] == "jane@example.org"
    assert (sent["firstname"], sent["realname"]) == ("Jane", "Doe")
    assert sent["password"] == sent["password2"] == account.secrets["password"]
    assert sent["_newsletter"] == "1"
    assert sent["_plugin_flyvemdmdemo_captchas_id"] == 3
    assert sent["_answer"] == "k4m2z"
    assert "password" not in operation.result
    assert glpi.sessions_opened == glpi.sessions_killed == 2


def test_newsletter_is_off_unless_asked(awaiting_captcha, glpi):
    run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})
    assert glpi.body("POST", "PluginFlyvemdmdemoUser")["input"]["_newsletter"] == "0"


def test_generated_password_follows_the_policy_the_health_check_stored(connection, awaiting_captcha, glpi):
    run("health_check", connection=connection)
    connection.refresh_from_db()
    assert connection.provider_state["glpi_password_policy"]["password_min_length"] == 24

    run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})

    assert len(glpi.body("POST", "PluginFlyvemdmdemoUser")["input"]["password"]) >= 24


def test_a_wrong_answer_keeps_the_account_at_the_captcha_with_a_fresh_one(awaiting_captcha, glpi):
    glpi.error("user", "ERROR_GLPI_ADD", "Turing test failed")

    operation = run("answer_captcha", account=awaiting_captcha, input={"answer": "wrong"})

    account = awaiting_captcha
    assert operation.status == OperationStatus.FAILED
    assert operation.error_message == "The captcha answer was wrong; GLPI said: Turing test failed."
    assert account.status == AccountStatus.AWAITING_CAPTCHA
    assert account.details["captcha_id"] == 4  # a new captcha was created
    assert account.challenge_image is not None
    assert account.last_error["message"] == "The captcha answer was wrong; GLPI said: Turing test failed."
    assert glpi.sessions_opened == glpi.sessions_killed == 2
    # and the person can answer the new one
    glpi.answer("user", status=201, json={"id": 43, "message": ""})
    run("answer_captcha", account=account, input={"answer": "right"})
    assert account.status == AccountStatus.AWAITING_VALIDATION
    assert glpi.body("POST", "PluginFlyvemdmdemoUser")["input"]["_plugin_flyvemdmdemo_captchas_id"] == 4


def test_a_wrong_answer_without_captcha_budget_redraws_the_same_captcha(awaiting_captcha, glpi):
    glpi.error("user", "ERROR_GLPI_ADD", "Turing test failed")
    glpi.error("captcha", "ERROR_GLPI_ADD", "Too many captcha requests")

    run("answer_captcha", account=awaiting_captcha, input={"answer": "wrong"})

    assert awaiting_captcha.status == AccountStatus.AWAITING_CAPTCHA
    assert awaiting_captcha.details["captcha_id"] == 3
    assert len(glpi.requests("GET", "PluginFlyvemdmdemoCaptcha/3")) == 2  # shown again, new noise


@pytest.mark.parametrize(
    "message",
    [
        "Email address is not valid",
        "An entity already exists for your email. You probably already have an account.",
        "Password must include at least a symbol!",
    ],
)
def test_other_rejections_fail_the_account_with_glpis_message(awaiting_captcha, glpi, message):
    glpi.error("user", "ERROR_GLPI_ADD", message)

    operation = run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})

    assert operation.status == OperationStatus.FAILED
    assert operation.error_message == message
    assert awaiting_captcha.status == AccountStatus.FAILED
    assert awaiting_captcha.last_error["message"] == message
    assert glpi.sessions_opened == glpi.sessions_killed == 2


def test_a_login_failure_before_the_answer_is_sent_leaves_the_captcha_standing(connection, awaiting_captcha, glpi):
    glpi.error("init", "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid", status=401)

    operation = run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})

    connection.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    assert operation.error_code == "configuration"
    assert awaiting_captcha.status == AccountStatus.AWAITING_CAPTCHA
    assert connection.health_status == HealthStatus.ERROR
    assert "user_token seems invalid" in connection.health_detail
    assert USER_TOKEN not in connection.health_detail


def test_glpi_trouble_is_retried(awaiting_captcha, glpi):
    glpi.answer("user", status=503, body=b"")

    operation = run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})

    assert operation.status == OperationStatus.WAITING_RETRY
    assert operation.error_code == "transient"
    assert glpi.sessions_opened == glpi.sessions_killed == 2


def test_a_retry_that_finds_the_user_created_recovers_and_flags_the_unknown_password(awaiting_captcha, glpi):
    glpi.answer("user", status=503, body=b"")
    operation = run("answer_captcha", account=awaiting_captcha, input={"answer": "k4m2z"})
    glpi.error("user", "ERROR_GLPI_ADD", "An entity already exists for your email. You probably already have an account.")

    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())  # its retry is due
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    awaiting_captcha.refresh_from_db()

    assert operation.status == OperationStatus.SUCCEEDED
    assert awaiting_captcha.status == AccountStatus.AWAITING_VALIDATION
    assert "password" in awaiting_captcha.attention
    assert "password" not in awaiting_captcha.secrets


def test_validation_makes_the_account_active(awaiting_validation, glpi):
    operation = run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN})

    assert operation.status == OperationStatus.SUCCEEDED
    assert awaiting_validation.status == AccountStatus.ACTIVE
    assert awaiting_validation.details["validation_id"] == 7
    assert glpi.body("PUT", "PluginFlyvemdmdemoAccountvalidation/7") == {"input": {"_validate": TOKEN}}
    assert glpi.sessions_opened == glpi.sessions_killed == 3


def test_the_pasted_email_link_is_enough_to_validate(awaiting_validation, glpi):
    link = f"http://portal.test/validate/flyve/1/#!/account/7/validation/{TOKEN}"
    run("validate", account=awaiting_validation, input={"link": link})
    assert awaiting_validation.status == AccountStatus.ACTIVE


def test_a_reused_or_mistyped_token_fails_and_the_account_keeps_waiting(awaiting_validation, glpi):
    glpi.error("validate", "ERROR_GLPI_UPDATE", "Validation token is invalid")

    operation = run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN})

    assert operation.status == OperationStatus.FAILED
    assert operation.error_message == "Validation token is invalid"
    assert awaiting_validation.status == AccountStatus.AWAITING_VALIDATION  # the right link still works
    assert glpi.sessions_opened == glpi.sessions_killed == 3


def test_an_expired_token_fails_the_account_which_can_be_provisioned_again(awaiting_validation, glpi):
    # GLPI keeps a registration's only link one day: nothing can complete it after that
    glpi.error("validate", "ERROR_GLPI_UPDATE", "Validation token expired")

    operation = run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN})

    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "validation_expired")
    assert awaiting_validation.status == AccountStatus.FAILED
    assert awaiting_validation.last_error["code"] == "validation_expired"
    again = run("provision", account=awaiting_validation)  # a new registration: a new captcha first
    assert again.status == OperationStatus.SUCCEEDED
    assert awaiting_validation.status == AccountStatus.AWAITING_CAPTCHA


def test_a_validation_refused_after_an_attempt_without_answer_asks_a_person(awaiting_validation, glpi):
    glpi.answer("validate", body=requests.exceptions.ReadTimeout("no answer"))
    operation = run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN})
    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "unknown_outcome")

    # GLPI did validate, and cleared the token: the same link is now refused
    glpi.error("validate", "ERROR_GLPI_UPDATE", "Validation token is invalid")
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now())
    services.operation_execute(operation_id=operation.pk)
    operation.refresh_from_db()
    awaiting_validation.refresh_from_db()

    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "needs_attention")
    assert "earlier attempt may have sent it" in awaiting_validation.attention
    assert "Ask the member to sign in to Flyve MDM" in awaiting_validation.attention
    assert awaiting_validation.status == AccountStatus.AWAITING_VALIDATION


@pytest.mark.parametrize(("status", "code"), [(400, "ERROR_GLPI_UPDATE"), (404, "ERROR_ITEM_NOT_FOUND")])
def test_a_link_with_an_unknown_validation_is_invalid_and_not_retried(awaiting_validation, glpi, status, code):
    # a mistyped id: GLPI has no such validation; retrying the same link cannot help
    glpi.error("validate", code, "Item not found", status=status)

    operation = run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN})

    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "validation_invalid")
    assert operation.error_message == "GLPI has no validation 7: Item not found"
    assert follow_up(operation) is not None  # "Paste the link again", no Retry
    assert awaiting_validation.status == AccountStatus.AWAITING_VALIDATION


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("answer_captcha", {"answer": "  "}, "answer"),
        ("validate", {"validation_id": 7, "token": "not-a-token"}, "token"),
        ("validate", {"validation_id": "x", "token": TOKEN}, "validation_id"),
        ("validate", {"link": "http://portal.test/validate/flyve/1/"}, "link"),
    ],
)
def test_bad_input_is_refused_when_requested(account, kind, data, field):
    account.status = AccountStatus.AWAITING_CAPTCHA if kind == "answer_captcha" else AccountStatus.AWAITING_VALIDATION
    account.save()
    with pytest.raises(services.InvalidRequest) as raised:
        services.operation_request(kind=kind, account=account, input=data, requested_by=STAFF)
    assert field in raised.value.field_errors


def test_health_check_reads_the_password_policy_and_closes_its_session(connection, glpi):
    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.health_status == HealthStatus.OK
    assert "at least 24 characters" in connection.health_detail
    assert connection.provider_state["glpi_password_policy"]["use_password_security"] == 1
    assert glpi.sessions_opened == glpi.sessions_killed == 1


@pytest.mark.parametrize(("status", "code", "message"), [
    (400, "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", "resource not found or not an instance of CommonDBTM"),
    (404, "ERROR_ITEM_NOT_FOUND", "Not found"),
])
def test_a_glpi_without_get_glpi_config_is_healthy_with_its_policy_unknown(connection, glpi, status, code, message):
    glpi.error("config", code, message, status=status)

    operation = run("health_check", connection=connection)

    connection.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert connection.health_status == HealthStatus.OK
    assert f"did not give its password policy (getGlpiConfig answered HTTP {status})" in connection.health_detail
    assert "plugin" not in connection.health_detail  # the plugin works: nobody is sent to check it
    assert "glpi_password_policy" not in connection.provider_state
    assert glpi.sessions_opened == glpi.sessions_killed == 1


def test_a_glpi_config_that_fails_for_now_fails_the_health_check_for_now(connection, glpi):
    glpi.answer("config", status=503, body="<html>busy</html>", content_type="text/html")

    operation = run("health_check", connection=connection)

    assert (operation.status, operation.error_code) == (OperationStatus.WAITING_RETRY, "transient")
    assert glpi.sessions_opened == glpi.sessions_killed == 1


def test_there_is_no_deprovisioning_at_glpi(awaiting_validation):
    with pytest.raises(services.Conflict) as raised:
        services.operation_request(kind="deprovision", account=awaiting_validation, requested_by=STAFF)
    assert raised.value.code == "not_supported"


def test_recorded_calls_hold_no_secret(awaiting_validation, glpi):
    run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN})

    recorded = " ".join(
        f"{c.url} {c.request_headers} {c.request_body} {c.response_body}" for c in ExternalCall.objects.all()
    )
    assert USER_TOKEN not in recorded
    assert TOKEN not in recorded
    assert awaiting_validation.secrets["password"] not in recorded
    assert re.search(r"<\d+ bytes of image/jpeg>", recorded)


def test_a_token_typed_in_capitals_is_sent_as_glpi_wrote_it(awaiting_validation, glpi):
    run("validate", account=awaiting_validation, input={"validation_id": 7, "token": TOKEN.upper()})

    assert awaiting_validation.status == AccountStatus.ACTIVE
    assert glpi.body("PUT", "PluginFlyvemdmdemoAccountvalidation/7") == {"input": {"_validate": TOKEN}}
