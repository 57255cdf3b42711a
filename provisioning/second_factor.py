"""A second factor for those who can do harm (README, "Security"): TOTP with recovery codes.

Required (``REQUIRE_SECOND_FACTOR``, on by default) for superusers and anyone who may read
secrets (``provisioning.view_account_secrets``) or manage connections
(``provisioning.manage_connection``); optional for everyone else, but whoever has a device is
asked for a code. After the password, the admin (``PortalAdminSite.admin_view``) sends:

- a user with a confirmed device and an unverified session to ``/admin/second-factor/``;
- a user who needs one and has none to ``/admin/second-factor/enrol/``, and nowhere else.

The API's session authentication (``VerifiedSessionAuthentication``) ignores sessions that still
owe their second factor; API tokens are separate credentials and unaffected.
"""

from __future__ import annotations

import base64
import io
import time

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import devices_for_user, login as otp_login, match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authentication import SessionAuthentication

from .states import MANAGE_CONNECTION_PERMISSION, VIEW_SECRETS_PERMISSION

VERIFIED_AT_SESSION_KEY = "provisioning_second_factor_at"
RECOVERY_CODES = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def needs_second_factor(user) -> bool:
    return bool(
        user.is_active
        and (user.is_superuser or user.has_perm(VIEW_SECRETS_PERMISSION) or user.has_perm(MANAGE_CONNECTION_PERMISSION))
    )


def has_device(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def pending_step(request) -> str | None:
    """What a signed-in user still owes: ``"verify"``, ``"enrol"``, or ``None`` (nothing)."""
    user = getattr(request, "user", None)
    if not settings.REQUIRE_SECOND_FACTOR or user is None or not user.is_authenticated:
        return None
    if getattr(user, "is_verified", lambda: False)():
        return None
    if has_device(user):
        return "verify"
    return "enrol" if needs_second_factor(user) else None


def mark_verified(request, device) -> None:
    """The session has passed its second factor now (``otp_login``), with the time: secrets
    need a fresh one (``is_fresh``)."""
    otp_login(request, device)
    request.session[VERIFIED_AT_SESSION_KEY] = time.time()


def is_fresh(request) -> bool:
    """A second factor within ``SECRETS_REAUTH_SECONDS`` (always so when it is turned off)."""
    if not settings.REQUIRE_SECOND_FACTOR:
        return True
    at = request.session.get(VERIFIED_AT_SESSION_KEY) if hasattr(request, "session") else None
    verified = getattr(request.user, "is_verified", lambda: False)()
    return bool(verified and at and time.time() - at <= settings.SECRETS_REAUTH_SECONDS)


def fresh_code_url(request) -> str:
    """Where a session whose second factor is not fresh enough is sent, and brought back from."""
    from django.utils.http import urlencode

    return reverse("admin:second_factor") + "?" + urlencode({"again": 1, "next": request.get_full_path()})


def _next(request, default="admin:index") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(default)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=16, widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True})
    )


def _qr_data_uri(url: str) -> str:
    """The enrolment QR code as an SVG ``data:`` URI (CSP: ``img-src data:``; no inline style)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _context(site, request, title, **extra):
    return {**site.each_context(request), "title": title, "subtitle": None, "next": _next(request), **extra}


def verify_view(site, request):
    """After the password: a code of the authenticator app, or a recovery code."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    step = pending_step(request)
    # again=1: a verified session asked for a fresh code (secrets: SECRETS_REAUTH_SECONDS)
    again = bool(request.GET.get("again") or request.POST.get("again"))
    if step is None and again and settings.REQUIRE_SECOND_FACTOR and has_device(request.user):
        step = "verify"
    if step is None:
        return redirect(_next(request))
    if step == "enrol":
        return redirect(reverse("admin:second_factor_enrol") + "?" + request.GET.urlencode())
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["code"].replace(" ", ""))
        if device is not None:
            mark_verified(request, device)
            return redirect(_next(request))
        form.add_error("code", "That code is not right (or was used already). Try the next one.")
    return TemplateResponse(
        request, "admin/second_factor/verify.html", _context(site, request, "Second factor", form=form, again=again)
    )


def enrol_view(site, request):
    """Set up an authenticator app: QR code and secret, a code to confirm, then recovery codes
    shown once. Also reached by a verified user who wants to replace their device."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if pending_step(request) == "verify":  # a device already: prove it first
        return redirect(reverse("admin:second_factor") + "?" + request.GET.urlencode())
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].replace(" ", "")):
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save()
            StaticDevice.objects.filter(user=user).delete()
            recovery = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
            codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
            recovery.token_set.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
            mark_verified(request, device)
            response = TemplateResponse(
                request,
                "admin/second_factor/recovery_codes.html",
                _context(site, request, "Your recovery codes", codes=codes),
            )
            response["Cache-Control"] = "no-store"
            return response
        form.add_error("code", "That code is not right. Check the app's clock and type the current code.")
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    response = TemplateResponse(
        request,
        "admin/second_factor/enrol.html",
        _context(
            site,
            request,
            "Set up your second factor",
            form=form,
            qr=_qr_data_uri(device.config_url),
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            required=needs_second_factor(user),
        ),
    )
    response["Cache-Control"] = "no-store"
    return response


class VerifiedSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, minus sessions that still owe their second factor."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and pending_step(request._request) is not None:
            return None
        return result
