
import django.db.models.deletion
import django.utils.timezone
from datetime import timedelta

from django.db import migrations, models


def captcha_posts_to_reservations(apps, schema_editor):
    """The Flyve captcha budget now counts reservations: carry over the captcha POSTs of the last
    hour (its longest window) that GLPI did not refuse with a 4xx, as the budget counted them."""
    ExternalCall = apps.get_model("provisioning", "ExternalCall")
    RequestReservation = apps.get_model("provisioning", "RequestReservation")
    since = django.utils.timezone.now() - timedelta(hours=1)
    calls = ExternalCall.objects.filter(
        method="POST", url__endswith="/PluginFlyvemdmdemoCaptcha", created_at__gte=since
    ).exclude(status_code__gte=400, status_code__lt=500)
    RequestReservation.objects.bulk_create(
        RequestReservation(connection_id=c.connection_id, purpose="captcha", reserved_at=c.created_at,
                           operation_id=c.operation_id)
        for c in calls.only("connection_id", "created_at", "operation_id")
    )


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0004_quarantine_and_holds'),
    ]

    operations = [
        migrations.AddField(
            model_name='connection',
            name='paused_until',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name='RequestReservation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('purpose', models.CharField(default='request', max_length=30)),
                ('reserved_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='provisioning.connection')),
                ('operation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='provisioning.operation')),
            ],
            options={
                'indexes': [models.Index(fields=['connection', 'purpose', 'reserved_at'], name='provisionin_connect_e18843_idx')],
            },
        ),
        migrations.RunPython(captcha_posts_to_reservations, migrations.RunPython.noop),
    ]
