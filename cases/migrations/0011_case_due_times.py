from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0010_partner_message"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="first_response_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="first response due"),
        ),
        migrations.AddField(
            model_name="case",
            name="resolution_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="resolution due"),
        ),
    ]
