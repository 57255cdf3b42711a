"""A small provider that exists only in these tests, to exercise the pipeline on its own.

It talks HTTP (faked with ``responses``) through the real ProviderClient, so the recording,
redaction and error mapping under test are the production ones.
"""

import pytest

from provisioning.models import Connection
from provisioning.providers.base import Outcome, Provider
from provisioning.providers.exceptions import RateLimited, TransientError
from provisioning.providers.http import ProviderClient, error_for_status, retry_after_seconds
from provisioning.providers.inputs import InputField
from provisioning.states import AccountStatus, OperationKind

BASE = "http://fake.test"


class FakeClient(ProviderClient):
    secret_names = frozenset({"user_secret"})

    def authenticate(self, request):
        request.headers["Authorization"] = f"Bearer {self.credentials['api_key']}"

    def error_for(self, response, data):
        if response.status_code >= 400:
            detail = data.get("detail", "error") if isinstance(data, dict) else "error"
            return error_for_status(response.status_code, detail, retry_after=retry_after_seconds(response))
        return None


class FakeProvider(Provider):
    kind = "snaptrade"  # borrowed kind, for each test (see install_providers)
    label = "Fake"
    client_class = FakeClient
    credential_fields = (InputField("api_key", secret=True),)
    operations = frozenset({OperationKind.PROVISION, OperationKind.LOGIN_LINK, OperationKind.DEPROVISION})
    input_fields = {OperationKind.LOGIN_LINK: (InputField("answer", required=False, secret=True),)}

    def provision(self, ctx):
        body = self.client.request("POST", "/users", json_body={"id": ctx.account.external_id}).json()
        return Outcome(
            account_status=AccountStatus.ACTIVE,
            secrets={"user_secret": body["user_secret"]},
            details={"remote": body["id"]},
            result={"created": body["id"]},
        )

    def login_link(self, ctx):
        body = self.client.request("POST", "/login", json_body={}).json()
        return Outcome(result={"redirect_uri": body["uri"]})

    def deprovision(self, ctx):
        self.client.request("DELETE", f"/users/{ctx.account.external_id}")
        return Outcome(account_status=AccountStatus.DEPROVISIONED, secrets={"user_secret": None})


@pytest.fixture
def fake_provider(install_providers):
    install_providers(FakeProvider)
    return FakeProvider


@pytest.fixture
def connection(db, fake_provider):
    return Connection.objects.create(
        provider=FakeProvider.kind, name="fake", base_url=BASE, credentials={"api_key": "KEY-1234-SECRET"}
    )


__all__ = ["BASE", "RateLimited", "TransientError"]
