"""``manage.py rotate_encryption_keys`` re-encrypts every secret so that the old key can go."""

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection as database

from provisioning.models import Account, Connection, Member, Operation

OLD, NEW, UNKNOWN = (Fernet.generate_key().decode() for _ in range(3))


def raw(table, column, pk):
    with database.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def rotate():
    out = io.StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "2", stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def secrets_under_old_key(db, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    connection = Connection.objects.create(
        provider="kandy",
        name="Kandy",
        base_url="http://kandy.test/v1.2",
        credentials={"api_key": "DAK-1", "api_secret": "DAS-1"},
        secret_state={"domain_access_token": "DAT-1"},
    )
    accounts = [
        Account.objects.create(
            member=Member.objects.create(email=f"m{i}@example.org"),
            connection=connection,
            secrets={"user_password": f"pw-{i}"} if i else {},
        )
        for i in range(5)
    ]
    operation = Operation.objects.create(
        kind="verify", account=accounts[1], connection=connection, requested_by="t", secret_input={"code": "123456"}
    )
    return connection, accounts, operation


def test_after_rotation_only_the_new_key_is_needed(secrets_under_old_key, settings):
    connection, accounts, operation = secrets_under_old_key
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    output = rotate()
    assert "provisioning.Connection.credentials: 1 re-encrypted" in output
    assert "provisioning.Connection.secret_state: 1 re-encrypted" in output
    assert "provisioning.Account.secrets: 4 re-encrypted" in output  # the empty one has nothing to rotate
    assert "provisioning.Operation.secret_input: 1 re-encrypted" in output

    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    connection.refresh_from_db()
    assert connection.credentials == {"api_key": "DAK-1", "api_secret": "DAS-1"}
    assert connection.secret_state == {"domain_access_token": "DAT-1"}
    assert [Account.objects.get(pk=a.pk).secrets for a in accounts] == [{}] + [
        {"user_password": f"pw-{i}"} for i in range(1, 5)
    ]
    assert Operation.objects.get(pk=operation.pk).secret_input == {"code": "123456"}
    Fernet(NEW.encode()).decrypt(raw("provisioning_connection", "credentials", connection.pk).encode())


def test_without_rotation_the_new_key_alone_cannot_read(secrets_under_old_key, settings):
    connection, _, _ = secrets_under_old_key
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(InvalidToken):
        Connection.objects.get(pk=connection.pk)


def test_unreadable_values_are_reported_and_left_alone(secrets_under_old_key, settings):
    connection, accounts, _ = secrets_under_old_key
    foreign = Fernet(UNKNOWN.encode()).encrypt(b'{"user_password": "x"}').decode()
    with database.cursor() as cursor:
        cursor.execute("UPDATE provisioning_account SET secrets = %s WHERE id = %s", [foreign, accounts[2].pk])
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    with pytest.raises(CommandError, match="1 values could not be decrypted"):
        rotate()
    assert raw("provisioning_account", "secrets", accounts[2].pk) == foreign
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert Account.objects.get(pk=accounts[3].pk).secrets == {"user_password": "pw-3"}


def test_rotating_twice_is_harmless(secrets_under_old_key, settings):
    connection, _, _ = secrets_under_old_key
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    rotate()
    rotate()
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    connection.refresh_from_db()
    assert connection.secret_state == {"domain_access_token": "DAT-1"}
