"""Misconfiguration fails at start-up: the system checks of provisioning/checks.py."""

from provisioning import checks
from provisioning.providers import registry
from provisioning.providers.base import Provider
from provisioning.providers.http import ProviderClient


def test_installed_providers_pass_the_checks():
    assert [m for m in checks.check_providers(None) if m.level >= 40] == []


def test_a_provider_declaring_reconcile_without_listing_users_is_an_error(monkeypatch):
    class Broken(Provider):
        kind = "snaptrade"
        label = "Broken"
        client_class = ProviderClient
        operations = frozenset({"reconcile", "verify"})

    monkeypatch.setitem(registry._providers, "snaptrade", Broken)

    ids = sorted(m.id for m in checks.check_providers(None))

    assert ids.count("provisioning.E004") == 2  # reconcile cannot list, verify is not implemented


def test_missing_encryption_keys_are_an_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = []

    assert [m.id for m in checks.check_encryption_keys(None)] == ["provisioning.E001"]


def test_an_invalid_encryption_key_is_an_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]

    assert [m.id for m in checks.check_encryption_keys(None)] == ["provisioning.E002"]
