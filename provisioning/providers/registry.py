"""The registry of provider plug-ins, keyed by ``ProviderKind`` value."""

from importlib import import_module

from ..states import ProviderKind
from .base import Provider

_providers: dict[str, type[Provider]] = {}


class UnknownProvider(LookupError):
    pass


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make ``cls`` the provider for ``cls.kind``."""
    _providers[cls.kind] = cls
    return cls


def get(kind: str) -> type[Provider]:
    try:
        return _providers[kind]
    except KeyError:
        raise UnknownProvider(f"No provider is installed for '{kind}'.") from None


def all_providers() -> dict[str, type[Provider]]:
    return dict(_providers)


def autodiscover() -> None:
    """Import ``providers/<kind>.py`` for every known kind; each module registers itself."""
    for kind in ProviderKind.values:
        try:
            import_module(f"{__package__}.{kind}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{kind}":
                raise
