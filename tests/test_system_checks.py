"""Misconfiguration fails at start-up: the system checks of provisioning/checks.py."""

import pytest

from provisioning import checks
from provisioning.providers.base import Provider
from provisioning.providers.http import ProviderClient


def test_installed_providers_pass_the_checks():
    assert [m for m in checks.check_providers(None) if m.level >= 40] == []


class Broken(Provider):
    kind = "broken"
    label = "Broken"
    client_class = ProviderClient
    operations = frozenset({"reconcile", "verify"})
    input_fields = {"validate": ()}


def test_a_provider_that_does_not_implement_what_it_declares_is_an_error(install_providers):
    install_providers(Broken)

    ids = sorted(m.id for m in checks.check_providers(None))

    assert ids.count("provisioning.E004") == 2  # reconcile cannot list, verify is not implemented
    assert ids.count("provisioning.E007") == 1  # input for an operation it does not offer


class Wordy(Provider):
    kind = "wordy"
    label = "Wordy"
    client_class = ProviderClient
    operations = frozenset({"reset_password"})
    operation_words = {("reset_password", "awaiting_verification"): "Send a new code",  # fine
                       ("reset_password", "pending"): "Start over",  # not asked from pending
                       ("verify", "awaiting_verification"): "Check"}  # not offered

    def reset_password(self, ctx):
        raise NotImplementedError


def test_button_words_for_an_operation_where_it_cannot_be_asked_are_an_error(install_providers):
    install_providers(Wordy)

    assert sorted(m.id for m in checks.check_providers(None)) == ["provisioning.E008", "provisioning.E008"]


class Closable(Provider):
    kind = "closable"
    label = "Closable"
    client_class = ProviderClient
    operations = frozenset({"deprovision", "record_closed"})  # it can delete users itself

    def deprovision(self, ctx):
        raise NotImplementedError


def test_a_closing_recorded_by_staff_is_for_providers_that_cannot_close_accounts(install_providers):
    install_providers(Closable)

    assert [m.msg for m in checks.check_providers(None)] == [
        "Provider 'closable' declares both 'deprovision' and 'record_closed': an account it can close is "
        "deprovisioned, not recorded as closed by staff.",
    ]


def test_a_provider_offering_to_record_closings_takes_their_one_input():
    # declared by the base class, not by each provider: the account list asks for it once for
    # accounts at several providers
    from provisioning.providers.base import RECORD_CLOSED_INPUT
    from provisioning.providers.flyve import FlyveProvider
    from provisioning.providers.xhoppe import XhoppeProvider

    assert Closable.input_fields == {"record_closed": RECORD_CLOSED_INPUT}
    for provider in (XhoppeProvider, FlyveProvider):
        assert provider.input_fields["record_closed"] is RECORD_CLOSED_INPUT
    assert "record_closed" not in Provider.input_fields


def test_a_provider_path_that_does_not_import_is_an_error(settings):
    settings.PROVISIONING = {**settings.PROVISIONING, "PROVIDERS": ["provisioning.providers.nowhere.Provider"]}

    assert [m.id for m in checks.check_providers(None)] == ["provisioning.E005"]


def test_a_kind_listed_twice_is_an_error(settings):
    path = "provisioning.providers.kandy.KandyProvider"
    settings.PROVISIONING = {**settings.PROVISIONING, "PROVIDERS": [path, path]}

    assert [m.id for m in checks.check_providers(None)] == ["provisioning.E006"]


def test_a_connection_to_a_provider_that_is_not_installed_is_refused(db):
    from django.core.exceptions import ValidationError

    from provisioning.models import Connection

    connection = Connection(provider="nosuch", name="x", base_url="https://x.test")
    with pytest.raises(ValidationError) as refused:
        connection.full_clean()
    assert "not an installed provider" in str(refused.value.message_dict["provider"])


def test_missing_encryption_keys_are_an_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = []

    assert [m.id for m in checks.check_encryption_keys(None)] == ["provisioning.E001"]


def test_an_invalid_encryption_key_is_an_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]

    assert [m.id for m in checks.check_encryption_keys(None)] == ["provisioning.E002"]


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    # a choice's words changed without a migration would leave `makemigrations` with work to do
    # on the next deploy (and an AlterField nobody reviewed)
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exited:
        pytest.fail(f"models and migrations differ (exit {exited.code}):\n{out.getvalue()}")
