"""``manage.py connection_from_env``: a connection from the provider's environment variables."""

import io

import pytest
from django.core.management import CommandError, call_command

from provisioning.models import Connection
from provisioning.providers import registry

SEED = {"PROJECT_API_KEY": "DAK-seed", "PROJECT_API_SECRET": "DAS-seed", "PROJECT_ACCESS_TOKEN": "DAT-seed"}


def run(*args):
    out = io.StringIO()
    call_command("connection_from_env", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def seed_env(monkeypatch):
    for name, value in SEED.items():
        monkeypatch.setenv(name, value)


def test_kandy_connection_from_the_seed_variables(db, seed_env):
    output = run("--provider", "kandy", "--name", "Kandy project", "--base-url", "http://kandy.test/v1.2", "--max-accounts", "5")
    connection = Connection.objects.get(name="Kandy project")
    assert connection.provider == "kandy" and connection.max_accounts == 5
    assert registry.get("kandy").clean_credentials(connection.credentials) == connection.credentials
    assert connection.credentials["api_key"] == "DAK-seed" and connection.credentials["api_secret"] == "DAS-seed"
    assert "DAT-seed" in connection.credentials.values()
    for value in SEED.values():
        assert value not in output  # names only


def test_running_again_updates_and_drops_cached_tokens(db, seed_env, monkeypatch):
    run("--provider", "kandy", "--name", "K", "--base-url", "http://kandy.test/v1.2")
    connection = Connection.objects.get(name="K")
    connection.secret_state = {"domain_access_token": "fetched-with-old-key"}
    connection.save()
    monkeypatch.setenv("PROJECT_API_SECRET", "DAS-rotated")
    output = run("--provider", "kandy", "--name", "K")
    connection.refresh_from_db()
    assert output.startswith("Updated")
    assert connection.credentials["api_secret"] == "DAS-rotated"
    assert connection.base_url == "http://kandy.test/v1.2"
    assert connection.secret_state == {}
    assert Connection.objects.count() == 1


def test_new_connection_needs_a_base_url(db, seed_env):
    with pytest.raises(CommandError, match="--base-url"):
        run("--provider", "kandy", "--name", "K")
    assert not Connection.objects.exists()


def test_missing_variables_are_an_error(db, monkeypatch):
    for name in SEED:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CommandError, match="No Kandy"):
        run("--provider", "kandy", "--name", "K", "--base-url", "http://kandy.test/v1.2")


def test_incomplete_credentials_name_what_is_missing(db, monkeypatch):
    monkeypatch.setenv("PROJECT_API_KEY", "DAK-only")
    monkeypatch.delenv("PROJECT_API_SECRET", raising=False)
    with pytest.raises(CommandError, match="api_secret"):
        run("--provider", "kandy", "--name", "K", "--base-url", "http://kandy.test/v1.2")


def test_a_connection_of_another_provider_is_not_touched(db, seed_env):
    Connection.objects.create(provider="snaptrade", name="K", base_url="http://s.test", credentials={"client_id": "c"})
    with pytest.raises(CommandError, match="SnapTrade connection"):
        run("--provider", "kandy", "--name", "K")
    assert Connection.objects.get().credentials == {"client_id": "c"}


def test_providers_without_environment_variables_say_so(db):
    with pytest.raises(CommandError, match="cannot be configured from the environment"):
        run("--provider", "snaptrade", "--name", "S", "--base-url", "http://s.test")
