"""System checks: misconfiguration fails at start-up, not at the first request."""

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .providers import registry
from .providers.base import Provider
from .states import OPERATION_SPECS, ProviderKind


@register()
def check_encryption_keys(app_configs, **kwargs):
    from . import crypto

    if not settings.FIELD_ENCRYPTION_KEYS:
        return [
            Error(
                "FIELD_ENCRYPTION_KEYS is not set: credentials and account secrets cannot be stored.",
                hint="Generate a key with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="provisioning.E001",
            )
        ]
    try:
        crypto.decrypt(crypto.encrypt("check"))
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="provisioning.E002")]
    return []


@register()
def check_providers(app_configs, **kwargs):
    messages = []
    for kind, provider in registry.all_providers().items():
        for operation in provider.operations:
            if operation not in OPERATION_SPECS:
                messages.append(
                    Error(f"Provider '{kind}' declares an unknown operation '{operation}'.", id="provisioning.E003")
                )
            elif operation == "reconcile" and provider.remote_user_ids is Provider.remote_user_ids:
                messages.append(
                    Error(
                        f"Provider '{kind}' declares 'reconcile' but cannot list its users "
                        "(implement remote_user_ids).",
                        obj=provider,
                        id="provisioning.E004",
                    )
                )
            elif not callable(getattr(provider, operation, None)):
                messages.append(
                    Error(
                        f"Provider '{kind}' declares '{operation}' but does not implement it.",
                        obj=provider,
                        id="provisioning.E004",
                    )
                )
    for kind in ProviderKind.values:
        if kind not in registry.all_providers():
            messages.append(
                Warning(f"No provider module is installed for '{kind}'.", id="provisioning.W001")
            )
    return messages
