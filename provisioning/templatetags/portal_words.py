"""Template filters that put the portal's states into the words staff read (``explain``)."""

from django import template

from .. import explain

register = template.Library()


@register.filter
def account_status_words(status: str) -> str:
    """``{{ account.status|account_status_words }}``: "Needs a captcha answer", not ``awaiting_captcha``."""
    return explain.account_status_words(status)
