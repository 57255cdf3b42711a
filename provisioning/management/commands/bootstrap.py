"""``manage.py bootstrap``: make a fresh installation usable at once. Safe to run again.

- Creates a superuser (``admin``) when there is none, with a generated password printed once.
- Configures one connection per installed provider that has a simulator in the bundled sandbox,
  at ``settings.PROVISIONING["SANDBOX_URL"]``, with the sandbox's demo credentials
  (``provisioning.sandbox.defaults``), and requests a first health check of each. The provider
  decides the details (``Provider.sandbox_connection``). Existing connections are never changed.
- Records in ``.env`` what the sandbox needs to know of those connections
  (``Provider.sandbox_environment``, e.g. the page Flyve's validation emails link to), unless
  ``.env`` or the environment already sets it; ``make run`` starts the sandbox with ``.env``.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

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
DEFAULT_ENV_FILE = settings.BASE_DIR / ".env"


class Command(BaseCommand):
    help = "Create a superuser (if none) and a sandbox connection per provider (if missing). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="name of the superuser to create (default: admin)")
        parser.add_argument(
            "--portal-url", default="http://127.0.0.1:8000", help="where the portal is served (default: %(default)s)"
        )
        parser.add_argument(
            "--sandbox-url", default=None, help="where the simulators listen (default: the SANDBOX_URL setting)"
        )
        parser.add_argument("--no-sandbox", action="store_true", help="do not configure sandbox connections")
        parser.add_argument(
            "--env-file", default=None, help="the .env file the sandbox is started with (default: .env beside manage.py)"
        )

    def handle(self, *args, username, portal_url, sandbox_url, no_sandbox, env_file, **options):
        # what this command prints is its report; the services' own log lines would bury it
        logging.getLogger("provisioning").setLevel(max(logging.WARNING, logging.getLogger("provisioning").level))
        portal_url = portal_url.rstrip("/")
        if not no_sandbox:
            connections = self.sandbox_connections_ensure(
                sandbox_url=(sandbox_url or settings.PROVISIONING["SANDBOX_URL"]).rstrip("/")
            )
            self.sandbox_environment_ensure(
                connections=connections,
                portal_url=portal_url,
                dotenv=Path(env_file) if env_file else DEFAULT_ENV_FILE,
            )
        # last, so that the password is the last thing printed
        self.superuser_ensure(username=username, admin_url=f"{portal_url}/admin/")

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
        if settings.REQUIRE_SECOND_FACTOR:
            self.stdout.write(
                "  At the first sign-in you set up a second factor (an authenticator app and recovery codes)."
            )

    # --- sandbox connections ----------------------------------------------------------------
    def sandbox_connections_ensure(self, *, sandbox_url: str) -> list[Connection]:
        """The sandbox connection of every provider with a simulator, created when missing."""
        from ...sandbox.app import simulator_classes
        from ...sandbox.defaults import sandbox_credentials

        simulators = {simulator.name for simulator in simulator_classes()}
        demo_credentials = sandbox_credentials()
        self.stdout.write(f"Sandbox connections (simulators at {sandbox_url}, dashboard {sandbox_url}/_sandbox/):")
        connections = []
        for kind, provider in sorted(registry.all_providers().items()):
            simulator = provider.sandbox_simulator or kind
            name = f"{provider.label} sandbox"
            if simulator not in simulators:
                self.stdout.write(f"  skipped  {name}: the sandbox has no '{simulator}' simulator")
                continue
            config = provider.sandbox_connection(
                sandbox_url=sandbox_url, credentials=demo_credentials.get(simulator, {})
            )
            existing = Connection.objects.filter(Q(name=name) | Q(provider=kind, base_url=config["base_url"])).first()
            if existing is not None:
                self.stdout.write(f"  exists   {name}")
                connections.append(existing)
                continue
            with transaction.atomic():
                try:
                    connection = services.connection_create(provider=kind, name=name, **config)
                except services.InvalidRequest as exc:
                    self.stderr.write(f"  skipped  {name}: {exc.message} {exc.field_errors}")
                    continue
                if provider.supports(OperationKind.HEALTH_CHECK):
                    services.operation_request(
                        kind=OperationKind.HEALTH_CHECK, connection=connection, requested_by=BOOTSTRAP
                    )
            self.stdout.write(f"  created  {name} -> {connection.base_url}")
            connections.append(connection)
        return connections

    def sandbox_environment_ensure(self, *, connections: list[Connection], portal_url: str, dotenv: Path) -> None:
        """Append to ``.env`` the sandbox variables these connections need and nobody set."""
        wanted = {}
        for connection in connections:
            provider = registry.get(connection.provider)
            wanted.update(provider.sandbox_environment(connection=connection, portal_url=portal_url))
        present = dotenv.read_text() if dotenv.exists() else ""
        missing = {
            name: value
            for name, value in wanted.items()
            if name not in os.environ and not any(line.startswith(f"{name}=") for line in present.splitlines())
        }
        if not missing:
            return
        if not dotenv.exists():
            for name, value in missing.items():
                self.stdout.write(f"  the sandbox needs {name}={value} in its environment")
            return
        lines = "".join(f"{name}={value}\n" for name, value in missing.items())
        with dotenv.open("a") as file:
            file.write(("" if present.endswith("\n") or not present else "\n") + "# written by manage.py bootstrap for the sandbox\n" + lines)
        self.stdout.write(f"  recorded {', '.join(missing)} in .env for the sandbox")
