"""Secrets need a fresh second factor and every read says who, when, what and from where; an
auditor exports the secret reads and the admin's changes as CSV (README, "Security")."""

import csv
import io
import re
import time

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from provisioning import services
from provisioning.api.tokens import digest
from provisioning.models import Account, Connection, Member, SecretAccess
from provisioning.second_factor import VERIFIED_AT_SESSION_KEY
from tests.conftest import pass_second_factor, totp_code, totp_device

PASSWORD = "a-long-password"


@pytest.fixture
def account(db):
    connection = Connection.objects.create(provider="kandy", name="Kandy", base_url="http://kandy.test")
    member = Member.objects.create(email="jane@example.org")
    return Account.objects.create(member=member, connection=connection, status="active", secrets={"api_secret": "S3CRET"})


@pytest.fixture
def keeper(db, django_user_model):
    user = django_user_model.objects.create_user("keeper", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Secret keepers"))
    return user


@pytest.fixture
def keeper_client(client, keeper):
    client.force_login(keeper)
    return pass_second_factor(client, keeper)


def age_second_factor(client, seconds):
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - seconds
    session.save()


def test_admin_secrets_are_shown_with_a_fresh_code_and_asked_again_later(keeper_client, keeper, account, settings):
    url = reverse("admin:provisioning_account_secrets", args=[account.pk])
    shown = keeper_client.post(url, HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="198.51.100.23")
    assert b"S3CRET" in shown.content
    access = SecretAccess.objects.get()
    assert (access.user, access.keys, access.ip_address, access.user_agent) == (keeper, ["api_secret"], "198.51.100.23", "Firefox/140")
    assert access.created_at is not None

    age_second_factor(keeper_client, settings.SECRETS_REAUTH_SECONDS + 1)
    again = keeper_client.post(url)
    assert again.status_code == 302 and again["Location"].startswith("/admin/second-factor/?again=1")
    assert SecretAccess.objects.count() == 1
    page = keeper_client.get(again["Location"])
    assert page.status_code == 200 and "fresh code" in page.content.decode()
    device = totp_device(keeper)
    back = keeper_client.post("/admin/second-factor/", {"code": totp_code(device), "again": "1", "next": url})
    assert back["Location"] == url
    assert b"S3CRET" in keeper_client.post(url).content
    assert SecretAccess.objects.count() == 2


def test_api_secrets_over_a_session_need_a_fresh_code_too(keeper_client, account, settings):
    url = f"/api/v1/accounts/{account.pk}/credentials/"
    assert keeper_client.get(url).json() == {"api_secret": "S3CRET"}
    age_second_factor(keeper_client, settings.SECRETS_REAUTH_SECONDS + 1)
    refused = keeper_client.get(url)
    assert refused.status_code == 403 and "second factor" in refused.json()["detail"]
    assert SecretAccess.objects.count() == 1
    assert SecretAccess.objects.get().via == "api"


def test_api_secrets_with_a_token_are_audited_with_their_origin(keeper, account):
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=keeper).plain_key}")
    assert client.get(f"/api/v1/accounts/{account.pk}/credentials/", HTTP_USER_AGENT="curl/8", REMOTE_ADDR="192.0.2.8").status_code == 200
    access = SecretAccess.objects.get()
    assert (access.ip_address, access.user_agent, access.via) == ("192.0.2.8", "curl/8", "api")


@pytest.fixture
def auditor_client(client, db, django_user_model):
    user = django_user_model.objects.create_user("audrey", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Auditors"))
    client.force_login(user)
    return client


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def read_secrets(account, user):
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT="=cmd()")
    return services.account_secrets_read(account=account, user=user, via="admin", request=request)


