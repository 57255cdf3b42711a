"""Failures that retrying cannot fix, and what to do instead: the one table the admin follows.

Retrying a failed operation sends the same input again. After a wrong SMS code, a wrong captcha
answer or a refused validation link that input will be refused again: the admin then offers no
"Retry" but the operation that can help (send a new SMS code, answer the new captcha or ask for
another, paste the link again), on the operation's page and on its account's page.

``RETRY_CANNOT_HELP`` maps ``(operation kind, error code)`` to a ``FollowUp``: the sentence staff
see and the operation kinds suggested instead, in order. A suggestion is shown only when the
account's provider offers it, its state allows it and the person may request it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from ..states import OPERATION_SPECS, OperationKind, OperationStatus
from .common import available_operations, may_request

_K = OperationKind

WRONG_CAPTCHA_SENTENCE = "That answer was wrong; here is a new image."


@dataclass(frozen=True)
class FollowUp:
    sentence: str
    # what can help instead of a retry: (operation kind, button label)
    suggestions: tuple[tuple[str, str], ...]


_NEW_SMS = (_K.RESET_PASSWORD, "Send a new SMS code")
_VERIFY = (_K.VERIFY, "Enter the SMS code")
_ANSWER = (_K.ANSWER_CAPTCHA, "Answer the new captcha")
_NEW_IMAGE = (_K.REFRESH_CAPTCHA, "New image")
_PASTE_LINK = (_K.VALIDATE, "Paste the link again")

RETRY_CANNOT_HELP: dict[tuple[str, str], FollowUp] = {
    # Xhoppe refused the code (wrong, or expired): the same code would be refused again
    (_K.VERIFY, "invalid_input"): FollowUp(
        "Xhoppe refused this SMS code: retrying would send the same code. Send a new SMS code, then "
        "enter the code the member receives.",
        (_NEW_SMS, _VERIFY),
    ),
    (_K.VERIFY, "code_for_another_user"): FollowUp(
        "This code belongs to another phone number: retrying would send it again. Enter this "
        "member's code, or send a new SMS code.",
        (_VERIFY, _NEW_SMS),
    ),
    (_K.VERIFY, "account_locked"): FollowUp(
        "Xhoppe reports the account as locked: once it is unlocked, send a new SMS code and enter it.",
        (_NEW_SMS, _VERIFY),
    ),
    # Flyve: a wrong answer leaves the account with a fresh captcha (see FlyveProvider.answer_captcha)
    (_K.ANSWER_CAPTCHA, "captcha_failed"): FollowUp(WRONG_CAPTCHA_SENTENCE, (_ANSWER, _NEW_IMAGE)),
    # Flyve: GLPI refused the validation token (already used, mistyped, or expired)
    (_K.VALIDATE, "validation_invalid"): FollowUp(
        "GLPI refused this validation link (mistyped, or already used): retrying would send it again. "
        "Paste the link of the member's latest email again.",
        (_PASTE_LINK,),
    ),
    (_K.VALIDATE, "validation_expired"): FollowUp(
        "This validation link has expired: retrying would send it again. Paste the link of a newer "
        "email, if the member received one.",
        (_PASTE_LINK,),
    ),
}


def follow_up(operation) -> FollowUp | None:
    """What to do instead of retrying ``operation`` (``None``: a retry may help, or it did not fail)."""
    if operation is None or operation.status != OperationStatus.FAILED:
        return None
    return RETRY_CANNOT_HELP.get((operation.kind, operation.error_code))


def retry_can_help(operation) -> bool:
    return follow_up(operation) is None


def suggested_buttons(operation, user) -> list[tuple[str, str]]:
    """(label, url) of the follow-up operations ``user`` may request on ``operation``'s account now."""
    found = follow_up(operation)
    if found is None or operation.account_id is None:
        return []
    account = operation.account
    if account.operations.filter(pk__gt=operation.pk).exists():
        return []  # something happened since: the account's page says what is next
    available = {spec.kind for spec in available_operations(account)}
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
    if account.operations.filter(pk__gt=operation.pk).exists():
        return []
    available = {spec.kind for spec in available_operations(account)}
    return [
        (OPERATION_SPECS[kind].label, account_request_url(account, kind))
        for kind in HUMAN_STEPS
        if kind in available and may_request(user, kind)
    ]
