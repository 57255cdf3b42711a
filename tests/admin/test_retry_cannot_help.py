"""Failures a retry cannot fix (a wrong SMS code, a wrong captcha answer, a refused validation
link): no "Retry", but the operation that can help, on the operation's and the account's page."""

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from provisioning.followups import RETRY_CANNOT_HELP, WRONG_CAPTCHA_SENTENCE, follow_up
from provisioning.models import Operation
from provisioning.states import AccountStatus, OperationKind, OperationStatus
from tests.admin.conftest import JPEG


def failed(account, kind, code, **fields):
    return Operation.objects.create(
        kind=kind, status=OperationStatus.FAILED, account=account, connection=account.connection,
        requested_by="admin:admin", error_code=code, error_message="No.", **fields,
    )


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def operation_page(client, operation):
    return client.get(reverse("admin:provisioning_operation_change", args=[operation.pk]))


def request_url(account, kind):
    return reverse("admin:provisioning_account_request", args=[account.pk, kind])


def test_the_table_says_which_failures_a_retry_cannot_fix_and_what_helps_instead():
    suggested = {key: [kind for kind, _ in value.suggestions] for key, value in RETRY_CANNOT_HELP.items()}
    # a mistyped code is entered again; an expired one needs a new code (Xhoppe's reset password)
    assert suggested[(OperationKind.VERIFY, "invalid_input")] == [OperationKind.VERIFY, OperationKind.RESET_PASSWORD]
    # ... and says so in the words of the button the account's page shows then, not "Reset password"
    sentence = RETRY_CANNOT_HELP[(OperationKind.VERIFY, "invalid_input")].sentence
    assert "send a new SMS code" in sentence and "Reset password" not in sentence
    assert suggested[(OperationKind.ANSWER_CAPTCHA, "captcha_failed")] == [
        OperationKind.ANSWER_CAPTCHA, OperationKind.REFRESH_CAPTCHA]
    assert suggested[(OperationKind.VALIDATE, "validation_invalid")] == [OperationKind.VALIDATE]
    # Flyve sends one link: once it expired, only a new registration can help
    assert suggested[(OperationKind.VALIDATE, "validation_expired")] == [OperationKind.PROVISION]
    assert suggested[(OperationKind.ANSWER_CAPTCHA, "already_exists")] == [OperationKind.PROVISION]
    assert RETRY_CANNOT_HELP[(OperationKind.ANSWER_CAPTCHA, "captcha_failed")].sentence == (
        "That answer was wrong; the provider gave a new image to answer.")


def test_a_transient_or_other_failure_can_still_be_retried(make_account):
    account = make_account(AccountStatus.AWAITING_VERIFICATION)
    assert follow_up(failed(account, OperationKind.VERIFY, "transient")) is None
    assert follow_up(failed(account, OperationKind.PROVISION, "invalid_input")) is None


def test_a_wrong_sms_code_offers_a_new_code_not_a_retry(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VERIFICATION)
    operation = failed(account, OperationKind.VERIFY, "invalid_input")

    page = operation_page(admin_client, operation)

    assert page.context["retry_url"] is None
    assert reverse("admin:provisioning_operation_retry", args=[operation.pk]) not in text(page)
    assert "Xhoppe refused this SMS code" in text(page)
    assert ("Send a new SMS code", request_url(account, "reset_password")) in page.context["follow_up_buttons"]
    assert ("Enter the SMS code", request_url(account, "verify")) in page.context["follow_up_buttons"]
    account_page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk]))
    assert "Xhoppe refused this SMS code" in text(account_page)
    # the error says the same, not the general advice for refused input, there and on the account
    assert "correct the member" not in text(page)
    account.last_error = {"code": "invalid_input", "message": "No.", "operation": operation.pk, "kind": "verify"}
    account.save()
    account_page = text(admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])))
    assert "correct the member" not in account_page and "Xhoppe refused this SMS code" in account_page


