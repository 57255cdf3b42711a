"""The portal never asks GLPI for more captchas than its per-IP limits allow (6/5 min, 15/15 min,
20/60 min): a request over a limit is deferred until a slot frees, without using up an attempt.

Each captcha POST takes a captcha slot of the connection (a ``RequestReservation``) first, in a
short transaction of its own: none is open while the POST is on the wire."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db import connection as db_connection
from django.utils import timezone

from provisioning.models import Account, Member, Operation, RequestReservation
from provisioning.providers.flyve import FlyveProvider
from provisioning.services.execution import DatabaseCallLog
from provisioning.states import AccountStatus, OperationStatus
from tests.providers.flyve_support import BASE, flyve_connection, run


@pytest.fixture
def connection(db):
    return flyve_connection()


def captcha_posts(connection, *ages_in_seconds):
    """Captcha slots of ``connection`` taken that many seconds ago (captcha POSTs GLPI accepted)."""
    now = timezone.now()
    for age in ages_in_seconds:
        RequestReservation.objects.create(
            connection=connection, purpose="captcha", reserved_at=now - timedelta(seconds=age)
        )


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


def captcha_slots(connection) -> int:
    return RequestReservation.objects.filter(connection=connection, purpose="captcha").count()


def test_captchas_glpi_refused_give_their_slot_back_but_unanswered_ones_keep_it(connection, glpi):
    refused, unanswered, created = (
        Account.objects.create(member=Member.objects.create(email=f"{name}@example.org"), connection=connection)
        for name in ("refused", "unanswered", "created")
    )
    glpi.error("captcha", "ERROR_GLPI_ADD", "Too many captcha requests")
    assert run("provision", account=refused).error_code == "captcha_rate_limited"
    assert captcha_slots(connection) == 0

    glpi.answer("captcha", body=requests.ReadTimeout("no answer"))
    assert run("provision", account=unanswered).error_code == "unknown_outcome"
    assert captcha_slots(connection) == 1

    glpi.answer("captcha", callback=glpi._create_captcha)
    assert run("provision", account=created).status == OperationStatus.SUCCEEDED
    assert captcha_slots(connection) == 2


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_a_captcha_is_asked_for(connection, account, glpi):
    open_during_post = []

    def create(request):
        open_during_post.append(db_connection.in_atomic_block)
        return glpi._create_captcha(request)

    glpi.answer("captcha", callback=create)

    assert run("provision", account=account).status == OperationStatus.SUCCEEDED
    assert open_during_post == [False]
    assert captcha_slots(connection) == 1


def test_other_connections_and_other_reservations_do_not_count(connection):
    other = type(connection).objects.create(provider="flyve", name="other", base_url=BASE, credentials={"user_token": "t"})
    captcha_posts(other, 10, 20, 30, 40, 50, 60)
    for _ in range(6):
        RequestReservation.objects.create(connection=connection, purpose="request")
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


def test_the_slot_is_taken_before_a_session_is_opened(connection, account, glpi):
    """Two workers that both saw room for one more captcha both opened a session, and the second,
    refused its slot only then, had sent a request: its deferral used up an attempt."""
    slots_when_opened = []

    def init_session(request):
        slots_when_opened.append(captcha_slots(connection))
        return glpi._init_session(request)

    glpi.answer("init", callback=init_session)

    assert run("provision", account=account).status == OperationStatus.SUCCEEDED
    assert slots_when_opened == [1]


def test_a_session_that_did_not_open_gives_its_slot_back(connection, account, glpi):
    glpi.answer("init", status=503, json=["ERROR", "Service unavailable"])

    operation = run("provision", account=account)

    assert operation.status == OperationStatus.WAITING_RETRY
    assert captcha_slots(connection) == 0
    assert not glpi.requests("POST", "PluginFlyvemdmdemoCaptcha")
