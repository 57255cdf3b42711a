"""Who asked for an operation or a batch reads as words ("alice, in the admin"), not as the
stored "admin:alice"; the API keeps the stored value."""

import re

import pytest
from django.urls import reverse

from provisioning import explain
from provisioning.models import Batch, Operation
from provisioning.services import SCHEDULE
from provisioning.services.quarantine import PROBE
from provisioning.states import AccountStatus, OperationKind, OperationStatus


@pytest.mark.parametrize(
    "stored, words",
    [
        ("admin:alice", "alice, in the admin"),
        ("api:ops-bot", "ops-bot, through the API"),
        (SCHEDULE.label, "The schedule (a periodic task)"),
        (PROBE.label, "The quarantine's probe (is the provider back?)"),
        ("someone-else", "someone-else"),  # unknown: as stored, never lost
        ("admin:", "admin:"),
    ],
)
def test_who_asked_in_words(stored, words):
    assert explain.requester_words(stored) == words


def row(page: str, label: str) -> str:
    found = re.search(rf"<label>{label}:</label>\s*<div class=\"readonly\">(.*?)</div>", page, re.S)
    return found.group(1).strip() if found else ""


def test_an_operations_page_and_its_accounts_history_say_who_asked_in_words(admin_client, make_account):
    account = make_account(AccountStatus.ACTIVE)
    operation = Operation.objects.create(kind=OperationKind.SYNC, status=OperationStatus.SUCCEEDED, account=account,
                                         connection=account.connection, requested_by="admin:alice")
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[operation.pk])).content.decode()
    assert row(page, "Requested by") == "alice, in the admin"
    history = admin_client.get(reverse("admin:provisioning_account_change", args=[account.pk])).content.decode()
    assert "<td>alice, in the admin</td>" in history and "admin:alice" not in history


def test_a_batch_says_who_asked_in_words_in_the_list_and_on_its_page(admin_client, connection):
    batch = Batch.objects.create(connection=connection, requested_by="api:ops-bot")
    listing = admin_client.get(reverse("admin:provisioning_batch_changelist")).content.decode()
    assert "ops-bot, through the API" in listing and "api:ops-bot" not in listing
    page = admin_client.get(reverse("admin:provisioning_batch_change", args=[batch.pk])).content.decode()
    assert row(page, "Requested by") == "ops-bot, through the API"


def test_each_of_the_portals_own_requesters_has_its_words():
    # they are written where they ask (a schedule, a probe, a command, a public page): a new one, or
    # a renamed one, would show its stored label
    from provisioning.management.commands.bootstrap import BOOTSTRAP
    from provisioning.providers.flyve_page import REQUESTER as VALIDATION_PAGE

    for requester in (SCHEDULE, PROBE, BOOTSTRAP, VALIDATION_PAGE):
        assert explain.requester_words(requester.label) != requester.label


def test_a_secret_read_says_where_in_words(admin_client, admin_user, account):
    # the list said "admin" for where, beside "admin" for who, and filtered "By via"
    from provisioning.models import SecretAccess

    access = SecretAccess.objects.create(account=account, user=admin_user, via="api", keys=["user_secret"])
    listing = admin_client.get(reverse("admin:provisioning_secretaccess_changelist")).content.decode()
    assert '<td class="field-where">through the API</td>' in listing
    assert "By where" in listing and ">Through the API</a>" in listing and "By via" not in listing
    assert "column-read_at" in listing
    assert admin_client.get(reverse("admin:provisioning_secretaccess_changelist") + "?via=admin").context["cl"].result_count == 0
    page = admin_client.get(reverse("admin:provisioning_secretaccess_change", args=[access.pk])).content.decode()
    labels = re.findall(r"<label>([^<]*):</label>", page)
    assert labels[:4] == ["Read at", "User", "Account", "Where"]
