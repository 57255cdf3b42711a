"""Providers come from the registry (a setting), not from database choices; a connection's
runtime state moves from ``settings`` to ``provider_state``, and ``settings`` now holds what staff chose
among the settings its provider declares (none of the existing providers declares any)."""

from django.db import migrations, models

import provisioning.providers.registry


class Migration(migrations.Migration):

    dependencies = [
        ("provisioning", "0002_member_country"),
    ]

    operations = [
        migrations.RenameField(model_name="connection", old_name="settings", new_name="provider_state"),
        migrations.AddField(
            model_name="connection",
            name="settings",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="connection",
            name="provider",
            field=models.CharField(max_length=50, validators=[provisioning.providers.registry.validate_kind]),
        ),
    ]
