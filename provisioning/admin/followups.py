"""The admin's buttons after a failure a retry cannot fix (the table: ``provisioning.followups``)
and after an operation that left its account waiting for a person.

A suggestion is shown only when the account's provider offers it, its state allows it and the
person may request it.
"""

from __future__ import annotations

from django.urls import reverse

from .. import selectors, services
from ..followups import follow_up
from ..states import OPERATION_SPECS, OperationKind
from .common import may_request

_K = OperationKind


def suggested_buttons(operation, user) -> list[tuple[str, str]]:
    """(label, url) of the follow-up operations ``user`` may request on ``operation``'s account now."""
    found = follow_up(operation)
    if found is None or operation.account_id is None:
        return []
    account = operation.account
    if not selectors.operation_is_accounts_latest(operation):
        return []  # something happened since: the account's page says what is next
    available = {spec.kind for spec in services.operations_offered(account=account)}
    return [
        (label, account_request_url(account, kind))
        for kind, label in found.suggestions
        if kind in available and may_request(user, kind)
    ]


def account_request_url(account, kind: str) -> str:
    return reverse("admin:provisioning_account_request", args=[account.pk, kind])


def last_operation(account):
    return account.operations.order_by("-id").first()


# the operations a person does for an account waiting for one (next steps after an operation)
HUMAN_STEPS = (_K.VERIFY, _K.ANSWER_CAPTCHA, _K.VALIDATE)


def next_step_buttons(operation, user) -> list[tuple[str, str]]:
    """After a finished operation left its account waiting for a person: the step to do now."""
    if operation is None or not operation.finished or operation.account_id is None:
        return []
    account = operation.account
    if not selectors.operation_is_accounts_latest(operation):
        return []
    available = {spec.kind for spec in services.operations_offered(account=account)}
    return [
        (OPERATION_SPECS[kind].label, account_request_url(account, kind))
        for kind in HUMAN_STEPS
        if kind in available and may_request(user, kind)
    ]
