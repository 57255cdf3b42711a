"""Operations that need input get a small form; codes, answers and tokens go to secret_input."""

import pytest
from django.urls import reverse

from provisioning.models import Operation
from provisioning.providers.inputs import InputErrors
from provisioning.states import AccountStatus

TOKEN = "0123456789abcdef" * 4


def request_url(account, kind):
    return reverse("admin:provisioning_account_request", args=[account.pk, kind])


def test_verify_puts_the_sms_code_in_secret_input(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_VERIFICATION)
    assert admin_client.get(request_url(account, "verify")).status_code == 200
    response = admin_client.post(request_url(account, "verify"), {"code": " 123 456 "})
    operation = Operation.objects.get()
    assert (operation.kind, operation.input, operation.secret_input) == ("verify", {}, {"code": "123456"})
    assert response["Location"] == reverse("admin:provisioning_operation_change", args=[operation.pk])


def test_answer_captcha_puts_the_answer_in_secret_input(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA)
    admin_client.post(request_url(account, "answer_captcha"), {"answer": "k4m2z"})
    assert Operation.objects.get().secret_input == {"answer": "k4m2z"}


def test_declared_inputs_are_labelled_as_django_labels_fields(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA)
    fields = admin_client.get(request_url(account, "answer_captcha")).context["form"].fields
    assert (fields["answer"].label, fields["newsletter"].label) == ("Captcha answer", "Newsletter")


def test_empty_answer_is_a_form_error(admin_client, make_account):
    account = make_account(AccountStatus.AWAITING_CAPTCHA)
    response = admin_client.post(request_url(account, "answer_captcha"), {"answer": ""})
    assert response.status_code == 200 and response.context["form"].errors["answer"]
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"link": f"https://demo.flyve.test/#!/account/42/validation/{TOKEN}"},
        {"link": f"http://127.0.0.1:8000/validate/flyve/3/%23!/account/42/validation/{TOKEN}"},
        {"validation_id": "42", "token": TOKEN.upper()},
        {"link": f"https://x/#!/account/42/validation/{TOKEN}", "validation_id": "42"},
    ],
    ids=["link", "encoded-link", "id-and-token", "link-and-matching-id"],
)
def test_validate_accepts_the_link_or_its_parts(admin_client, make_account, data):
    account = make_account(AccountStatus.AWAITING_VALIDATION)
    response = admin_client.post(request_url(account, "validate"), data)
    assert response.status_code == 302
    operation = Operation.objects.get()
    assert operation.input == {"validation_id": 42}
    assert operation.secret_input == {"token": TOKEN}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"link": "https://demo.flyve.test/#!/account/42/validation/nothex"}, "not a validation link"),
        ({"validation_id": "42"}, "both the validation id and the token"),
        ({"validation_id": "42", "token": "z" * 64}, "64 hexadecimal"),
        ({"link": f"https://x/#!/account/42/validation/{TOKEN}", "validation_id": "7"}, "disagree"),
    ],
)
def test_bad_validation_input_is_explained_and_nothing_is_requested(admin_client, make_account, data, message):
    account = make_account(AccountStatus.AWAITING_VALIDATION)
    response = admin_client.post(request_url(account, "validate"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Operation.objects.exists()


def test_confirmation_page_requests_an_operation_without_input(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    url = request_url(account, "login_link")
    assert admin_client.get(url).status_code == 200
    assert not Operation.objects.exists()  # a GET never requests anything
    admin_client.post(url)
    assert Operation.objects.get().kind == "login_link"


def test_operation_not_allowed_now_redirects_with_a_message(admin_client, make_account):
    account = make_account(AccountStatus.PENDING)
    response = admin_client.post(request_url(account, "verify"), {"code": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:provisioning_account_change", args=[account.pk])
    assert not Operation.objects.exists()


def test_unknown_operation_is_not_found(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    assert admin_client.get(request_url(account, "explode")).status_code == 404


def test_provider_input_errors_are_shown_on_the_form(admin_client, make_account, everything_provider, monkeypatch):
    def six_digits(cls, kind, values):
        raise InputErrors({"code": ["Six digits, please."]})

    monkeypatch.setattr(everything_provider, "check_input", classmethod(six_digits))
    account = make_account(AccountStatus.AWAITING_VERIFICATION)
    response = admin_client.post(request_url(account, "verify"), {"code": "12"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == ["Six digits, please."]
    assert not Operation.objects.exists()


def test_requesting_needs_the_permission_of_the_kind(staff_client, grant, make_account):
    grant("view_account", "provision_account")
    account = make_account(AccountStatus.ACTIVE)
    assert staff_client.post(request_url(account, "deprovision")).status_code == 403
    assert staff_client.post(request_url(account, "sync")).status_code == 302
    assert [op.kind for op in Operation.objects.all()] == ["sync"]
