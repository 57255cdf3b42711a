"""A provider that exists only in the test suite: "Parcel lockers", a made-up service that
opens an account and then asks for the 4-digit PIN it texted to the member.

It is installed the way any provider package is, by adding its dotted path to
``PROVISIONING["PROVIDERS"]`` (see tests/test_a_provider_is_a_plug_in.py); nothing else in the
project knows it. It has the shape of the built-in providers: a client that only says what its
error bodies mean, and a provider that declares what it takes and does.
"""

from __future__ import annotations

from provisioning.models import HealthStatus
from provisioning.providers.base import Outcome, Provider, health_outcome
from provisioning.providers.exceptions import InvalidInput
from provisioning.providers.http import ProviderClient
from provisioning.providers.inputs import InputField
from provisioning.states import AccountStatus, OperationKind

BASE_URL = "https://lockers.test/api"


class ParcelLockersClient(ProviderClient):
    provider_name = "Parcel lockers"
    secret_names = frozenset({"pin"})

    def authenticate(self, request):
        request.headers["X-Api-Key"] = self.credentials["api_key"]

    def error_for(self, response, data):
        if isinstance(data, dict) and data.get("error") == "wrong_pin":
            return InvalidInput("Parcel lockers did not accept the PIN: check it with the member.")
        return None


class ParcelLockersProvider(Provider):
    kind = "parcel_lockers"
    label = "Parcel lockers"
    client_class = ParcelLockersClient
    operations = frozenset({OperationKind.PROVISION, OperationKind.VERIFY, OperationKind.HEALTH_CHECK})
    credential_fields = (
        InputField("api_key", label="API key", secret=True, max_length=64, help_text="From the lockers' console."),
    )
    setting_fields = (InputField("region", required=False, choices=("north", "south")),)
    input_fields = {
        OperationKind.VERIFY: (
            InputField("pin", label="PIN", secret=True, pattern=r"\d{4}", pattern_message="The PIN is 4 digits.",
                       help_text="The PIN texted to the member."),
        ),
    }
    base_url_example = BASE_URL

    def provision(self, ctx) -> Outcome:
        answer = self.client.request(
            "POST", "/members", json_body={"email": ctx.member.email, "region": ctx.connection.settings.get("region")},
            shape=dict,
        ).data
        return Outcome(
            account_status=AccountStatus.AWAITING_VERIFICATION,
            external_id=str(answer["id"]),
            result={"locker_member": answer["id"]},
        )

    def verify(self, ctx) -> Outcome:
        self.client.request("POST", f"/members/{ctx.account.external_id}/pin", json_body={"pin": ctx.secret_input["pin"]})
        return Outcome(account_status=AccountStatus.ACTIVE, result={"verified": True})

    def health_check(self, ctx) -> Outcome:
        self.client.request("GET", "/status", shape=dict)
        return health_outcome(HealthStatus.OK, "Parcel lockers answers.")
