"""System checks: misconfiguration fails at start-up, not at the first request."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .providers import registry
from .providers.base import Provider
from .states import OPERATION_SPECS, OperationKind


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
    """Every listed provider imports, once per kind, and implements what it declares."""
    try:
        providers = registry.all_providers()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Fix the dotted path in PROVISIONING_PROVIDERS.", id="provisioning.E005")]
    messages = []
    kinds = [getattr(import_string(path), "kind", None) for path in registry.provider_paths()]
    for kind in {kind for kind in kinds if kinds.count(kind) > 1}:
        messages.append(Error(f"Provider kind '{kind}' is listed twice in PROVISIONING['PROVIDERS'].", id="provisioning.E006"))
    for kind, provider in providers.items():
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
        if OperationKind.RECORD_CLOSED in provider.operations:
            messages += _record_closed_errors(kind, provider)
        for operation in set(provider.input_fields) - set(provider.operations):
            messages.append(
                Error(
                    f"Provider '{kind}' declares input for '{operation}', which it does not offer.",
                    obj=provider,
                    id="provisioning.E007",
                )
            )
        for operation, status in provider.operation_words:
            spec = OPERATION_SPECS.get(operation)
            if operation not in provider.operations or spec is None or status not in (spec.allowed_from or ()):
                messages.append(
                    Error(
                        f"Provider '{kind}' words '{operation}' for accounts '{status}', where it cannot be asked.",
                        obj=provider,
                        id="provisioning.E008",
                    )
                )
    return messages


def _record_closed_errors(kind: str, provider) -> list[Error]:
    """A closing recorded by staff is for a provider that cannot close accounts."""
    if OperationKind.DEPROVISION in provider.operations:
        return [Error(
            f"Provider '{kind}' declares both 'deprovision' and 'record_closed': an account it can close is "
            "deprovisioned, not recorded as closed by staff.", obj=provider, id="provisioning.E009")]
    return []
