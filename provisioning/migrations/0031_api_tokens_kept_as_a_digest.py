"""API tokens made before are kept as the digest of their key (``provisioning/api/tokens.py``):
their keys go on working, since a request's key is digested before it is looked up.

Not reversible: a digest cannot give its key back. Going back, tokens must be made again."""

import hashlib

from django.db import migrations


def digest(key: str) -> str:
    # provisioning.api.tokens.digest, as it was when this migration was written
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def digest_keys(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    for key in list(Token.objects.values_list("key", flat=True)):
        Token.objects.filter(key=key).update(key=digest(key))


class Migration(migrations.Migration):

    dependencies = [
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("provisioning", "0030_operation_kinds_record_closed_at_the_provider"),
    ]

    operations = [migrations.RunPython(digest_keys, migrations.RunPython.noop, elidable=False)]
