"""``manage.py bootstrap``: a superuser once, a sandbox connection per provider, safe to rerun."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from provisioning.models import Connection, Operation
from provisioning.providers import registry
from provisioning.providers.base import Provider
from provisioning.providers.http import ProviderClient
from provisioning.providers.inputs import InputField
from provisioning.sandbox.app import simulator_classes
from provisioning.sandbox.defaults import sandbox_credentials
from provisioning.states import OperationKind

SANDBOX = "http://sandbox.test:9000"


class StandIn(Provider):
    kind = "snaptrade"
    label = "Stand-in"
    client_class = ProviderClient
    operations = frozenset({OperationKind.PROVISION, OperationKind.HEALTH_CHECK})
    credential_fields = (InputField("client_id"), InputField("consumer_key", secret=True))


class NoSimulator(StandIn):
    kind = "xhoppe"
    label = "Nowhere"
    sandbox_simulator = "no-such-simulator"


class Quota(StandIn):
    kind = "kandy"
    label = "Quota"
    credential_fields = ()
    sandbox_simulator = "snaptrade"
    sandbox_api_path = "/v9"

    @classmethod
    def sandbox_connection(cls, *, sandbox_url, credentials):
        return {**super().sandbox_connection(sandbox_url=sandbox_url, credentials={}), "max_accounts": 5}


@pytest.fixture(autouse=True)
def env_file(tmp_path, monkeypatch):
    """A .env of the test's own: bootstrap never touches the developer's."""
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=x\n")
    monkeypatch.setattr("provisioning.management.commands.bootstrap.DEFAULT_ENV_FILE", path)
    return path


def bootstrap(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("bootstrap", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def stand_ins(settings):
    settings.PROVISIONING = {
        **settings.PROVISIONING,
        "SANDBOX_URL": SANDBOX + "/",
        "PROVIDERS": [f"{__name__}.{p.__qualname__}" for p in (StandIn, NoSimulator, Quota)],
    }


def test_first_run_creates_a_superuser_and_prints_its_password_once(db, stand_ins):
    first = bootstrap()
    match = re.search(r"password:\s+(\S+)", first)
    assert match, first
    assert "http://127.0.0.1:8000/admin/" in first and "user name: admin" in first
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(match[1])

    second = bootstrap()
    assert match[1] not in second and "password:" not in second
    assert "superuser 'admin' exists" in second
    assert get_user_model().objects.count() == 1
    assert get_user_model().objects.get().check_password(match[1])  # unchanged


def test_existing_superuser_is_left_alone(db, stand_ins, django_user_model):
    django_user_model.objects.create_superuser("boss", "", "pw")
    output = bootstrap()
    assert "password:" not in output and "'boss' exists" in output
    assert django_user_model.objects.count() == 1


def test_a_sandbox_connection_per_provider_with_a_simulator(db, stand_ins):
    output = bootstrap()
    stand_in = Connection.objects.get(provider="snaptrade")
    assert stand_in.name == "Stand-in sandbox"
    assert stand_in.base_url == f"{SANDBOX}/snaptrade"
    assert stand_in.credentials == sandbox_credentials()["snaptrade"]
    quota = Connection.objects.get(provider="kandy")
    assert (quota.base_url, quota.max_accounts) == (f"{SANDBOX}/snaptrade/v9", 5)
    assert not Connection.objects.filter(provider="xhoppe").exists()
    assert "no 'no-such-simulator' simulator" in output
    # a first health check of each is requested (the worker runs it when it starts)
    assert sorted(Operation.objects.values_list("connection__provider", "kind")) == [
        ("kandy", "health_check"),
        ("snaptrade", "health_check"),
    ]


def test_second_run_changes_no_connection(db, stand_ins):
    bootstrap()
    Connection.objects.filter(provider="snaptrade").update(base_url="http://edited.test/snaptrade", enabled=False)
    output = bootstrap()
    assert Connection.objects.count() == 2
    edited = Connection.objects.get(provider="snaptrade")
    assert (edited.base_url, edited.enabled) == ("http://edited.test/snaptrade", False)
    assert "exists   Stand-in sandbox" in output
    assert Operation.objects.count() == 2


def test_no_sandbox_option(db, stand_ins):
    bootstrap("--no-sandbox")
    assert not Connection.objects.exists()


def test_every_installed_provider_with_a_simulator_gets_a_working_sandbox_connection(db, settings):
    """With the real providers and simulators: each connection is valid for its provider."""
    settings.PROVISIONING = {**settings.PROVISIONING, "SANDBOX_URL": SANDBOX}
    bootstrap()
    simulators = {simulator.name for simulator in simulator_classes()}
    expected = {kind for kind, p in registry.all_providers().items() if (p.sandbox_simulator or kind) in simulators}
    assert expected, "no provider has a simulator"
    assert set(Connection.objects.values_list("provider", flat=True)) == expected
    assert sorted(Connection.objects.values_list("name", flat=True)) == [
        "Flyve MDM demo (GLPI) sandbox",
        "Kandy (v1.2) sandbox",
        "SCIM 2.0 application sandbox",
        "SnapTrade sandbox",
        "Xhoppe sandbox",
    ]
    scim = Connection.objects.get(provider="scim")
    assert (scim.base_url, scim.credentials) == (f"{SANDBOX}/scim/v2", sandbox_credentials()["scim"])
    for connection in Connection.objects.all():
        provider = registry.get(connection.provider)
        assert connection.base_url.startswith(f"{SANDBOX}/{provider.sandbox_simulator or provider.kind}")
        assert provider.clean_credentials(connection.credentials) == connection.credentials


def test_the_sandbox_learns_where_flyve_validation_links_point(db, env_file, monkeypatch, settings):
    monkeypatch.delenv("SANDBOX_FLYVE_WEBAPP_URL", raising=False)
    settings.PROVISIONING = {**settings.PROVISIONING, "PROVIDERS": ["provisioning.providers.flyve.FlyveProvider"]}
    Connection.objects.create(provider="snaptrade", name="taken first", base_url="https://x.test")

    output = bootstrap("--portal-url", "https://portal.test/")
    bootstrap()  # a second run adds nothing

    flyve = Connection.objects.get(provider="flyve")
    assert flyve.pk != 1
    assert env_file.read_text().count("SANDBOX_FLYVE_WEBAPP_URL") == 1
    assert f"SANDBOX_FLYVE_WEBAPP_URL=https://portal.test/validate/flyve/{flyve.pk}/\n" in env_file.read_text()
    assert "recorded SANDBOX_FLYVE_WEBAPP_URL in .env" in output
