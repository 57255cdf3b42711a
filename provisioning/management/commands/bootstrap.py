"""``manage.py bootstrap``: make a fresh installation usable at once. Safe to run again.

- Creates a superuser (``admin``) when there is none, with a generated password printed once.
- Configures one connection per installed provider that has a simulator in the bundled sandbox,
  at ``settings.PROVISIONING["SANDBOX_URL"]``, with the sandbox's demo credentials
  (``provisioning.sandbox.defaults``), and requests a first health check of each. The provider
  decides the details (``Provider.sandbox_connection``). Existing connections are never changed.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from ... import services
from ...models import Connection
from ...providers import registry
from ...states import OperationKind

BOOTSTRAP = services.Requester("bootstrap")


class Command(BaseCommand):
    help = "Create a superuser (if none) and a sandbox connection per provider (if missing). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="name of the superuser to create (default: admin)")
        parser.add_argument(
            "--admin-url", default="http://127.0.0.1:8000/admin/", help="the admin's address, as printed"
        )
        parser.add_argument(
            "--sandbox-url", default=None, help="where the simulators listen (default: the SANDBOX_URL setting)"
        )
        parser.add_argument("--no-sandbox", action="store_true", help="do not configure sandbox connections")

    def handle(self, *args, username, admin_url, sandbox_url, no_sandbox, **options):
        if not no_sandbox:
            self.sandbox_connections_ensure(sandbox_url=(sandbox_url or settings.PROVISIONING["SANDBOX_URL"]).rstrip("/"))
        # last, so that the password is the last thing printed
        self.superuser_ensure(username=username, admin_url=admin_url)

    # --- the superuser ----------------------------------------------------------------------
    def superuser_ensure(self, *, username: str, admin_url: str) -> None:
        User = get_user_model()
        existing = User.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            name = existing.get_username()
            self.stdout.write(
                f"Admin: {admin_url} (superuser '{name}' exists; "
                f"`manage.py changepassword {name}` sets a new password)"
            )
            return
        name, n = username, 1
        while User.objects.filter(**{User.USERNAME_FIELD: name}).exists():
            n += 1
            name = f"{username}{n}"
        password = secrets.token_urlsafe(18)
        User.objects.create_superuser(**{User.USERNAME_FIELD: name}, email="", password=password)
        self.stdout.write(self.style.SUCCESS("Created a superuser. Sign in to the admin:"))
        self.stdout.write(f"  URL:       {admin_url}")
        self.stdout.write(f"  user name: {name}")
        self.stdout.write(f"  password:  {password}")
        self.stdout.write(
            f"  (shown only this once; `manage.py changepassword {name}` sets a new one)"
        )

    # --- sandbox connections ----------------------------------------------------------------
    def sandbox_connections_ensure(self, *, sandbox_url: str) -> None:
        from ...sandbox.app import SIMULATORS
        from ...sandbox.defaults import sandbox_credentials

        simulators = {simulator.name for simulator in SIMULATORS}
        demo_credentials = sandbox_credentials()
        self.stdout.write(f"Sandbox connections (simulators at {sandbox_url}, dashboard {sandbox_url}/_sandbox/):")
        # a stable order: on a fresh database the Flyve connection is number 1, the one the Flyve
        # simulator's validation emails link to by default (SANDBOX_FLYVE_WEBAPP_URL)
        for kind, provider in sorted(registry.all_providers().items()):
            simulator = provider.sandbox_simulator or kind
            name = f"{provider.label} sandbox"
            if simulator not in simulators:
                self.stdout.write(f"  skipped  {name}: the sandbox has no '{simulator}' simulator")
                continue
            config = provider.sandbox_connection(
                sandbox_url=sandbox_url, credentials=demo_credentials.get(simulator, {})
            )
            problems = provider.validate_credentials(config.get("credentials", {}))
            if problems:
                self.stderr.write(f"  skipped  {name}: demo credentials lack {', '.join(sorted(problems))}")
                continue
            if Connection.objects.filter(Q(name=name) | Q(provider=kind, base_url=config["base_url"])).exists():
                self.stdout.write(f"  exists   {name}")
                continue
            with transaction.atomic():
                connection = Connection.objects.create(provider=kind, name=name, **config)
                if provider.supports(OperationKind.HEALTH_CHECK):
                    services.operation_request(
                        kind=OperationKind.HEALTH_CHECK, connection=connection, requested_by=BOOTSTRAP
                    )
            self.stdout.write(f"  created  {name} -> {connection.base_url}")
