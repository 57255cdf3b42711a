"""Failures that retrying cannot fix, and what to do instead: one table for the services, the
admin and the API.

Retrying a failed operation sends the same input again. After a wrong SMS code, a wrong captcha
answer or a refused validation link that input will be refused again: ``services.operation_retry``
refuses such a retry with the sentence below (409 ``retry_cannot_help`` in the API), and the admin
offers no "Retry" but the operations that can help (send a new SMS code, answer the new captcha or
ask for another, paste the link again), on the operation's page and on its account's page.

``RETRY_CANNOT_HELP`` maps ``(operation kind, error code)`` to a ``FollowUp``: the sentence staff
see, the operation kinds suggested instead, in order, with their button labels, and whether the
account still waits for the person's answer (``answer_refused``: a wrong code or captcha answer,
a mistyped link). Such a failure is a person's input refused, not the provider failing: the
overview counts it apart (the account is in its "Needs a person" queue already).
"""

from __future__ import annotations

from dataclasses import dataclass

from .providers.xhoppe import NEW_CODE
from .states import OperationKind, OperationStatus

_K = OperationKind

WRONG_CAPTCHA_SENTENCE = "That answer was wrong; the provider gave a new image to answer."


@dataclass(frozen=True)
class FollowUp:
    sentence: str
    # what can help instead of a retry: (operation kind, button label)
    suggestions: tuple[tuple[str, str], ...]
    # the account still waits for the same kind of answer: only the answer given was refused
    answer_refused: bool = False


# Xhoppe's reset password sends the member a new code: the account page's button says so
_NEW_SMS = (_K.RESET_PASSWORD, NEW_CODE)
_VERIFY = (_K.VERIFY, "Enter the SMS code")
_ANSWER = (_K.ANSWER_CAPTCHA, "Answer the new captcha")
_NEW_CAPTCHA = (_K.REFRESH_CAPTCHA, "New captcha")
_PASTE_LINK = (_K.VALIDATE, "Paste the link again")
_PROVISION_AGAIN = (_K.PROVISION, "Provision again")

RETRY_CANNOT_HELP: dict[tuple[str, str], FollowUp] = {
    # Xhoppe refused the code (wrong, or expired): the same code would be refused again
    (_K.VERIFY, "invalid_input"): FollowUp(
        "Xhoppe refused this SMS code: retrying would send the same code. If it was mistyped, enter "
        "it again; if it has expired, send a new SMS code and enter the one the member "
        "receives.",
        (_VERIFY, _NEW_SMS),
        answer_refused=True,
    ),
    (_K.VERIFY, "code_for_another_user"): FollowUp(
        "This code belongs to another phone number: retrying would send it again. Enter this "
        "member's code, or send a new SMS code.",
        (_VERIFY, _NEW_SMS),
        answer_refused=True,
    ),
    (_K.VERIFY, "account_locked"): FollowUp(
        "Xhoppe reports the account as locked: once it is unlocked, send a new SMS code and enter it.",
        (_NEW_SMS, _VERIFY),
    ),
    # Flyve: a wrong answer leaves the account with a fresh captcha (see FlyveProvider.answer_captcha)
    (_K.ANSWER_CAPTCHA, "captcha_failed"): FollowUp(
        WRONG_CAPTCHA_SENTENCE, (_ANSWER, _NEW_CAPTCHA), answer_refused=True
    ),
    # Flyve: GLPI refused the validation token (already used, mistyped, or expired)
    (_K.VALIDATE, "validation_invalid"): FollowUp(
        "GLPI refused this validation link (mistyped, or already used): retrying would send it again. "
        "Paste the link of the member's latest email again.",
        (_PASTE_LINK,),
        answer_refused=True,
    ),
    # Flyve: the registration's only link expired; the account is failed (FlyveProvider.validate)
    (_K.VALIDATE, "validation_expired"): FollowUp(
        "This validation link has expired (GLPI keeps one a day) and Flyve MDM sends no other, so "
        "this registration cannot be completed. GLPI deletes a registration left unvalidated two "
        "days after it was made: provision again after that, and the member receives a new email "
        "(or ask GLPI's administrator to activate the user there now).",
        (_PROVISION_AGAIN,),
    ),
    # Flyve: GLPI has a user with this email; the captcha answered is used up, so a retry cannot help
    (_K.ANSWER_CAPTCHA, "already_exists"): FollowUp(
        "GLPI already has a registration for this email: the member has an account there, or an "
        "earlier registration waits for its validation (GLPI deletes one left unvalidated two days "
        "after it was made). Ask the member; provision again once that registration is gone.",
        (_PROVISION_AGAIN,),
    ),
}


def follow_up(operation) -> FollowUp | None:
    """What to do instead of retrying ``operation`` (``None``: a retry may help, or it did not fail)."""
    if operation is None or operation.status != OperationStatus.FAILED:
        return None
    return follow_up_for(operation.kind, operation.error_code)


def follow_up_for(kind: str, code: str) -> FollowUp | None:
    """What to do instead of retrying a failed operation of ``kind`` with error ``code``."""
    return RETRY_CANNOT_HELP.get((kind, code))


def answer_refused(kind: str, code: str) -> bool:
    """Whether an operation of ``kind`` that failed with ``code`` refused a person's answer and
    left its account waiting for another (``FollowUp.answer_refused``)."""
    found = follow_up_for(kind, code)
    return found is not None and found.answer_refused


def retry_refusal(operation) -> str | None:
    """Why retrying ``operation`` cannot help, as a sentence staff can act on (``None``: it may)."""
    found = follow_up(operation)
    return None if found is None else f"Retrying cannot help: {found.sentence}"
