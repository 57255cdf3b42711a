# Choices only: the words staff read for operation kinds and webhook event types (no change to the table).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0021_operation_lists_have_indexes_for_errors_kinds_and_cancelled'),
    ]

    operations = [
        migrations.AlterField(
            model_name='operation',
            name='kind',
            field=models.CharField(choices=[('provision', 'Provision'), ('verify', 'Verify SMS code'), ('reset_password', 'Reset password'), ('refresh_captcha', 'New captcha'), ('answer_captcha', 'Answer captcha'), ('validate', 'Validate email'), ('login_link', 'Login link'), ('rotate_secret', 'Rotate secret'), ('sync', 'Sync remote state'), ('deprovision', 'Deprovision'), ('health_check', 'Health check'), ('reconcile', 'Reconcile')], max_length=20),
        ),
        migrations.AlterField(
            model_name='webhookevent',
            name='type',
            field=models.CharField(choices=[('account.active', 'An account became active'), ('account.needs_person', 'An account needs a person'), ('account.failed', 'An account failed'), ('account.deprovisioned', 'An account was deprovisioned'), ('operation.finished', 'An operation finished'), ('batch.finished', 'A batch finished'), ('connection.health_changed', "A connection's health changed"), ('connection.quarantined', 'A connection was quarantined'), ('connection.quarantine_lifted', "A connection's quarantine was lifted")], max_length=50),
        ),
    ]
