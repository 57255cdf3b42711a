"""The three roles of the admin, as groups (see README, "The admin"):

- **Provisioning operators** run operations: they view everything in provisioning but the
  secrets, provision and deprovision accounts, add and change members. No
  ``view_account_secrets``, no ``manage_connection``.
- **Auditors** read everything but the secrets (the secret *accesses* included) and run nothing:
  view permissions only.
- **Secret keepers** may read accounts' secrets (``view_account_secrets``); every read is recorded.

Idempotent: the groups are created when missing and given exactly these permissions. The
permissions themselves are created first (on a fresh database they are made only after all
migrations have run).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APP = "provisioning"
# the models whose records people look at in the admin
VIEWED_MODELS = ("member", "connection", "account", "operation", "batch", "externalcall")

ROLES = {
    "Provisioning operators": (
        *(f"view_{model}" for model in VIEWED_MODELS),
        "add_member",
        "change_member",
        "add_account",
        "provision_account",
        "deprovision_account",
    ),
    "Auditors": (*(f"view_{model}" for model in VIEWED_MODELS), "view_secretaccess"),
    "Secret keepers": ("view_account", "view_account_secrets"),
}


def create_roles(apps, schema_editor):
    app_config = apps.get_app_config(APP)
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = True  # create_permissions skips app configs without models (as here)
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = list(Permission.objects.filter(content_type__app_label=APP, codename__in=codenames))
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"permissions missing for the group {name!r}: {', '.join(sorted(missing))}")
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0006_overview_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