def test_a_wrong_captcha_answer_says_so_on_the_operation_account_and_answer_pages(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG, details={"captcha_id": 8})
    operation = failed(account, OperationKind.ANSWER_CAPTCHA, "captcha_failed")

    page = operation_page(admin_client, operation)
    account_page = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk]))
    answer_page = admin_client.get(request_url(account, "answer_captcha"))

    assert page.context["retry_url"] is None
    assert [label for label, _ in page.context["follow_up_buttons"]] == ["Answer the new captcha", "New captcha"]
    for response in (page, account_page, answer_page):
        assert WRONG_CAPTCHA_SENTENCE in text(response)


def test_a_refused_validation_link_offers_to_paste_it_again(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VALIDATION)
    operation = failed(account, OperationKind.VALIDATE, "validation_invalid")

    page = operation_page(admin_client, operation)

    assert page.context["retry_url"] is None
    assert page.context["follow_up_buttons"] == [("Paste the link again", request_url(account, "validate"))]


def test_an_expired_validation_link_offers_to_provision_again(admin_client, make_account):
    # the provider failed the account (FlyveProvider.validate): its page and the operation's say why
    account = make_account(AccountStatus.FAILED)
    operation = failed(account, OperationKind.VALIDATE, "validation_expired")
    account.last_error = {"code": "validation_expired", "message": "No.", "operation": operation.pk, "kind": "validate"}
    account.save()

    page = operation_page(admin_client, operation)
    account_page = text(admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])))

    assert page.context["retry_url"] is None
    assert page.context["follow_up_buttons"] == [("Provision again", request_url(account, "provision"))]
    for words in (text(page), account_page):
        assert "GLPI deletes a registration left unvalidated two days after it was made: provision again" in words


def test_suggestions_need_the_permission_and_a_state_that_allows_them(staff_client, grant, make_account):
    grant("view_operation", "view_account")
    account = make_account(AccountStatus.AWAITING_VERIFICATION)
    operation = failed(account, OperationKind.VERIFY, "invalid_input")
    assert operation_page(staff_client, operation).context["follow_up_buttons"] == []

    account.status = AccountStatus.ACTIVE  # moved on: a verify is no longer possible
    account.save()
    grant("provision_account")
    buttons = operation_page(staff_client, operation).context["follow_up_buttons"]
    assert [label for label, _ in buttons] == ["Send a new SMS code"]


def test_the_retry_page_and_the_bulk_retry_refuse_what_cannot_help(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG)
    operation = failed(account, OperationKind.ANSWER_CAPTCHA, "captcha_failed", secret_input={"answer": "wrong"})

    response = admin_client.post(reverse("admin:provisioning_operation_retry", args=[operation.pk]))
    assert response.status_code == 302
    assert any("Retrying cannot help" in str(m) for m in get_messages(response.wsgi_request))
    bulk = admin_client.post(
        reverse("admin:provisioning_operation_changelist"),
        {"action": "retry_operations", ACTION_CHECKBOX_NAME: [operation.pk]},
    )
    assert any("Retrying cannot help" in str(m) for m in get_messages(bulk.wsgi_request))
    assert Operation.objects.count() == 1


def test_a_retry_that_can_help_says_retry_requested_and_leads_to_the_new_operation(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    operation = failed(account, OperationKind.SYNC, "transient")
    assert operation_page(admin_client, operation).context["retry_url"]

    response = admin_client.post(reverse("admin:provisioning_operation_retry", args=[operation.pk]))

    new = Operation.objects.exclude(pk=operation.pk).get()
    assert response["Location"] == reverse("admin:provisioning_operation_change", args=[new.pk])
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == [f"Retry requested: this is the new operation, #{new.pk}."]
    assert not any("Retry done" in m for m in shown)


def test_after_a_provisioning_that_left_a_captcha_the_next_step_is_offered(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG)
    operation = Operation.objects.create(kind="provision", status=OperationStatus.SUCCEEDED, account=account,
                                         connection=account.connection, requested_by="admin:admin")
    buttons = operation_page(admin_client, operation).context["follow_up_buttons"]
    assert ("Answer captcha", request_url(account, "answer_captcha")) in buttons


def test_the_answer_form_of_an_untouched_captcha_has_no_wrong_answer_sentence(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG)
    answer_page = admin_client.get(request_url(account, "answer_captcha"))
    assert WRONG_CAPTCHA_SENTENCE not in text(answer_page)