def test_an_auditor_exports_the_secret_reads_as_csv(auditor_client, keeper, account):
    read_secrets(account, keeper)
    response = auditor_client.post(
        "/admin/provisioning/secretaccess/", {"action": "export_csv", "_selected_action": [a.pk for a in SecretAccess.objects.all()]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    (row,) = rows(response)
    assert (row["who"], row["secrets read"], row["from address"], row["member"]) == ("keeper", "api_secret", "198.51.100.23", "jane@example.org")
    assert (row["account"], row["connection"]) == (str(account.pk), account.connection.name)
    assert row["client"] == "'=cmd()"  # never a formula in a spreadsheet


def test_the_record_of_a_secret_read_outlives_the_account_and_its_member(auditor_client, keeper, account):
    # deleting a member deletes its deprovisioned accounts: their audit records went with them
    read_secrets(account, keeper)
    Account.objects.filter(pk=account.pk).update(status="deprovisioned")
    services.member_delete(member=account.member)
    access = SecretAccess.objects.get()
    assert access.account is None and (access.member_email, access.connection_name) == ("jane@example.org", account.connection.name)
    listing = auditor_client.get("/admin/provisioning/secretaccess/")
    assert "jane@example.org @ " in listing.content.decode() and "was deleted since" in listing.content.decode()
    assert auditor_client.get(f"/admin/provisioning/secretaccess/{access.pk}/change/").status_code == 200
    response = auditor_client.post("/admin/provisioning/secretaccess/", {"action": "export_csv", "_selected_action": [access.pk]})
    (row,) = rows(response)
    assert (row["account"], row["member"], row["connection"], row["who"]) == ("deleted", "jane@example.org", account.connection.name, "keeper")


def test_an_auditor_reads_and_exports_the_admin_changes_as_csv(auditor_client, keeper, account):
    LogEntry.objects.log_actions(
        user_id=keeper.pk, queryset=[account], action_flag=CHANGE, change_message="Changed status.", single_object=True
    ) if hasattr(LogEntry.objects, "log_actions") else LogEntry.objects.create(
        user=keeper, content_type=ContentType.objects.get_for_model(Account), object_id=str(account.pk),
        object_repr=str(account), action_flag=CHANGE, change_message="Changed status.",
    )
    listing = auditor_client.get("/admin/admin/logentry/")
    assert listing.status_code == 200
    # its filter offers the kinds of record changed, not every model of every app
    content_types = [choice["display"] for spec in listing.context["cl"].filter_specs
                     if spec.title == "content type" for choice in spec.choices(listing.context["cl"])]
    assert content_types == ["All", "Provisioning | account", "—"]  # "—": none (Django's, for a nullable one)
    entry = LogEntry.objects.get()
    assert auditor_client.get(f"/admin/admin/logentry/{entry.pk}/change/").status_code == 200
    assert auditor_client.post(f"/admin/admin/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    response = auditor_client.post("/admin/admin/logentry/", {"action": "export_log_entries_csv", "_selected_action": [entry.pk]})
    (row,) = rows(response)
    assert (row["who"], row["action"], row["model"], row["object id"]) == ("keeper", "changed", "provisioning.account", str(account.pk))


def test_the_admin_shows_an_api_tokens_key_once_and_its_history_never(admin_client, django_user_model):
    # a DRF token's name is its key: the admin printed it in the token's page title, breadcrumbs,
    # delete page, messages and history (which Auditors read)
    from rest_framework.authtoken.models import Token

    bot = django_user_model.objects.create_user("ops-bot", password="x-long-password")
    made = admin_client.post("/admin/provisioning/apitoken/add/", {"user": bot.pk}, follow=True).content.decode()
    key = re.search(r"shown this once only: <code>([0-9a-f]{40})</code>", made).group(1)  # for the API consumer
    stored = Token.objects.get(user=bot).key
    assert stored == digest(key) != key  # the database keeps its digest only
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/providers/").status_code == 200
    pages = [admin_client.get(url).content.decode() for url in (
        "/admin/provisioning/apitoken/", f"/admin/provisioning/apitoken/{bot.pk}/change/",
        f"/admin/provisioning/apitoken/{bot.pk}/history/", f"/admin/provisioning/apitoken/{bot.pk}/delete/")]
    assert all(key not in page and stored not in page for page in pages) and "API token of ops-bot" in pages[1]
    # a token stays its owner's: the change page does not hand the key to someone else
    other = django_user_model.objects.create_user("other-bot", password="x-long-password")
    admin_client.post(f"/admin/provisioning/apitoken/{bot.pk}/change/", {"user": other.pk})
    assert Token.objects.get(key=stored).user == bot
    admin_client.post(f"/admin/provisioning/apitoken/{bot.pk}/delete/", {"post": "yes"})
    assert not Token.objects.filter(user=bot).exists()
    entries = list(LogEntry.objects.values_list("object_repr", flat=True))
    assert entries and all(key not in entry and stored not in entry for entry in entries)
    assert entries.count("API token of ops-bot") == 3  # made, saved (unchanged), deleted
    auditor = django_user_model.objects.create_user("audrey", password=PASSWORD, is_staff=True)
    auditor.groups.add(Group.objects.get(name="Auditors"))
    admin_client.force_login(auditor)
    history = admin_client.get("/admin/admin/logentry/").content.decode()
    assert "API token of ops-bot" in history and key not in history
    assert admin_client.get("/admin/provisioning/apitoken/").status_code == 403  # superusers only


def test_the_migration_names_the_owner_of_the_tokens_already_in_the_history(django_user_model, db):
    import importlib

    from django.apps import apps
    from django.db import connection as database

    bot = django_user_model.objects.create_user("ops-bot", password="x-long-password")
    token_type = ContentType.objects.get(app_label="authtoken", model="tokenproxy")
    LogEntry.objects.create(user=bot, content_type=token_type, object_id=str(bot.pk), object_repr="3f9a…the key",
                            action_flag=ADDITION)
    migration = importlib.import_module("provisioning.migrations.0023_no_api_token_key_in_the_admin_history")
    with database.schema_editor() as editor:
        migration.name_the_owner(apps, editor)
    assert LogEntry.objects.get().object_repr == "API token of ops-bot"
