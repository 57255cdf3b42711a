"""Reading an account's secrets in the admin needs view_account_secrets and leaves a record."""

from django.urls import reverse

from provisioning.models import SecretAccess
from provisioning.states import AccountStatus


def secrets_url(account):
    return reverse("admin:provisioning_account_secrets", args=[account.pk])


def test_staff_without_the_permission_is_refused(staff_client, grant, make_account):
    grant("view_account")
    account = make_account(AccountStatus.ACTIVE, secrets={"user_secret": "S3CRET"})
    assert staff_client.get(secrets_url(account)).status_code == 403
    assert staff_client.post(secrets_url(account)).status_code == 403
    page = staff_client.get(reverse("admin:provisioning_account_change", args=[account.pk]))
    assert secrets_url(account) not in page.content.decode()
    assert not SecretAccess.objects.exists()


def test_looking_is_a_separate_recorded_act(staff_client, grant, make_account, staff_user):
    grant("view_account", "view_account_secrets")
    account = make_account(AccountStatus.ACTIVE, secrets={"user_secret": "S3CRET", "pin": {"a": 1}})
    first = staff_client.get(secrets_url(account))
    assert first.status_code == 200 and b"S3CRET" not in first.content
    # the secrets named in words, not as stored ("user_secret")
    assert "This account holds: <strong>Pin, User secret</strong>." in first.content.decode()
    assert not SecretAccess.objects.exists()  # a GET only asks
    shown = staff_client.post(secrets_url(account))
    assert b"S3CRET" in shown.content and b"<th>User secret</th><td>S3CRET</td>" in shown.content
    assert "no-store" in shown["Cache-Control"]
    access = SecretAccess.objects.get()
    assert (access.account, access.user, access.via, access.keys) == (account, staff_user, "admin", ["pin", "user_secret"])


def test_an_account_without_secrets_offers_none_to_view(admin_client, make_account):
    empty = make_account(AccountStatus.PENDING)
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[empty.pk]))
    assert page.context["secrets_url"] is None and secrets_url(empty) not in page.content.decode()
    empty.secrets = {"user_secret": "S3CRET"}
    empty.save()
    page = admin_client.get(reverse("admin:provisioning_account_change", args=[empty.pk]))
    assert page.context["secrets_url"] == secrets_url(empty)
