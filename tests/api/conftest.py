"""Fixtures of the API tests: users with exactly the permissions a test names, their tokens,
and two providers that exist only in these tests (HTTP faked with ``responses``).

The fakes borrow the kinds of two real providers (``kandy`` and ``xhoppe``) for the length of
one test, installed through the setting (``install_providers``).
"""

from __future__ import annotations

import json
import re

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from provisioning.models import Account, Connection, HealthStatus, Member
from provisioning.providers.base import Outcome, Provider
from provisioning.providers.http import ProviderClient
from provisioning.providers.inputs import BOOLEAN, INTEGER, InputField
from provisioning.states import AccountStatus, OperationKind

FAKE_URL = "http://fake-provider.test"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"


class FakeClient(ProviderClient):
    def authenticate(self, request):
        request.headers["Authorization"] = f"Bearer {self.credentials['api_key']}"


class FakeProvider(Provider):
    """Supports every operation kind; each one is a single POST to ``/<kind>``."""

    kind = "kandy"
    label = "Fake provider"
    client_class = FakeClient
    credential_fields = (InputField("api_key", secret=True), InputField("api_secret", required=False, secret=True))
    operations = frozenset(OperationKind.values)
    input_fields = {
        OperationKind.VERIFY: (
            InputField("code", secret=True, max_length=32, pattern=r"\d+",
                       pattern_message="The SMS code is digits only."),
        ),
        OperationKind.ANSWER_CAPTCHA: (InputField("answer", secret=True, max_length=32),),
        OperationKind.VALIDATE: (
            InputField("validation_id", INTEGER, min_value=1, max_value=2**31 - 1),
            InputField("token", secret=True, lowercase=True, pattern=r"[0-9a-fA-F]{64}"),
        ),
        OperationKind.LOGIN_LINK: (
            InputField("connectionType", required=False, choices=("read", "trade")),
            InputField("darkMode", BOOLEAN, required=False),
        ),
    }

    def _call(self, ctx, **body):
        return self.client.request("POST", f"/{ctx.kind}", json_body=body).json()

    def provision(self, ctx):
        answer = self._call(ctx, user=ctx.account.external_id)
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            details={"remote_id": answer["id"]},
            secrets={"user_secret": answer["secret"]},
            result={"remote_id": answer["id"]},
        )

    def verify(self, ctx):
        self._call(ctx, code=ctx.secret_input["code"])
        return Outcome(account_status=AccountStatus.ACTIVE)

    def reset_password(self, ctx):
        self._call(ctx)
        return Outcome(result={"sms_sent": True})

    def refresh_captcha(self, ctx):
        self._call(ctx)
        return Outcome(challenge_image=JPEG)

    def answer_captcha(self, ctx):
        self._call(ctx, answer=ctx.secret_input["answer"])
        return Outcome(account_status=AccountStatus.ACTIVE, challenge_image=None)

    def validate(self, ctx):
        self._call(ctx, id=ctx.input["validation_id"], token=ctx.secret_input["token"])
        return Outcome(account_status=AccountStatus.ACTIVE)

    def login_link(self, ctx):
        answer = self._call(ctx, **ctx.input)
        return Outcome(result={"redirect_uri": answer["uri"]})

    def rotate_secret(self, ctx):
        answer = self._call(ctx)
        return Outcome(secrets={"user_secret": answer["secret"] + "-rotated"})

    def sync(self, ctx):
        self._call(ctx)
        return Outcome(details={"synced": True})

    def deprovision(self, ctx):
        self._call(ctx)
        return Outcome(account_status=AccountStatus.DEPROVISIONED, secrets={"user_secret": None})

    def health_check(self, ctx):
        self._call(ctx)
        return Outcome(health=(HealthStatus.OK, "Fake provider answers."))

    def reconcile(self, ctx):
        self._call(ctx)
        return Outcome()


class NoDeleteProvider(FakeProvider):
    """A provider without a delete API (nor the human-in-the-loop steps)."""

    kind = "xhoppe"
    label = "No-delete provider"
    operations = frozenset({OperationKind.PROVISION, OperationKind.SYNC, OperationKind.HEALTH_CHECK,
                            OperationKind.RECORD_CLOSED})


def _fake_answer(request):
    sent = json.loads(request.body or b"{}")
    body = {"id": "remote-42", "secret": "S3CRET-user-secret", "uri": "https://fake-provider.test/portal?t=1", "echo": sent}
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture(autouse=True)
def fake_providers(install_providers):
    return install_providers(FakeProvider, NoDeleteProvider)


@pytest.fixture
def fake_http():
    """Every POST to the fake provider answers 200 with a small JSON body."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, re.compile(re.escape(FAKE_URL) + r"/.*"), callback=_fake_answer)
        yield mock


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


# --- users and clients -------------------------------------------------------------------------

@pytest.fixture
def make_client(db):
    """``make_client("provisioning.view_account", ...)``: an API client whose token's user has
    exactly those permissions (``superuser=True``: all of them)."""
    counter = iter(range(1, 1000))

    def make(*perms: str, superuser: bool = False) -> APIClient:
        user = User.objects.create_user(f"api-user-{next(counter)}", password="unused-password")
        if superuser:
            user.is_superuser = True
            user.save()
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).plain_key}")
        client.user = user
        return client

    return make


@pytest.fixture
def admin_client_api(make_client):
    return make_client(superuser=True)


# --- data --------------------------------------------------------------------------------------

@pytest.fixture
def connection(db):
    return Connection.objects.create(
        provider=FakeProvider.kind, name="fake", base_url=FAKE_URL, credentials={"api_key": "KEY-abcdef-123456"}
    )


@pytest.fixture
def no_delete_connection(db):
    return Connection.objects.create(
        provider=NoDeleteProvider.kind, name="no delete", base_url=FAKE_URL, credentials={"api_key": "KEY-2"}
    )


@pytest.fixture
def member(db):
    """Jane of tests/conftest.py, with a phone and a CRM reference."""
    return Member.objects.create(
        email="jane@example.org", first_name="Jane", last_name="Doe", country="SG", phone="+6591234567",
        external_ref="crm-1042",
    )


def account_in(account: Account, status: str) -> Account:
    """Put ``account`` in ``status`` directly: test set-up, not a transition under test."""
    Account.objects.filter(pk=account.pk).update(status=status)
    account.refresh_from_db()
    return account
