"""Connection credentials can be written in the admin but are never shown again."""

from django.db import connection as database
from django.urls import reverse

from provisioning.models import Connection

ADD = reverse("admin:provisioning_connection_add") + "?provider=snaptrade"


def form_data(**overrides):
    data = {
        "name": "Live",
        "base_url": "https://api.example.test",
        "enabled": "on",
        "max_accounts": "",
        "requests_per_minute": "",
        "max_concurrency": "",
        "credential_client_id": "",
        "credential_consumer_key": "",
        "credential_region": "",
    }
    data.update(overrides)
    return data


def change_url(connection):
    return reverse("admin:provisioning_connection_change", args=[connection.pk])


def test_change_page_never_renders_credential_values(admin_client, connection):
    html = admin_client.get(change_url(connection)).content.decode()
    assert "CLIENT-ID-VALUE" not in html and "CONSUMER-KEY-VALUE-42" not in html
    assert 'type="password" name="credential_consumer_key"' in html
    assert "Client id, Consumer key" in html  # which ones are set, by the names of their inputs


def test_blank_credential_keeps_the_current_value(admin_client, connection):
    data = form_data(name=connection.name, base_url=connection.base_url, credential_client_id="NEW-CLIENT")
    response = admin_client.post(change_url(connection), data)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.credentials == {"client_id": "NEW-CLIENT", "consumer_key": "CONSUMER-KEY-VALUE-42"}


def test_changed_credentials_drop_cached_secret_state(admin_client, connection):
    connection.secret_state = {"token": "cached-with-old-key"}
    connection.save()
    data = form_data(name=connection.name, base_url=connection.base_url, credential_consumer_key="NEW-KEY")
    admin_client.post(change_url(connection), data)
    connection.refresh_from_db()
    assert connection.secret_state == {}


def test_unchanged_credentials_keep_cached_secret_state(admin_client, connection):
    connection.secret_state = {"token": "still-good"}
    connection.save()
    admin_client.post(change_url(connection), form_data(name=connection.name, base_url=connection.base_url, max_accounts="9"))
    connection.refresh_from_db()
    assert connection.secret_state == {"token": "still-good"} and connection.max_accounts == 9


def test_optional_credential_can_be_removed(admin_client, connection):
    connection.credentials = {**connection.credentials, "region": "eu"}
    connection.save()
    admin_client.post(
        change_url(connection),
        form_data(name=connection.name, base_url=connection.base_url, clear_credential_region="on"),
    )
    connection.refresh_from_db()
    assert "region" not in connection.credentials


def test_add_requires_required_credentials_and_does_not_echo_them(admin_client, db):
    response = admin_client.post(ADD, form_data(credential_client_id="TYPED-CLIENT-ID"))
    assert response.status_code == 200  # the form again, with an error
    assert not Connection.objects.exists()
    assert response.context["adminform"].form.errors["credential_consumer_key"] == ["This field is required."]
    assert "TYPED-CLIENT-ID" not in response.content.decode()


def test_add_with_credentials_creates_an_encrypted_connection(admin_client, db):
    response = admin_client.post(
        ADD, form_data(credential_client_id="C-1", credential_consumer_key="K-1", max_accounts="5")
    )
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert connection.provider == "snaptrade"
    assert connection.credentials == {"client_id": "C-1", "consumer_key": "K-1"}
    with database.cursor() as cursor:
        cursor.execute("SELECT credentials FROM provisioning_connection")
        (stored,) = cursor.fetchone()
    assert "K-1" not in stored and stored.startswith("gAAAA")


def test_provider_of_a_connection_cannot_be_changed(admin_client, connection):
    admin_client.post(change_url(connection), form_data(name=connection.name, base_url=connection.base_url, provider="kandy"))
    connection.refresh_from_db()
    assert connection.provider == "snaptrade"


def test_quota_usage_counts_accounts_that_hold_a_place(admin_client, connection, make_account):
    from provisioning.models import Member

    connection.max_accounts = 5
    connection.save()
    make_account("active")
    make_account("failed", member=Member.objects.create(email="b@example.org"))
    make_account("awaiting_verification", member=Member.objects.create(email="c@example.org"))
    html = admin_client.get(reverse("admin:provisioning_connection_changelist")).content.decode()
    assert "2 / 5" in html


def test_connection_settings_need_manage_connection(staff_client, grant, connection):
    grant("view_connection", "change_connection")
    response = staff_client.post(change_url(connection), form_data(name="Renamed", base_url=connection.base_url))
    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.name != "Renamed"


def test_the_connection_form_says_optional_once_and_base_url_as_written(admin_client, db):
    # "Optional. Not set. Optional: a domain access token to start with …", and "Base url:"
    from provisioning.providers import registry

    kandy = Connection.objects.create(provider="kandy", name="Kandy", base_url="http://k.test", credentials={})
    page = admin_client.get(change_url(kandy)).content.decode()
    assert "Optional. Not set. A domain access token to start with" in page
    assert "Base URL:" in page and "Base url" not in page
    for provider in registry.all_providers().values():
        for declared in provider.credential_fields:
            # the form says whether it is required: its own words do not say it again
            assert not declared.help_text.lower().startswith(("optional", "required")), (provider.kind, declared.name)


def test_a_limit_of_zero_is_refused_with_what_to_do_instead(admin_client, db):
    response = admin_client.post(ADD, form_data(credential_client_id="C-1", credential_consumer_key="K-1",
                                                max_concurrency="0", requests_per_minute="0"))
    assert response.status_code == 200 and not Connection.objects.exists()
    errors = response.context["adminform"].form.errors
    assert errors["max_concurrency"] == errors["requests_per_minute"] == [
        "At least 1. Leave it empty for no limit; to send nothing, disable the connection."]


def test_the_migration_keeps_the_limits_a_zero_gave(connection):
    import importlib

    from django.apps import apps

    Connection.objects.filter(pk=connection.pk).update(max_concurrency=0, requests_per_minute=0)
    migration = importlib.import_module("provisioning.migrations.0024_connection_limits_of_at_least_one")
    with database.schema_editor() as editor:
        migration.zero_is_no_limit(apps, editor)
    connection.refresh_from_db()
    assert (connection.max_concurrency, connection.requests_per_minute) == (None, None)


def test_a_remove_box_only_under_a_credential_that_is_set(admin_client, connection):
    # the add form offered "Remove domain access token: forget the current value", with none to forget
    remove, keep = "Remove region", "Leave an input blank to keep the current value."
    page = admin_client.get(ADD).content.decode()
    assert remove not in page and keep not in page and "Not set." not in page
    page = admin_client.get(change_url(connection)).content.decode()
    assert remove not in page and keep in page and "Optional. Not set." in page
    connection.credentials = {**connection.credentials, "region": "eu"}
    connection.save()
    page = admin_client.get(change_url(connection)).content.decode()
    assert remove in page and "Optional. Set; leave blank to keep it." in page
