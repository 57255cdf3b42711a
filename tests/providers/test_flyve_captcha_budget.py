"""The portal never asks GLPI for more captchas than its per-IP limits allow (6/5 min, 15/15 min,
20/60 min): a request over a limit is deferred until a slot frees, without using up an attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning.models import Account, ExternalCall, Member, Operation
from provisioning.providers.flyve import FlyveProvider
from provisioning.services.execution import DatabaseCallLog
from provisioning.states import AccountStatus, OperationStatus
from tests.providers.flyve_support import BASE, flyve_connection, run


@pytest.fixture
def connection(db):
    return flyve_connection()


def captcha_posts(connection, *ages_in_seconds, status=201):
    """Record captcha POSTs of ``connection`` made that many seconds ago."""
    operation = Operation.objects.create(kind="provision", connection=connection, requested_by="test")
    now = timezone.now()
    for age in ages_in_seconds:
        call = ExternalCall.objects.create(
            operation=operation, connection=connection, method="POST", url=f"{BASE}/PluginFlyvemdmdemoCaptcha",
            status_code=status,
        )
        ExternalCall.objects.filter(pk=call.pk).update(created_at=now - timedelta(seconds=age))


def wait_seconds(connection) -> float:
    operation = Operation.objects.create(kind="health_check", connection=connection, requested_by="test")
    return FlyveProvider(connection, DatabaseCallLog(operation)).captcha_wait_seconds()


def test_five_captchas_in_five_minutes_leave_room_for_a_sixth(connection):
    captcha_posts(connection, 10, 20, 30, 40, 50)
    assert wait_seconds(connection) == 0


def test_the_seventh_captcha_within_five_minutes_waits_for_the_oldest_to_leave_the_window(connection):
    captcha_posts(connection, 10, 20, 30, 40, 50, 100)
    assert 200 - 5 < wait_seconds(connection) < 200 + 5


@pytest.mark.parametrize(
    ("ages", "frees_in"),
    [
        ([400 + 20 * i for i in range(15)], 900 - 400 - 20 * 14),  # 15 in 15 min, none in the last 5
        ([1000 + 100 * i for i in range(20)], 3600 - 1000 - 100 * 19),  # 20 in an hour
    ],
)
def test_the_longer_windows_are_kept_too(connection, ages, frees_in):
    captcha_posts(connection, *ages)
    assert frees_in - 5 < wait_seconds(connection) < frees_in + 5


def test_captchas_glpi_refused_do_not_count_but_unanswered_ones_do(connection):
    captcha_posts(connection, 10, 20, 30, 40, 50, 60, status=400)
    assert wait_seconds(connection) == 0
    captcha_posts(connection, 10, 20, 30, 40, 50, 60, status=None)
    assert wait_seconds(connection) > 0


def test_other_connections_and_other_calls_do_not_count(connection):
    other = type(connection).objects.create(provider="flyve", name="other", base_url=BASE, credentials={"user_token": "t"})
    captcha_posts(other, 10, 20, 30, 40, 50, 60)
    operation = Operation.objects.create(kind="provision", connection=connection, requested_by="test")
    for _ in range(6):
        ExternalCall.objects.create(operation=operation, connection=connection, method="GET",
                                    url=f"{BASE}/PluginFlyvemdmdemoCaptcha/3?alt=media", status_code=200)
    assert wait_seconds(connection) == 0


def test_the_seventh_provision_is_deferred_without_asking_glpi_or_using_an_attempt(connection, glpi):
    accounts = [
        Account.objects.create(member=Member.objects.create(email=f"m{i}@example.org"), connection=connection)
        for i in range(7)
    ]
    for account in accounts[:6]:
        assert run("provision", account=account).status == OperationStatus.SUCCEEDED

    operation = run("provision", account=accounts[6])

    assert operation.status == OperationStatus.WAITING_RETRY
    assert operation.error_code == "captcha_budget"
    assert operation.attempts == 0
    assert operation.next_attempt_at > timezone.now() + timedelta(seconds=200)
    assert len(glpi.requests("POST", "PluginFlyvemdmdemoCaptcha")) == 6
    assert glpi.sessions_opened == glpi.sessions_killed == 6  # no session opened for nothing


def test_a_deferred_refresh_leaves_the_current_captcha_in_place(account, connection, glpi):
    run("provision", account=account)
    captcha_posts(connection, 1, 2, 3, 4, 5)

    operation = run("refresh_captcha", account=account)

    assert operation.status == OperationStatus.WAITING_RETRY
    assert account.status == AccountStatus.AWAITING_CAPTCHA
    assert account.details["captcha_id"] == 3
