"""Failed sign-ins lock the user name and the address (django-axes; README, "Security")."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.utils import timezone

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-password"


@pytest.fixture
def people(db, django_user_model):
    ann = django_user_model.objects.create_user("ann", password=PASSWORD, is_staff=True)
    bob = django_user_model.objects.create_user("bob", password=PASSWORD, is_staff=True)
    return ann, bob


def sign_in(client, username, password, ip="203.0.113.7", **headers):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def fail(client, username, times, ip="203.0.113.7"):
    for _ in range(times):
        response = sign_in(client, username, "wrong", ip=ip)
        assert response.status_code in (200, 429)
    return response


def test_five_wrong_passwords_lock_the_account_and_the_right_one_is_refused(client, people):
    response = fail(client, "ann", 5)
    assert response.status_code == 429
    locked = sign_in(client, "ann", PASSWORD)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Sign-in locked" in text and "Try again in" in text and "administrator" in text
    # where to lift the lock, by the names the admin's home page shows
    assert "System → Sign-ins and lockouts → Access attempts" in text
    # the account from another address is locked too (the user name counts on its own)
    assert sign_in(client, "ann", PASSWORD, ip="198.51.100.1").status_code == 429
    # recorded: the attempts and each failure, with the address
    assert AccessAttempt.objects.filter(username="ann", ip_address="203.0.113.7").exists()
    assert AccessFailureLog.objects.filter(username="ann", ip_address="203.0.113.7").count() >= 5


def test_four_wrong_passwords_do_not_lock(client, people):
    fail(client, "ann", 4)
    assert signed_in(sign_in(client, "ann", PASSWORD))


def test_the_address_is_locked_for_another_user_after_the_limit(client, people):
    for name in ("ann", "carol", "dave", "erin", "frank"):  # five names, one address
        fail(client, name, 1)
    assert sign_in(client, "bob", PASSWORD).status_code == 429
    # bob from elsewhere is fine
    assert signed_in(sign_in(client, "bob", PASSWORD, ip="198.51.100.1"))


def test_the_lock_expires_after_the_cool_off(client, people, settings):
    fail(client, "ann", 5)
    assert sign_in(client, "ann", PASSWORD).status_code == 429
    # move time: the failures are older than the cool-off
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert signed_in(sign_in(client, "ann", PASSWORD))


def test_an_administrator_lifts_the_lock_with_the_command(client, people):
    fail(client, "ann", 5, ip="198.51.100.9")
    assert sign_in(client, "ann", PASSWORD).status_code == 429
    call_command("axes_reset_username", "ann")
    assert signed_in(sign_in(client, "ann", PASSWORD))


def test_the_address_is_read_behind_the_trusted_proxy(client, people, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(5):  # a caller's forged first entry changes nothing: the proxy's entry counts
        sign_in(client, f"x{i}", "wrong", ip="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 203.0.113.50")
    assert AccessFailureLog.objects.filter(ip_address="203.0.113.50").count() == 5
    assert sign_in(client, "bob", PASSWORD, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 429
    assert signed_in(sign_in(client, "bob", PASSWORD, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.51"))


def test_lock_records_are_read_only_in_the_admin(admin_client, people, client):
    fail(client, "ann", 5)
    attempt = AccessAttempt.objects.get(username="ann")
    assert admin_client.get("/admin/axes/accessattempt/").status_code == 200
    assert admin_client.get("/admin/axes/accessattempt/add/").status_code == 403
    assert admin_client.get("/admin/axes/accessfailurelog/").status_code == 200
    # lifting the lock: deleting the attempt (needs axes.delete_accessattempt)
    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="ann").exists()
