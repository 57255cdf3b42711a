"""Beat's "celery.backend_cleanup" schedule goes.

Celery beat adds it, daily at 04:00, to delete expired task results. The portal keeps no task
results (``CELERY_RESULT_BACKEND = None``), so it did nothing, yet stood in the admin's list of
schedules with no word of what it was. ``CELERY_RESULT_EXPIRES = None`` stops beat adding it.
"""

from django.db import migrations


def forget_backend_cleanup(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name="celery.backend_cleanup", task="celery.backend_cleanup").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("provisioning", "0024_connection_limits_of_at_least_one"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forget_backend_cleanup, migrations.RunPython.noop)]
