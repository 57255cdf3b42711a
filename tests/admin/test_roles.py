"""The three roles (groups made by migration 0007_roles) and what each may see and do in the admin."""

import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from provisioning.models import Batch, Operation, SecretAccess
from provisioning.states import AccountStatus, OperationKind, OperationStatus
from tests.admin.conftest import JPEG
from tests.conftest import pass_second_factor

OPERATOR_PERMISSIONS = {
    "view_member", "add_member", "change_member",
    "view_connection", "view_account", "view_operation", "view_batch", "view_externalcall",
    "add_account", "provision_account", "deprovision_account",
}
AUDITOR_PERMISSIONS = {
    "view_member", "view_connection", "view_account", "view_operation", "view_batch", "view_externalcall",
    "view_secretaccess",
}
# given by 0009_secret_access_origin: the admin's change log and the sign-in records
AUDITOR_AUDIT_PERMISSIONS = {
    "admin.view_logentry", "axes.view_accessattempt", "axes.view_accessfailurelog", "axes.view_accesslog",
}


def app_codenames(group_name) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=group_name).permissions.values_list("content_type__app_label", "codename")
    }


def codenames(group_name) -> set[str]:
    return set(Group.objects.get(name=group_name).permissions.values_list("codename", flat=True))


@pytest.mark.django_db
def test_the_three_groups_exist_with_exactly_their_permissions():
    assert codenames("Provisioning operators") == OPERATOR_PERMISSIONS
    assert app_codenames("Auditors") == {f"provisioning.{c}" for c in AUDITOR_PERMISSIONS} | AUDITOR_AUDIT_PERMISSIONS
    assert codenames("Secret keepers") == {"view_account", "view_account_secrets"}
    others = Group.objects.exclude(name="Auditors")
    assert {p.content_type.app_label for g in others for p in g.permissions.all()} == {"provisioning"}


@pytest.mark.django_db
def test_the_roles_migration_is_idempotent():
    from importlib import import_module

    from django.apps import apps
    from django.db import connection

    migration = import_module("provisioning.migrations.0007_roles")
    Group.objects.get(name="Auditors").permissions.add(Permission.objects.get(codename="provision_account"))
    editor = SimpleNamespace(connection=connection)  # all the function uses of a schema editor
    migration.create_roles(apps, editor)
    migration.create_roles(apps, editor)
    assert Group.objects.filter(name__in=migration.ROLES).count() == 3
    assert codenames("Auditors") == AUDITOR_PERMISSIONS  # 0007 alone (0009 adds the audit's)


@pytest.fixture
def in_group(staff_user, client):
    def join(name):
        staff_user.groups.add(Group.objects.get(name=name))
        client.force_login(staff_user)
        return pass_second_factor(client, staff_user)  # secret keepers need it; harmless for others

    return join


@pytest.fixture
def world(make_account, connection):
    """Something of everything, each in a state where staff could act on it."""
    active = make_account(AccountStatus.ACTIVE, secrets={"user_secret": "S3CRET"})
    failed = Operation.objects.create(kind="sync", status=OperationStatus.FAILED, account=active,
                                      connection=connection, requested_by="admin:admin", error_code="transient")
    batch = Batch.objects.create(connection=connection, requested_by="api:bot")
    return {"account": active, "member": active.member, "connection": connection, "operation": failed, "batch": batch}


def change_urls(world) -> list[str]:
    """Every URL of the admin that changes something (its GET shows the form or the confirmation)."""
    account, operation, connection, member = world["account"], world["operation"], world["connection"], world["member"]
    urls = [reverse("admin:provisioning_account_request", args=[account.pk, kind]) for kind in (
        OperationKind.LOGIN_LINK, OperationKind.ROTATE_SECRET, OperationKind.SYNC, OperationKind.DEPROVISION,
        OperationKind.RESET_PASSWORD)]
    urls += [reverse(f"admin:provisioning_operation_{verb}", args=[operation.pk]) for verb in ("retry", "cancel", "confirm")]
    urls += [
        reverse("admin:provisioning_connection_request", args=[connection.pk, OperationKind.HEALTH_CHECK]),
        reverse("admin:provisioning_connection_quarantine", args=[connection.pk]),
        reverse("admin:provisioning_connection_lift_quarantine", args=[connection.pk]),
        reverse("admin:provisioning_connection_delete", args=[connection.pk]),
        reverse("admin:provisioning_member_add"),
        reverse("admin:provisioning_member_delete", args=[member.pk]),
        reverse("admin:provisioning_account_add"),
        reverse("admin:provisioning_connection_add") + "?provider=snaptrade",
        reverse("admin:provisioning_account_secrets", args=[account.pk]),
    ]
    return urls


def test_an_auditor_can_open_no_page_that_changes_something(in_group, world):
    client = in_group("Auditors")
    for url in change_urls(world):
        assert client.get(url).status_code == 403, url
        assert client.post(url).status_code == 403, url
    assert Operation.objects.count() == 1


