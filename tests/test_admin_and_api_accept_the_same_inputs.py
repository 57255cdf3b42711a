"""The admin and the API accept and refuse exactly the same input, with the same messages.

One table of cases, each run through both interfaces against the real providers' declarations:
an operation's input (the admin's request form, the API's account action) and a connection's
credentials and settings (the admin's connection form, ``POST /api/v1/connections/``). A case
is either accepted by both (an operation is queued, a connection created) or refused by both
with the same field errors. The admin gets what a browser would send (text), the API JSON.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from provisioning.models import Account, Connection, Member, Operation
from provisioning.states import AccountStatus

TOKEN = "a3" * 32
LINK = f"https://demo.flyve.test/#!/account/42/validation/{TOKEN}"
ACCEPTED = None

# (provider, operation kind, the account's state, API path, input as JSON, field errors or ACCEPTED)
OPERATION_CASES = [
    ("xhoppe", "verify", "awaiting_verification", "verify", {"code": "123456"}, ACCEPTED),
    ("xhoppe", "verify", "awaiting_verification", "verify", {"code": " 12 34 56 "}, ACCEPTED),
    ("xhoppe", "verify", "awaiting_verification", "verify", {"code": ""}, {"code": ["Enter the code from the SMS."]}),
    ("xhoppe", "verify", "awaiting_verification", "verify", {"code": "12-34"},
     {"code": ["The SMS code is letters and digits only."]}),
    ("xhoppe", "verify", "awaiting_verification", "verify", {"code": "1" * 33},
     {"code": ["At most 32 characters (this has 33)."]}),
    ("flyve", "answer_captcha", "awaiting_captcha", "captcha", {"answer": "k4m2z"}, ACCEPTED),
    ("flyve", "answer_captcha", "awaiting_captcha", "captcha", {"answer": "k4m2z", "newsletter": True}, ACCEPTED),
    ("flyve", "answer_captcha", "awaiting_captcha", "captcha", {"answer": "x" * 51},
     {"answer": ["At most 50 characters (this has 51)."]}),
    ("flyve", "answer_captcha", "awaiting_captcha", "captcha", {}, {"answer": ["This field is required."]}),
    ("flyve", "validate", "awaiting_validation", "validate", {"link": LINK}, ACCEPTED),
    ("flyve", "validate", "awaiting_validation", "validate", {"validation_id": 42, "token": TOKEN.upper()}, ACCEPTED),
    ("flyve", "validate", "awaiting_validation", "validate", {"validation_id": 42},
     {"non_field_errors": ["Paste the validation link, or give both the validation id and the token."]}),
    ("flyve", "validate", "awaiting_validation", "validate", {"link": "https://demo.flyve.test/#!/account/42"},
     {"link": ["This is not a validation link: it should end in #!/account/<id>/validation/<64 hexadecimal "
               "characters>."]}),
    ("flyve", "validate", "awaiting_validation", "validate", {"validation_id": 0, "token": TOKEN},
     {"validation_id": ["At least 1."]}),
    ("flyve", "validate", "awaiting_validation", "validate", {"validation_id": 4, "token": "xyz"},
     {"token": ["The token is 64 hexadecimal characters (0-9, a-f)."]}),
    ("flyve", "validate", "awaiting_validation", "validate", {"link": LINK, "validation_id": 7},
     {"non_field_errors": ["The link and the id or token given with it disagree: give one or the other."]}),
    ("snaptrade", "login_link", "active", "login-link", {}, ACCEPTED),
    ("snaptrade", "login_link", "active", "login-link", {"connectionType": "read", "darkMode": True}, ACCEPTED),
    ("snaptrade", "login_link", "active", "login-link", {"connectionType": "write"},
     {"connectionType": ["Choose one of: read, trade, trade-if-available."]}),
    ("snaptrade", "login_link", "active", "login-link", {"customRedirect": "ftp://files.example.org/"},
     {"customRedirect": ["Enter an absolute http(s) URL."]}),
    ("snaptrade", "login_link", "active", "login-link", {"reconnect": "not-a-uuid"},
     {"reconnect": ["Enter a UUID, like 0b1d6c9e-52a4-4e0f-9a7d-3c2b1e0f9d88."]}),
    ("snaptrade", "login_link", "active", "login-link", {"broker": "x" * 501},
     {"broker": ["At most 500 characters (this has 501)."]}),
]

# (provider, credentials, settings, errors under "credentials"/"settings", or ACCEPTED)
CONNECTION_CASES = [
    ("snaptrade", {"client_id": "C-1", "consumer_key": "K-1"}, {}, ACCEPTED),
    ("snaptrade", {"client_id": "C-1"}, {}, {"credentials": {"consumer_key": ["This field is required."]}}),
    ("kandy", {"api_key": "DAK-1", "api_secret": "DAS-1"}, {}, ACCEPTED),
    ("kandy", {"api_key": "DAK-1", "api_secret": "x" * 201}, {},
     {"credentials": {"api_secret": ["At most 200 characters (this has 201)."]}}),
    ("xhoppe", {}, {}, ACCEPTED),
    ("flyve", {"user_token": "T-1"}, {}, ACCEPTED),
    ("scim", {"bearer_token": "tok"}, {"deprovision_mode": "delete"}, ACCEPTED),
    ("scim", {"username": "u", "password": "p"}, {}, ACCEPTED),
    ("scim", {"bearer_token": "tok", "username": "u", "password": "p"}, {},
     {"credentials": {"bearer_token": ["Give a bearer token or a username and password (basic authentication), not both."]}}),
    ("scim", {"username": "u"}, {}, {"credentials": {"password": ["A username needs a password."]}}),
    ("scim", {"bearer_token": "tok"}, {"deprovision_mode": "archive"},
     {"settings": {"deprovision_mode": ["Choose one of: deactivate, delete."]}}),
]


def as_form_value(value):
    """What a browser sends for a JSON value in the admin's form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def account_at(provider: str, status: str) -> Account:
    connection = Connection.objects.create(
        provider=provider, name=f"{provider} test", base_url=f"https://{provider}.test", credentials={"x": "y"}
    )
    member = Member.objects.create(email="jane@example.org", phone="+6591234567", country="SG")
    return Account.objects.create(member=member, connection=connection, status=status, external_id="remote-1")


