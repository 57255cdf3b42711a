"""Where a secret was read from (address, browser), and the Auditors' view of the admin log.

The Auditors group (0007_roles) also gets ``admin.view_logentry`` (the admin's change history,
exported as CSV with the secret reads) and the view permissions of django-axes' sign-in records.
0007 is left as it was: its groups are amended here.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

AUDITOR_PERMISSIONS = {
    "admin": ("view_logentry",),
    "axes": ("view_accessattempt", "view_accessfailurelog", "view_accesslog"),
}


def _permissions(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codenames in AUDITOR_PERMISSIONS.items():
        app_config = apps.get_app_config(app_label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True  # create_permissions skips app configs without models
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        finally:
            app_config.models_module = models_module
        found += list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    return found


def grant_auditors(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name="Auditors")
    group.permissions.add(*_permissions(apps, schema_editor))


def revoke_auditors(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="Auditors").first()
    if group is not None:
        group.permissions.remove(*_permissions(apps, schema_editor))


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0008_webhooks"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.AddField(
            model_name="secretaccess",
            name="ip_address",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="from address"),
        ),
        migrations.AddField(
            model_name="secretaccess",
            name="user_agent",
            field=models.CharField(blank=True, default="", max_length=255, verbose_name="browser or client"),
        ),
        migrations.RunPython(grant_auditors, revoke_auditors),
    ]
