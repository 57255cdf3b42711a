"""The admin's history named each API token made, changed or deleted there by its key (a DRF
token's name), and Auditors read that history: those entries now name the token's owner, as the
admin writes them from now on (``admin/users.py``). Data only; nothing to undo."""

from django.db import migrations


def name_the_owner(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    User = apps.get_model("auth", "User")
    token_types = ContentType.objects.filter(app_label="authtoken")
    entries = list(LogEntry.objects.filter(content_type__in=token_types))
    # a token's admin pages are keyed by its user's id (DRF's TokenProxy); an entry may have none
    user_ids = {int(e.object_id) for e in entries if (e.object_id or "").isdigit()}
    names = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))
    for entry in entries:
        owner = names.get(int(entry.object_id)) if (entry.object_id or "").isdigit() else None
        entry.object_repr = f"API token of {owner}" if owner else "API token"
    LogEntry.objects.bulk_update(entries, ["object_repr"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0022_operation_kinds_and_webhook_events_in_words"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(name_the_owner, migrations.RunPython.noop)]
