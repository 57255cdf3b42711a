"""A second factor for those who can do harm: TOTP with recovery codes (README, "Security")."""

import re

import pytest
from django.contrib.auth.models import Permission
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import pass_second_factor, totp_code, totp_device

PASSWORD = "a-long-password"


@pytest.fixture
def boss(db, django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.org", PASSWORD)


def sign_in(client, user, password=PASSWORD):
    return client.post("/admin/login/?next=/admin/", {"username": user.username, "password": password, "next": "/admin/"})


@pytest.mark.parametrize("url", ["/admin/", "/admin/provisioning/account/", "/admin/auth/user/", "/admin/password_change/"])
def test_a_superuser_without_a_device_reaches_nothing_but_enrolment(client, boss, url):
    assert sign_in(client, boss).status_code == 302
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/second-factor/enrol/")
    assert client.get("/admin/second-factor/").status_code == 302  # the code page sends there too
    # the API does not take the session either
    assert client.get("/api/v1/members/").status_code in (401, 403)


@pytest.mark.parametrize("has_device", [False, True])
def test_one_who_owes_the_second_factor_can_sign_out(client, boss, has_device):
    # the code and the enrolment pages offer "Sign out": it used to send back to them, signed in
    if has_device:
        totp_device(boss)
    sign_in(client, boss)
    response = client.post("/admin/logout/")
    assert response.status_code == 200 and "Logged out" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_enrolment_shows_the_qr_code_and_the_secret_then_recovery_codes_once(client, boss):
    sign_in(client, boss)
    page = client.get("/admin/second-factor/enrol/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    assert re.search(r'id="second-factor-secret">[A-Z2-7 ]{16,}<', html)
    device = TOTPDevice.objects.get(user=boss, confirmed=False)

    wrong = client.post("/admin/second-factor/enrol/", {"code": "000000" if totp_code(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down after a failure; not what we test

    done = client.post("/admin/second-factor/enrol/", {"code": totp_code(device), "next": "/admin/"})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert StaticDevice.objects.get(user=boss).token_set.count() == 10
    assert client.get("/admin/").status_code == 200  # in

    # next time: the password, then a code; a recovery code works once
    client.logout()
    sign_in(client, boss)
    assert client.get("/admin/")["Location"].startswith("/admin/second-factor/?")
    assert client.post("/admin/second-factor/", {"code": codes[0], "next": "/admin/"})["Location"] == "/admin/"
    client.logout()
    sign_in(client, boss)
    assert client.post("/admin/second-factor/", {"code": codes[0]}).status_code == 200  # used


def test_with_a_device_a_wrong_code_is_refused_and_the_right_one_admits(client, boss):
    device = totp_device(boss)
    sign_in(client, boss)
    assert client.get("/admin/provisioning/member/")["Location"] == "/admin/second-factor/?next=%2Fadmin%2Fprovisioning%2Fmember%2F"
    wrong = totp_code(device, offset_steps=10)
    response = client.post("/admin/second-factor/", {"code": wrong, "next": "/admin/provisioning/member/"})
    assert response.status_code == 200 and "not right" in response.content.decode()
    # a lost phone: where an administrator removes the device, by the names the home page shows
    assert "System → Second factor: authenticator apps → TOTP devices" in response.content.decode()
    assert client.get("/admin/").status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down after a failure; not what we test
    response = client.post("/admin/second-factor/", {"code": totp_code(device), "next": "/admin/provisioning/member/"})
    assert response["Location"] == "/admin/provisioning/member/"
    assert client.get("/admin/provisioning/member/").status_code == 200


def test_the_next_address_is_only_ever_this_site(client, boss):
    device = totp_device(boss)
    sign_in(client, boss)
    response = client.post("/admin/second-factor/", {"code": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/admin/"


@pytest.mark.parametrize("codename", ["view_account_secrets", "manage_connection"])
def test_staff_who_may_read_secrets_or_manage_connections_need_it(client, db, django_user_model, codename):
    user = django_user_model.objects.create_user("kim", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="provisioning"))
    sign_in(client, user)
    assert client.get("/admin/")["Location"].startswith("/admin/second-factor/enrol/")


def test_others_may_go_without(client, db, django_user_model):
    user = django_user_model.objects.create_user("op", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_member"))
    sign_in(client, user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/second-factor/enrol/").status_code == 200  # optional: may enrol


def test_a_setting_turns_it_off(client, boss, settings):
    settings.REQUIRE_SECOND_FACTOR = False
    sign_in(client, boss)
    assert client.get("/admin/").status_code == 200


def test_the_test_helper_passes_it(client, boss):
    client.force_login(boss)
    pass_second_factor(client, boss)
    assert client.get("/admin/").status_code == 200


def test_the_admin_never_shows_someone_elses_second_factor(admin_client, boss):
    # django-otp's own pages showed a device's key, its QR code and the recovery codes to any
    # administrator, who could then pass the second factor as that person
    from django_otp.plugins.otp_static.models import StaticToken

    device = totp_device(boss)
    recovery = StaticDevice.objects.create(user=boss, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=recovery, token="rc4x9q2m")
    page = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page and "qrcode" not in page
    assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403
    assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
    assert "qrcode" not in admin_client.get("/admin/otp_totp/totpdevice/").content.decode()
    assert "rc4x9q2m" not in admin_client.get(f"/admin/otp_static/staticdevice/{recovery.pk}/change/").content.decode()
    # removing a lost phone's device stays possible
    assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/delete/").status_code == 200