def admin_outcome(admin_client, account, kind, data):
    url = reverse("admin:provisioning_account_request", args=[account.pk, kind])
    response = admin_client.post(url, {name: as_form_value(value) for name, value in data.items()})
    if response.status_code == 302 and Operation.objects.filter(account=account, kind=kind).exists():
        Operation.objects.filter(account=account).delete()
        return ACCEPTED
    assert response.status_code == 200, response
    form = response.context["form"]
    errors = {name: list(messages) for name, messages in form.errors.items() if name != "__all__"}
    if form.non_field_errors():
        errors["non_field_errors"] = list(form.non_field_errors())
    return errors


def api_outcome(admin_api, account, path, data):
    response = admin_api.post(f"/api/v1/accounts/{account.pk}/{path}/", data, format="json")
    if response.status_code == 202:
        Operation.objects.filter(account=account).delete()
        return ACCEPTED
    assert response.status_code == 400, response.json()
    body = response.json()
    if set(body) == {"detail", "code"}:  # about the input as a whole: what the admin shows above its form
        assert body["code"] == "invalid"
        return {"non_field_errors": [body["detail"]]}
    return body


@pytest.mark.parametrize(
    ("provider", "kind", "status", "path", "data", "expected"),
    OPERATION_CASES,
    ids=[f"{case[0]}-{case[1]}-{index}" for index, case in enumerate(OPERATION_CASES)],
)
def test_operation_input(admin_client, admin_api, provider, kind, status, path, data, expected):
    account = account_at(provider, AccountStatus(status))

    assert admin_outcome(admin_client, account, kind, data) == expected
    assert api_outcome(admin_api, account, path, data) == expected


def admin_connection_outcome(admin_client, provider, credentials, settings):
    form = {"name": f"{provider} by admin", "base_url": f"https://{provider}.test/admin", "enabled": "on"}
    form.update({f"credential_{key}": value for key, value in credentials.items()})
    form.update({f"setting_{key}": value for key, value in settings.items()})
    response = admin_client.post(reverse("admin:provisioning_connection_add") + f"?provider={provider}", form)
    if response.status_code == 302:
        assert Connection.objects.filter(name=f"{provider} by admin").exists()
        return ACCEPTED
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    found: dict = {}
    for name, messages in errors.items():
        for group, prefix in (("credentials", "credential_"), ("settings", "setting_")):
            if name.startswith(prefix):
                found.setdefault(group, {})[name.removeprefix(prefix)] = list(messages)
    assert set(errors) <= {f"credential_{k}" for k in found.get("credentials", {})} | {
        f"setting_{k}" for k in found.get("settings", {})
    }, errors
    return found


def api_connection_outcome(admin_api, provider, credentials, settings):
    body = {"name": f"{provider} by api", "provider": provider, "base_url": f"https://{provider}.test/api",
            "credentials": credentials, "settings": settings}
    response = admin_api.post("/api/v1/connections/", body, format="json")
    if response.status_code == 201:
        return ACCEPTED
    assert response.status_code == 400, response.json()
    return response.json()


@pytest.mark.parametrize(
    ("provider", "credentials", "settings", "expected"),
    CONNECTION_CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CONNECTION_CASES)],
)
def test_connection_credentials_and_settings(admin_client, admin_api, provider, credentials, settings, expected):
    assert admin_connection_outcome(admin_client, provider, credentials, settings) == expected
    assert api_connection_outcome(admin_api, provider, credentials, settings) == expected
