"""Catalogue maps join the common job row (QueuedJob): `pending` becomes `queued`, their file paths are
derived from their folder; every result records when it was last asked for (`prune`); areas store when
their imagery was taken and changes their footprint, so the STAC API filters both in SQL; exports are a
new kind of stored result."""
from datetime import UTC, datetime

import django.contrib.gis.db.models.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def forwards(apps, schema_editor):
    from django.contrib.gis.geos import Polygon

    apps.get_model("landcover", "LandCoverMap").objects.filter(status="pending").update(status="queued")
    for area in apps.get_model("landcover", "AreaMap").objects.exclude(imagery={}).iterator():
        dates = sorted(i["datetime"] for i in area.imagery.get("items", []) if i.get("datetime"))
        if dates:
            when = datetime.fromisoformat(dates[0].replace("Z", "+00:00"))
            area.acquired = (when if when.tzinfo else when.replace(tzinfo=UTC)).replace(microsecond=0)
            area.save(update_fields=["acquired"])
    for change in apps.get_model("landcover", "ChangeMap").objects.iterator():
        if len(change.bounds) == 4:
            change.footprint = Polygon.from_bbox(change.bounds)
            change.save(update_fields=["footprint"])


def backwards(apps, schema_editor):
    apps.get_model("landcover", "LandCoverMap").objects.filter(status="queued").update(status="pending")


class Migration(migrations.Migration):

    dependencies = [
        ('landcover', '0007_model_engine_bf16'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveField(
            model_name='landcovermap',
            name='cog_path',
        ),
        migrations.RemoveField(
            model_name='landcovermap',
            name='png_path',
        ),
        migrations.AddField(
            model_name='areamap',
            name='acquired',
            field=models.DateTimeField(blank=True, db_index=True, help_text="When the first scene used was taken (the STAC item's datetime)", null=True),
        ),
        migrations.AddField(
            model_name='areamap',
            name='requested_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, help_text='When somebody last asked for this result (prune reads it)'),
        ),
        migrations.AddField(
            model_name='changemap',
            name='footprint',
            field=django.contrib.gis.db.models.fields.PolygonField(blank=True, help_text='The bounds as a polygon, for spatial search', null=True, srid=4326),
        ),
        migrations.AddField(
            model_name='changemap',
            name='requested_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, help_text='When somebody last asked for this result (prune reads it)'),
        ),
        migrations.AddField(
            model_name='landcovermap',
            name='requested_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, help_text='When somebody last asked for this result (prune reads it)'),
        ),
        migrations.AddField(
            model_name='upload',
            name='requested_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, help_text='When somebody last asked for this result (prune reads it)'),
        ),
        migrations.AlterField(
            model_name='changemap',
            name='after_kind',
            field=models.CharField(max_length=20),
        ),
        migrations.AlterField(
            model_name='changemap',
            name='before_kind',
            field=models.CharField(max_length=20),
        ),
        migrations.AlterField(
            model_name='landcovermap',
            name='attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='landcovermap',
            name='progress',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='landcovermap',
            name='seconds',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='landcovermap',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=10),
        ),
        migrations.CreateModel(
            name='Export',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=10)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('statistics', models.JSONField(blank=True, default=list)),
                ('seconds', models.FloatField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('requested_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, help_text='When somebody last asked for this result (prune reads it)')),
                ('key', models.CharField(editable=False, max_length=64, unique=True)),
                ('token', models.CharField(editable=False, max_length=40, unique=True)),
                ('map_kind', models.CharField(max_length=20)),
                ('map_id', models.PositiveBigIntegerField()),
                ('what', models.CharField(help_text='vectors or sample', max_length=20)),
                ('filename', models.CharField(max_length=40)),
                ('params', models.JSONField(default=dict)),
                ('download_name', models.CharField(max_length=200)),
                ('bounds', models.JSONField(default=list, help_text='west, south, east, north of the map')),
                ('owner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='exports', to=settings.AUTH_USER_MODEL)),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='exports_asked', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at'],
                'abstract': False,
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
