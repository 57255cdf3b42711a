"""The record of an HTTP exchange with a provider, as staff read it: the request's path (its host
is the connection's), the answer, how long it took and what an error meant, in words; what was
recorded stays one step away."""

import re

import pytest
from django.urls import reverse

from provisioning import explain
from provisioning.models import ExternalCall, Operation
from provisioning.states import OperationKind, OperationStatus

RECORDED = "captcha_failed: The captcha answer was wrong; GLPI said: Turing test failed."


@pytest.fixture
def calls(connection, account):
    operation = Operation.objects.create(kind=OperationKind.ANSWER_CAPTCHA, status=OperationStatus.FAILED,
                                         account=account, connection=connection, requested_by="admin:x",
                                         error_code="captcha_failed")
    refused = ExternalCall.objects.create(operation=operation, connection=connection, method="POST",
                                          url="http://sandbox.test/everything/users?page=2", status_code=400,
                                          duration_ms=12, error=RECORDED)
    lost = ExternalCall.objects.create(operation=operation, connection=connection, method="GET",
                                       url="http://sandbox.test/everything/users/7", duration_ms=30000,
                                       error="unknown_outcome: ReadTimeout")
    return refused, lost


@pytest.mark.parametrize("recorded, words", [
    (RECORDED, "The captcha answer was wrong"),
    ("unknown_outcome: ReadTimeout", explain.error_summary("unknown_outcome")),
    ("something odd happened", "something odd happened"),  # no code the portal explains: as recorded
    ("", ""),
])
def test_an_exchanges_error_in_words(recorded, words):
    assert explain.call_error_summary(recorded) == words


def test_the_list_says_path_answer_time_and_error_in_words(admin_client, calls):
    page = admin_client.get(reverse("admin:provisioning_externalcall_changelist")).content.decode()
    # it said "POST http://sandbox.test/every…" cut before the path, "STATUS CODE", "DURATION MS"
    # and "captcha_failed: The…"
    assert 'title="POST http://sandbox.test/everything/users?page=2">POST /everything/users?page=2</span>' in page
    assert '<th scope="col" class="column-answer' in page and '<th scope="col" class="column-took' in page
    assert "Duration ms" not in page and "Status code" not in page
    assert ">12\u00a0ms<" in page and ">no answer<" in page
    assert f'title="{RECORDED}">The captcha answer was wrong</span>' in page.replace("&#x27;", "'")
    assert ">captcha_failed:" not in page


def test_the_exchange_page_labels_and_its_error_in_words(admin_client, calls):
    refused, _ = calls
    page = admin_client.get(reverse("admin:provisioning_externalcall_change", args=[refused.pk])).content.decode()
    labels = re.findall(r"<label>([^<]*):</label>", page)
    assert labels[:4] == ["Operation", "Connection", "Attempt", "Method"]
    assert {"URL", "Answer", "Took", "Error", "Answered at"} <= set(labels)
    assert not {"Url", "Status code", "Duration ms", "Created at"} & set(labels)
    assert "The captcha answer was wrong<div class=\"help\">Recorded: captcha_failed:" in page


def test_the_operation_page_says_its_exchanges_errors_in_words(admin_client, calls):
    refused, _ = calls
    page = admin_client.get(reverse("admin:provisioning_operation_change", args=[refused.operation_id])).content.decode()
    assert "The captcha answer was wrong<div class=\"help\">Recorded: captcha_failed:" in page
    # its headers and bodies fold like the page's other technical details (the browser's own
    # summary stood out in a larger type than the table around it)
    assert '<details class="provisioning-technical"><summary>headers and bodies</summary>' in page
