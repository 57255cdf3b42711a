"""``manage.py drf_create_token <username> [--reset]``: DRF's command, for tokens kept as a digest
(``provisioning/api/tokens.py``). It prints a new token's key, the only time it is shown; a user's
existing token cannot be shown again, and ``--reset`` replaces it. ``provisioning`` comes before
DRF's ``authtoken`` in ``INSTALLED_APPS``, so that this command is the one Django runs."""

from django.core.management.base import CommandError
from rest_framework.authtoken.management.commands import drf_create_token
from rest_framework.authtoken.models import Token


class Command(drf_create_token.Command):
    help = "Make an API token for a user and print its key, shown this once only (--reset replaces theirs)."

    def create_user_token(self, username, reset_token):
        user = drf_create_token.UserModel._default_manager.get_by_natural_key(username)
        if reset_token:
            Token.objects.filter(user=user).delete()
        elif Token.objects.filter(user=user).exists():
            raise CommandError(f"{username} has an API token already, whose key is kept only as a digest and "
                               "cannot be shown again: run the command again with --reset to replace it.")
        return Token.objects.create(user=user)

    def handle(self, *args, **options):
        try:
            token = self.create_user_token(options["username"], options["reset_token"])
        except drf_create_token.UserModel.DoesNotExist:
            raise CommandError(f"Cannot make the token: user {options['username']} does not exist.") from None
        self.stdout.write(f"API token of {options['username']}, shown this once only: {token.plain_key}")
