"""Template filters that put the portal's states into the words staff read (``explain``)."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from portal.library_apps import admin_path as _admin_path

from .. import explain

register = template.Library()


@register.filter
def account_status_words(status: str) -> str:
    """``{{ account.status|account_status_words }}``: "Needs a captcha answer", not ``awaiting_captcha``."""
    return explain.account_status_words(status)


@register.filter
def ago(moment) -> str:
    """``{{ checked_at|ago }}``: "2 minutes ago", or "just now" under a minute (Django's
    ``timesince`` reads "0 minutes" then)."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.simple_tag
def admin_path(app_label: str, model_name: str) -> str:
    """``{% admin_path "otp_totp" "totpdevice" %}``: where a person finds the model in the admin."""
    return _admin_path(app_label, model_name)
