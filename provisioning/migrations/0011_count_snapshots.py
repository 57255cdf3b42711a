from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0010_scale_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='CountSnapshot',
            fields=[
                ('name', models.CharField(max_length=50, primary_key=True, serialize=False)),
                ('counts', models.JSONField(default=list)),
                ('taken_at', models.DateTimeField()),
            ],
        ),
    ]