def test_an_auditor_reads_everything_but_sees_no_button_that_would_fail(in_group, world):
    client = in_group("Auditors")
    pages = {
        "account": reverse("admin:provisioning_account_change", args=[world["account"].pk]),
        "operation": reverse("admin:provisioning_operation_change", args=[world["operation"].pk]),
        "connection": reverse("admin:provisioning_connection_change", args=[world["connection"].pk]),
        "member": reverse("admin:provisioning_member_change", args=[world["member"].pk]),
        "batch": reverse("admin:provisioning_batch_change", args=[world["batch"].pk]),
    }
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        page = response.content.decode()
        for fragment in ("/request/", "/retry/", "/cancel/", "/confirm/", "/quarantine/", "/secrets/",
                         'name="_save"', "/delete/"):
            assert fragment not in page, (name, fragment)
    for model in ("account", "operation", "member", "connection", "secretaccess", "externalcall", "batch"):
        changelist = client.get(reverse(f"admin:provisioning_{model}_changelist"))
        assert changelist.status_code == 200, model
        actions = changelist.context["action_form"].fields["action"].choices[1:] if changelist.context["action_form"] else []
        # no action offered, but exporting the secret reads (the audit)
        assert [name for name, _ in actions] == (["export_csv"] if model == "secretaccess" else []), model
        assert not re.search(r'href="[^"]*/add/', changelist.content.decode()), model


def test_an_operator_runs_operations_but_cannot_view_secrets(in_group, world):
    client = in_group("Provisioning operators")
    account = world["account"]
    page = client.get(reverse("admin:provisioning_account_change", args=[account.pk]))
    assert page.context["secrets_url"] is None and "/secrets/" not in page.content.decode()
    assert "S3CRET" not in page.content.decode()
    assert client.get(reverse("admin:provisioning_account_secrets", args=[account.pk])).status_code == 403
    assert client.post(reverse("admin:provisioning_account_secrets", args=[account.pk])).status_code == 403
    # but runs operations: buttons and their pages
    assert ("Sync remote state", reverse("admin:provisioning_account_request", args=[account.pk, "sync"])) in (
        page.context["operation_buttons"])
    assert client.post(reverse("admin:provisioning_account_request", args=[account.pk, "sync"])).status_code == 302
    assert Operation.objects.filter(kind="sync", status=OperationStatus.QUEUED).exists()
    # not connections: no health checks, no quarantine
    assert client.get(reverse("admin:provisioning_connection_quarantine", args=[world["connection"].pk])).status_code == 403


def test_a_refused_page_says_what_it_needs_and_which_roles_give_what(in_group, world):
    # it read "403 Forbidden" and nothing else, outside the admin's frame
    operator = in_group("Provisioning operators")
    page = operator.get(reverse("admin:provisioning_account_secrets", args=[world["account"].pk]))
    html = page.content.decode()
    assert page.status_code == 403
    # and which role gives it, not only what each role allows
    assert ("Reading an account&#x27;s secrets needs the permission “Can read account secrets”, which the role "
            "Secret keepers gives.") in html
    assert "<strong>Secret keepers</strong> may read accounts&#x27; secrets" in html
    assert 'id="site-name"' in html and "Back to the overview" in html  # the admin's frame
    page = operator.get(reverse("admin:provisioning_connection_quarantine", args=[world["connection"].pk]))
    assert ("Quarantining a connection or lifting its quarantine needs the permission “Can configure provider "
            "connections”, which no role gives: it is for administrators (superusers).") in page.content.decode()
    page = operator.post(reverse("admin:provisioning_connection_request", args=[world["connection"].pk, "health_check"]))
    assert page.status_code == 403 and "Requesting “Health check” needs the permission" in page.content.decode()
    # signed out, Django's own (the sign-in page, for the admin)
    assert "Secret keepers" not in Client().get("/admin/provisioning/account/", follow=True).content.decode()


def test_a_secret_keeper_reads_secrets_and_the_read_is_recorded(in_group, world):
    client = in_group("Secret keepers")
    account = world["account"]
    response = client.post(reverse("admin:provisioning_account_secrets", args=[account.pk]))
    assert response.status_code == 200 and "S3CRET" in response.content.decode()
    assert SecretAccess.objects.get().account == account


def test_an_auditor_sees_the_captcha_but_no_new_captcha_button(in_group, make_account, member):
    from provisioning.models import Member

    account = make_account(AccountStatus.AWAITING_CAPTCHA, challenge_image=JPEG,
                           member=Member.objects.create(email="cap@example.org"))
    client = in_group("Auditors")
    page = client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert "provisioning-captcha-large" in page and "New captcha" not in page and "/request/" not in page


def test_the_user_page_says_what_each_role_allows(admin_client, django_user_model):
    from provisioning.admin.users import ROLE_WORDS

    # every group the migrations make has its words, and no words name a group that is not made
    assert set(Group.objects.values_list("name", flat=True)) == set(ROLE_WORDS)
    someone = django_user_model.objects.create_user("someone", password="x-long-password", is_staff=True)
    page = admin_client.get(reverse("admin:auth_user_change", args=[someone.pk])).content.decode()
    assert "The portal&#x27;s roles:" in page or "The portal's roles:" in page
    assert "<strong>Secret keepers</strong> may read accounts&#x27; secrets; every read is recorded." in page
    groups = admin_client.get(reverse("admin:auth_group_changelist")).content.decode()
    assert "They run nothing." in groups and "No secrets, no connection settings." in groups
    Group.objects.create(name="Night shift")
    groups = admin_client.get(reverse("admin:auth_group_changelist")).content.decode()
    assert "What its permissions allow (a group made here)." in groups
