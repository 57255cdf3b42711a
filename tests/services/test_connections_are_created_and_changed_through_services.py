"""``connection_create`` and ``connection_update``: the one way credentials and settings are
merged and checked, for the admin, the API and the management commands alike."""

import pytest

from provisioning import services
from provisioning.models import Connection


def create(**fields):
    return services.connection_create(
        **{"provider": "scim", "name": "App", "base_url": "https://app.test/scim/v2", **fields}
    )


def test_create_checks_credentials_and_settings_against_the_provider(db):
    with pytest.raises(services.InvalidRequest) as refused:
        create(credentials={"bearer_token": "t", "api_key": "k"}, settings={"deprovision_mode": "archive"})
    assert refused.value.field_errors == {
        "credentials": {"api_key": ["Unknown field (this takes: bearer_token, username, password)."]}
    }
    assert not Connection.objects.exists()

    connection = create(credentials={"bearer_token": " tok "}, settings={"deprovision_mode": "delete"})
    assert (connection.credentials, connection.settings) == ({"bearer_token": "tok"}, {"deprovision_mode": "delete"})


def test_model_fields_are_checked_too(db):
    with pytest.raises(services.InvalidRequest) as refused:
        create(base_url="not a url", credentials={"bearer_token": "t"})
    assert "base_url" in refused.value.field_errors


def test_update_merges_a_value_sets_none_removes_absent_keeps(db):
    connection = create(credentials={"username": "u", "password": "p"})
    connection.secret_state = {"cached": "token"}
    connection.save()

    services.connection_update(connection=connection, max_concurrency=3)
    assert connection.credentials == {"username": "u", "password": "p"}
    assert connection.secret_state == {"cached": "token"}  # unchanged credentials keep what was cached

    services.connection_update(connection=connection, credentials={"username": None, "password": None, "bearer_token": "t"})
    connection.refresh_from_db()
    assert connection.credentials == {"bearer_token": "t"}
    assert connection.secret_state == {}  # it may belong to the old account at the provider
    assert connection.max_concurrency == 3


def test_update_refuses_what_leaves_the_credentials_incomplete(db):
    connection = create(credentials={"bearer_token": "t"})
    with pytest.raises(services.InvalidRequest) as refused:
        services.connection_update(connection=connection, credentials={"bearer_token": None})
    assert "credentials" in refused.value.field_errors
    connection.refresh_from_db()
    assert connection.credentials == {"bearer_token": "t"}


def test_the_provider_of_a_connection_cannot_change(db):
    connection = create(credentials={"bearer_token": "t"})
    with pytest.raises(services.InvalidRequest) as refused:
        services.connection_update(connection=connection, provider="kandy")
    assert refused.value.field_errors == {"provider": ["The provider of a connection cannot change."]}


def test_a_provider_that_is_not_installed_is_refused(db):
    with pytest.raises(services.InvalidRequest) as refused:
        services.connection_create(provider="nosuch", name="x", base_url="https://x.test")
    assert "provider" in refused.value.field_errors


def test_a_credential_name_with_a_null_character_is_refused_without_echoing_it(db):
    with pytest.raises(services.InvalidRequest) as refused:
        create(credentials={"bearer_token": "t", "a\x00b": "x"})
    assert refused.value.field_errors == {
        "credentials": {"non_field_errors": ["Null characters are not allowed. Field names take none either."]}
    }


def test_a_check_reports_credentials_and_settings_together(db):
    with pytest.raises(services.InvalidRequest) as refused:
        services.connection_changes_check(
            provider="scim", credentials={"username": "u"}, settings={"deprovision_mode": "archive"}
        )
    assert set(refused.value.field_errors) == {"credentials", "settings"}

    connection = create(credentials={"bearer_token": "t"})
    # an update checks only what it changes, merged into what is stored
    services.connection_changes_check(provider="scim", connection=connection, settings={"deprovision_mode": "delete"})


def test_a_deletion_that_meets_a_protected_row_is_a_conflict_with_nothing_deleted(db, monkeypatch):
    """The row lock keeps new accounts out while a connection is deleted; should one still refer to
    it, the deletion is one sentence both interfaces show, and rolls back the accounts it deleted."""
    from django.db.models import ProtectedError

    from provisioning.models import Account, Member
    from provisioning.states import AccountStatus

    connection = Connection.objects.create(provider="kandy", name="K", base_url="http://k.test", credentials={})
    Account.objects.create(member=Member.objects.create(email="a@example.org"), connection=connection,
                           status=AccountStatus.DEPROVISIONED)

    def protected(self, *args, **kwargs):
        raise ProtectedError("a new account", set())

    monkeypatch.setattr(Connection, "delete", protected)
    with pytest.raises(services.Conflict) as refused:
        services.connection_delete(connection=connection)

    assert refused.value.code == "busy" and "nothing was deleted" in refused.value.message
    assert Account.objects.filter(connection=connection).exists()
