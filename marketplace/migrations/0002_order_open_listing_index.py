from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(("status", "open")),
                fields=["-published_at", "-created_at", "-id"],
                name="mkt_order_open_listing",
            ),
        ),
    ]
