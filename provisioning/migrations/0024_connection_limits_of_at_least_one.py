"""A connection's ``requests_per_minute`` and ``max_concurrency`` are at least 1 when set.

A 0 was accepted and read as no limit, where staff may have meant none. The limits a 0 gave are
kept: a 0 becomes empty, which says "no limit".
"""

import django.core.validators
from django.db import migrations, models


def zero_is_no_limit(apps, schema_editor):
    Connection = apps.get_model("provisioning", "Connection")
    for field in ("requests_per_minute", "max_concurrency"):
        Connection.objects.filter(**{field: 0}).update(**{field: None})


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0023_no_api_token_key_in_the_admin_history'),
    ]

    operations = [
        migrations.RunPython(zero_is_no_limit, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='connection',
            name='max_concurrency',
            field=models.PositiveIntegerField(blank=True, help_text='Requests the provider answers at once, by all workers together (empty: no limit).', null=True, validators=[django.core.validators.MinValueValidator(1, 'At least 1. Leave it empty for no limit; to send nothing, disable the connection.')]),
        ),
        migrations.AlterField(
            model_name='connection',
            name='requests_per_minute',
            field=models.PositiveIntegerField(blank=True, help_text='Requests sent to the provider per minute, by all workers together (empty: no limit).', null=True, validators=[django.core.validators.MinValueValidator(1, 'At least 1. Leave it empty for no limit; to send nothing, disable the connection.')]),
        ),
    ]
