"""The registry of provider plug-ins: the classes listed by dotted path in the settings.

``PROVISIONING["PROVIDERS"]`` (environment: ``PROVISIONING_PROVIDERS``, comma-separated) names
each ``Provider`` subclass, as ``AUTHENTICATION_BACKENDS`` names backends; the five built in are
listed by default. A provider may live in a package of its own: add its path to the setting, no
migration needed (``Connection.provider`` is checked against this registry, not against database
choices). ``checks.py`` reports paths that do not import and kinds listed twice.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .base import Provider


class UnknownProvider(LookupError):
    pass


def provider_paths() -> list[str]:
    return list(settings.PROVISIONING["PROVIDERS"])


@cache
def all_providers() -> dict[str, type[Provider]]:
    """``{kind: provider class}`` in the order of the setting. Raises ``ImproperlyConfigured``
    for a path that does not import or is not a provider (the system check says which)."""
    from .base import Provider

    providers: dict[str, type[Provider]] = {}
    for path in provider_paths():
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"PROVISIONING['PROVIDERS']: cannot import {path!r} ({exc}).") from exc
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise ImproperlyConfigured(f"PROVISIONING['PROVIDERS']: {path!r} is not a Provider subclass.")
        providers.setdefault(cls.kind, cls)
    return providers


def get(kind: str) -> type[Provider]:
    try:
        return all_providers()[kind]
    except KeyError:
        raise UnknownProvider(f"No provider is installed for '{kind}'.") from None


def label(kind: str) -> str:
    """The provider's name for people (its kind when it is not installed)."""
    provider = all_providers().get(kind)
    return provider.label if provider is not None else kind


def choices() -> list[tuple[str, str]]:
    """``[(kind, label)]`` of the installed providers, for form and filter choices."""
    return [(kind, provider.label) for kind, provider in all_providers().items()]


def validate_kind(value: str) -> None:
    """Model field validator of ``Connection.provider``."""
    if value not in all_providers():
        known = ", ".join(all_providers()) or "none"
        raise ValidationError(
            "'%(value)s' is not an installed provider (installed: %(known)s).",
            code="provider_not_installed",
            params={"value": value, "known": known},
        )


def public_urlpatterns() -> list:
    """The public pages providers contribute (``Provider.public_urls``), e.g. Flyve's validation page."""
    patterns = []
    for provider in all_providers().values():
        patterns += provider.public_urls()
    return patterns


@receiver(setting_changed)
def _forget_on_setting_change(*, setting, **kwargs):
    if setting == "PROVISIONING":
        all_providers.cache_clear()
