"""The whole API against its own OpenAPI schema, with schemathesis and all its checks: no 5xx,
every status code, content type, header and body as documented, bad input rejected, good input
accepted.

One exception: "schema-valid input is accepted" (positive_data_acceptance) is not asked of the
requests whose validity depends on stored data the schema cannot describe: ids of members and
connections that must exist (POST /accounts/, /batches/), unique values (a member's
external_ref), the credential keys the chosen provider requires (POST and PATCH /connections/)
and the provider's own rules for an action's input (an SMS code's alphabet, a captcha's length:
the provider depends on the account), and a webhook endpoint's URL (it must resolve, after DNS,
to an address that is allowed). Those answer 400 with field errors, as the API contract says,
and their rules are tested one by one in the other test modules.
"""

import os
import uuid

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from provisioning.models import Account, Connection, Member

# the schema is read anonymously at import: allowed for this read only (README, "Security")
with override_settings(API_DOCS_PUBLIC=True):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

# examples per operation; more finds rarer problems (e.g. SCHEMATHESIS_MAX_EXAMPLES=200: ~3 min)
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))

DATA_DEPENDENT = {
    ("POST", "/api/v1/accounts/"),
    ("POST", "/api/v1/batches/"),
    ("POST", "/api/v1/connections/"),
    ("PATCH", "/api/v1/connections/{id}/"),
    ("POST", "/api/v1/members/"),
    ("PATCH", "/api/v1/members/{id}/"),
    ("POST", "/api/v1/webhooks/"),
    ("PATCH", "/api/v1/webhooks/{id}/"),
    *(("POST", f"/api/v1/accounts/{{id}}/{path}/") for path in ("verify", "captcha", "validate", "login-link")),
}


@pytest.fixture
def api_token(db, django_user_model):
    user = django_user_model.objects.create_superuser("schemathesis", password="unused-password")
    member = Member.objects.create(email="jane@example.org", external_ref="crm-1", country="SG")
    connection = Connection.objects.create(
        provider="kandy", name="fake", base_url="http://fake-provider.test", credentials={"api_key": "K"}
    )
    Account.objects.create(member=member, connection=connection)
    return Token.objects.create(user=user).plain_key


@pytest.fixture
def keep_db_connection_open():
    """The WSGI calls must not close the test's connection (it holds the test transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def unthrottled(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api": None},
    }


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, api_token, keep_db_connection_open, unthrottled):
    # a fresh Idempotency-Key per call (hypothesis reuses "0" for different requests, which is
    # rightly a 422), unless the case is about an invalid key
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 255:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    excluded = [positive_data_acceptance] if (case.method.upper(), case.path) in DATA_DEPENDENT else []
    case.call_and_validate(headers={"Authorization": f"Token {api_token}"}, excluded_checks=excluded)
