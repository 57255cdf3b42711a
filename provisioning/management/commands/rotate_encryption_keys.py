"""``manage.py rotate_encryption_keys``: re-encrypt every secret with the newest key.

Key rotation: put a new key first in ``FIELD_ENCRYPTION_KEYS`` (keep the old ones after it),
restart web and workers, run this command, then drop the old keys. Every encrypted column of
every model (``EncryptedJSONField``) is rewritten token by token with ``MultiFernet.rotate``: the
values are never decoded, and a row changed by a worker meanwhile is left as that worker wrote it.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Cast
from django.db.models.lookups import Exact

from ... import crypto
from ...fields import encrypted_fields


def every_encrypted_field():
    """``(model, field)`` of every encrypted column in the project."""
    for model in apps.get_models():
        for field in encrypted_fields(model):
            yield model, field


def raw(field) -> Cast:
    """The column as stored (the Fernet token), bypassing the field's decryption."""
    return Cast(F(field.attname), output_field=TextField())


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default: 500)")

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        failures = 0
        for model, field in every_encrypted_field():
            rotated, changed, failed = self.rotate_field(model, field, batch_size)
            failures += failed
            line = f"{model._meta.label}.{field.name}: {rotated} re-encrypted"
            if changed:
                line += f", {changed} changed meanwhile (left as written)"
            if failed:
                line += f", {failed} NOT readable with the configured keys"
            self.stdout.write(line)
        if failures:
            raise CommandError(
                f"{failures} values could not be decrypted with any key in FIELD_ENCRYPTION_KEYS; "
                "they were left untouched. Add the key they were made with and run this again."
            )
        self.stdout.write(self.style.SUCCESS("Every encrypted value now uses the first key."))

    def rotate_field(self, model, field, batch_size: int) -> tuple[int, int, int]:
        manager = model._base_manager
        stored = manager.exclude(Q(**{f"{field.attname}__isnull": True}) | Q(**{field.attname: ""}))
        rotated = changed = failed = 0
        last_pk = None
        while True:
            page = stored.order_by("pk")
            if last_pk is not None:
                page = page.filter(pk__gt=last_pk)
            rows = list(page.annotate(_token=raw(field)).values_list("pk", "_token")[:batch_size])
            if not rows:
                break
            with transaction.atomic():
                for pk, token in rows:
                    try:
                        new_token = crypto.rotate(token)
                    except crypto.InvalidToken:
                        failed += 1
                        self.stderr.write(f"  {model._meta.label} pk={pk}: {field.name} is not readable")
                        continue
                    updated = manager.filter(
                        Exact(raw(field), Value(token, output_field=TextField())), pk=pk
                    ).update(**{field.attname: Value(new_token, output_field=TextField())})
                    if updated:
                        rotated += 1
                    else:
                        changed += 1
            last_pk = rows[-1][0]
        return rotated, changed, failed
