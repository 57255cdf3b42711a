"""``manage.py connection_from_env --provider kandy --name "Kandy project"``.

Creates (or updates) a connection whose credentials come from environment variables, named by
the provider: its class says which, with ``credentials_from_environment()`` (Kandy reads the
seed's ``PROJECT_API_KEY``, ``PROJECT_API_SECRET`` and ``PROJECT_ACCESS_TOKEN``). Variables in
``.env`` count too. Values are never printed. Changed credentials drop the connection's cached
secret state (e.g. an access token fetched with the old ones).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ... import services
from ...models import Connection
from ...providers import registry


class Command(BaseCommand):
    help = "Create or update a connection from the provider's environment variables (e.g. Kandy's PROJECT_*)."

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, help="provider kind, e.g. kandy")
        parser.add_argument("--name", required=True, help="the connection's name (an existing one is updated)")
        parser.add_argument("--base-url", help="the provider's API address (needed for a new connection)")
        parser.add_argument("--max-accounts", type=int, help="the quota of accounts (Kandy Basic: 5)")
        parser.add_argument("--disabled", action="store_true", help="create it disabled")

    def handle(self, *args, provider, name, base_url, max_accounts, disabled, **options):
        try:
            provider_class = registry.get(provider)
        except registry.UnknownProvider as exc:
            raise CommandError(str(exc))
        read = getattr(provider_class, "credentials_from_environment", None)
        if read is None:
            raise CommandError(f"{provider_class.label} connections cannot be configured from the environment.")
        found = read()
        if not found:
            raise CommandError(f"No {provider_class.label} credentials are set in the environment (or .env).")

        changes = {"credentials": found}
        if base_url:
            changes["base_url"] = base_url
        if max_accounts is not None:
            changes["max_accounts"] = max_accounts
        with transaction.atomic():
            connection = Connection.objects.select_for_update().filter(name=name).first()
            created = connection is None
            try:
                if created:
                    if not base_url:
                        example = provider_class.base_url_example or "the provider's API address"
                        raise CommandError(f"A new connection needs --base-url (for example {example}).")
                    connection = services.connection_create(
                        provider=provider, name=name, enabled=not disabled, **changes
                    )
                elif connection.provider != provider:
                    raise CommandError(f"The connection '{name}' is a {connection.provider_label} connection.")
                else:
                    connection = services.connection_update(connection=connection, **changes)
            except services.InvalidRequest as exc:
                raise CommandError(f"{exc.message} {_describe(exc.field_errors)}".strip()) from None
        self.stdout.write(
            f"{'Created' if created else 'Updated'} the {provider_class.label} connection '{name}' "
            f"at {connection.base_url}; credentials from the environment: {', '.join(sorted(found))}."
        )


def _describe(field_errors: dict, prefix: str = "") -> str:
    """``{"credentials": {"api_key": ["..."]}}`` as "credentials.api_key: ..."."""
    parts = []
    for key, messages in sorted(field_errors.items()):
        name = f"{prefix}{key}"
        if isinstance(messages, dict):
            parts.append(_describe(messages, f"{name}."))
        else:
            parts.append(f"{name}: {' '.join(messages)}")
    return "; ".join(parts)
