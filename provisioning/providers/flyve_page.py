"""The Flyve MDM demo's public account validation page (no login), contributed by the provider.

``FlyveProvider.public_urls`` serves it at ``/validate/flyve/<connection_id>/``: the page to
configure as the demo plugin's ``webapp_url``. Like the admin and the API, it is an interface:
it asks ``services`` for the ``validate`` operation and reads its outcome.
GLPI's email links to ``<webapp_url>#!/account/<validation_id>/validation/<token>``; the fragment
never reaches a server, so the page's script reads it, says what is about to happen, and on the
person's confirmation posts it here (CSRF-protected; a few posts per client address and window).

Which account? The validation id exists only in the email: GLPI answers a registration with the
user's id, and the service account may not read validations. So the person also gives the email
address the link was sent to: the account of this connection whose member (or GLPI login) has that
address and that awaits validation is the one validated. An account that was validated before
with the same validation id is found by it. The token proves the mailbox, the address picks the
account; nothing is validated without both. The ``validate`` operation runs through services like
any other (requested by "public:validation-page"); the page waits a few seconds for it and shows
the outcome, or a page that refreshes itself until the outcome is there.
"""

from __future__ import annotations

import re
import time

from django.core import signing
from django.core.cache import cache
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from .. import services
from ..models import Account, Connection, Operation
from ..security import client_ip
from ..states import AccountStatus, OperationKind, OperationStatus

PROVIDER_KIND = "flyve"
REQUESTER = services.Requester("public:validation-page")
POSTS_PER_WINDOW = 10
WINDOW_SECONDS = 600
WAIT_SECONDS = 8.0
POLL_SECONDS = 0.25
SIGNING_SALT = "provisioning.flyve-validation"
REFERENCE_MAX_AGE = 3600
TEMPLATE = "provisioning/validate_flyve.html"
TOKEN = re.compile(r"^[a-f0-9]{64}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

DAMAGED = "This activation link is incomplete or damaged. Open it again from the email, or copy the whole link into the address bar."
NO_ACCOUNT = (
    "No account waiting for activation matches this email address. Check that it is the address the "
    "activation email was sent to."
)


def flyve_validation_account(*, connection: Connection, validation_id: int, email: str) -> Account | None:
    """The account of ``connection`` that the validation link sent to ``email`` belongs to.

    The one validated before with this validation id if any; else the only one with this address
    that awaits validation; else the only one with this address (its state then explains why it
    cannot be validated). ``None`` when nothing (or more than one account) matches.
    """
    same_address = Account.objects.filter(connection=connection).filter(
        Q(member__email__iexact=email) | Q(external_id__iexact=email)
    )
    validated = same_address.filter(details__validation_id=validation_id).first()
    if validated is not None:
        return validated
    waiting = list(same_address.filter(status=AccountStatus.AWAITING_VALIDATION)[:2])
    if len(waiting) == 1:
        return waiting[0]
    if waiting:
        return None
    others = list(same_address[:2])
    return others[0] if len(others) == 1 else None


def _over_rate_limit(request) -> bool:
    key = f"public-validation-posts:{client_ip(request) or 'unknown'}"  # behind proxies: the member
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_SECONDS)
        count = 1
    return count > POSTS_PER_WINDOW


def _page(request, connection, *, status=200, **context):
    context.setdefault("mode", "outcome")
    response = render(request, TEMPLATE, {"connection": connection, **context}, status=status)
    response["Referrer-Policy"] = "same-origin"  # "no-referrer" would send "Origin: null" and fail CSRF
    response["Cache-Control"] = "no-store"
    return response


def _outcome(request, connection, operation: Operation):
    """The page for a finished (or not yet finished) validate operation."""
    if not operation.finished:
        return _page(request, connection, mode="pending", refresh_seconds=2)
    if operation.status == OperationStatus.SUCCEEDED:
        return _page(
            request,
            connection,
            tone="success",
            title="Your account is active",
            message="Your Flyve MDM demo account is activated. You can now sign in with your email address.",
        )
    code, detail = operation.error_code, operation.error_message
    if code == "validation_expired":
        message = "This activation link has expired: links are valid for one day. Ask the people who registered you for a new registration."
    elif code == "validation_invalid":
        message = "This activation link is not valid, or it has already been used."
    elif code in ("configuration", "transient", "unknown_outcome", "rate_limited", "internal_error"):
        message = "The activation service could not be reached. Please try again later."
        detail = ""
    else:
        message = "The activation could not be completed."
    return _page(request, connection, tone="error", title="Activation failed", message=message, detail=detail)


