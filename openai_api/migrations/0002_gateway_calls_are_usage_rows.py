"""Gateway calls move into the usage app's rows (kind "gateway"); GatewayCall stays as a proxy of them."""
from django.db import migrations

FIELDS = ("owner_id", "token_id", "model", "via", "stream", "status", "error_code", "prompt_tokens",
          "completion_tokens", "cost", "latency_ms", "created_at")


def copy_calls(apps, schema_editor):
    old = apps.get_model("openai_api", "GatewayCall")
    record = apps.get_model("usage", "UsageRecord")
    batch = []
    for call in old.objects.order_by("pk").iterator():
        row = record(kind="gateway", provider=call.model.partition("/")[0], finished_at=call.created_at,
                     cost_source="catalog" if call.cost is not None else "",
                     **{name: getattr(call, name) for name in FIELDS})
        batch.append(row)
        if len(batch) >= 500:
            _store(record, batch)
            batch = []
    _store(record, batch)


def _store(record, rows):
    created = record.objects.bulk_create(rows)
    # auto_now_add overwrote created_at: put each call's own time back.
    for row in created:
        record.objects.filter(pk=row.pk).update(created_at=row.finished_at)


def copy_back(apps, schema_editor):
    old = apps.get_model("openai_api", "GatewayCall")
    record = apps.get_model("usage", "UsageRecord")
    for row in record.objects.filter(kind="gateway").order_by("pk").iterator():
        call = old.objects.create(**{name: getattr(row, name) for name in FIELDS})
        old.objects.filter(pk=call.pk).update(created_at=row.created_at)


class Migration(migrations.Migration):

    dependencies = [
        ('openai_api', '0001_initial'),
        ('usage', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(copy_calls, copy_back),
        migrations.DeleteModel(
            name='GatewayCall',
        ),
        migrations.CreateModel(
            name='GatewayCall',
            fields=[
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('usage.usagerecord',),
        ),
    ]
