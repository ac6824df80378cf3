"""The chain head row (pk 1) every registration locks to append to the chain."""

from django.db import migrations


def create_head(apps, schema_editor):  # type: ignore[no-untyped-def]
    ChainHead = apps.get_model("rights", "ChainHead")
    ChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "head_hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("rights", "0001_initial")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