@require_http_methods(["GET", "POST"])
@ensure_csrf_cookie
@csrf_protect
def flyve_validation(request, connection_id: int):
    connection = Connection.objects.filter(pk=connection_id, provider=PROVIDER_KIND).first()
    if connection is None:
        return _page(
            request, None, status=404, tone="error", title="Unknown service",
            message="This activation page does not exist. Check the link of your activation email.",
        )
    if request.method == "GET":
        reference = request.GET.get("operation")
        if reference:
            return _status(request, connection, reference)
        return _page(request, connection, mode="confirm")
    return _submit(request, connection)


def _status(request, connection, reference: str):
    try:
        operation_id = signing.loads(reference, salt=SIGNING_SALT, max_age=REFERENCE_MAX_AGE)
    except signing.BadSignature:
        return _page(request, connection, status=400, tone="error", title="Unknown activation",
                     message="This status link is not valid (or is more than an hour old).")
    operation = Operation.objects.filter(
        pk=operation_id, connection=connection, kind=OperationKind.VALIDATE
    ).first()
    if operation is None:
        return _page(request, connection, status=404, tone="error", title="Unknown activation",
                     message="This activation is not known.")
    return _outcome(request, connection, operation)


def _submit(request, connection):
    if _over_rate_limit(request):
        return _page(request, connection, status=429, tone="error", title="Too many attempts",
                     message="Too many activation attempts from your address. Wait a few minutes, then try again.")
    validation_id = request.POST.get("validation_id", "").strip()
    token = request.POST.get("token", "").strip()
    email = request.POST.get("email", "").strip()
    if not validation_id.isdigit() or not TOKEN.match(token):
        return _page(request, connection, status=400, tone="error", title="Damaged link", message=DAMAGED)
    if not EMAIL.match(email) or len(email) > 254:
        return _page(request, connection, status=400, mode="confirm",
                     form_error="Enter the email address the activation email was sent to.")
    account = flyve_validation_account(connection=connection, validation_id=int(validation_id), email=email)
    if account is None:  # a mistyped address, most likely: the form again, to correct it
        return _page(request, connection, status=404, mode="confirm", form_error=NO_ACCOUNT)
    try:
        operation = services.operation_request(
            kind=OperationKind.VALIDATE,
            account=account,
            input={"validation_id": int(validation_id), "token": token},
            requested_by=REQUESTER,
        )
    except services.Conflict as conflict:
        return _conflict_page(request, connection, account, conflict)
    except services.InvalidRequest:
        return _page(request, connection, status=400, tone="error", title="Damaged link", message=DAMAGED)
    deadline = time.monotonic() + WAIT_SECONDS
    while not operation.finished and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        operation.refresh_from_db()
    if not operation.finished:
        reference = signing.dumps(operation.pk, salt=SIGNING_SALT)
        url = reverse("flyve-validation", args=[connection.pk])
        return HttpResponseRedirect(f"{url}?operation={reference}", status=303)
    return _outcome(request, connection, operation)


def _conflict_page(request, connection, account, conflict):
    account.refresh_from_db()
    if account.status == AccountStatus.ACTIVE:
        return _page(request, connection, tone="success", title="Already active",
                     message="This account is already active. You can sign in with your email address.")
    if conflict.code == "busy":
        return _page(request, connection, status=409, tone="error", title="Please wait a moment",
                     message="Your account is being worked on right now. Wait a minute, then open the link "
                             "of your activation email again.")
    return _page(request, connection, status=409, tone="error", title="Not waiting for activation",
                 message="This account is not waiting for activation. If you registered a while ago, your "
                         "registration may have expired: ask the people who registered you.")
