"""Regions at scale (issue 24): a region's map and its tiles."""
import django.contrib.gis.db.models.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("landcover", "0009_job_warnings"),
    ]

    operations = [
        migrations.CreateModel(
            name="RegionMap",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"),
                                                     ("failed", "Failed"), ("cancelled", "Cancelled")],
                                            db_index=True, default="queued", max_length=10)),
                ("progress", models.PositiveSmallIntegerField(default=0)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("error", models.TextField(blank=True)),
                ("statistics", models.JSONField(blank=True, default=list)),
                ("seconds", models.FloatField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("requested_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now,
                                                      help_text="When somebody last asked for this result (prune reads it)")),
                ("warnings", models.JSONField(blank=True, default=list,
                                              help_text="What the result cannot say, in words (e.g. imagery of another "
                                                        "processing level than the model's, undated imagery for dates "
                                                        "asked)")),
                ("key", models.CharField(editable=False, help_text="SHA-256 of the region, dates, cloud limit, source, "
                                                                   "model and tile size", max_length=64, unique=True)),
                ("token", models.CharField(editable=False, max_length=40, unique=True)),
                ("geometry", django.contrib.gis.db.models.fields.MultiPolygonField(srid=4326)),
                ("area_km2", models.FloatField(help_text="Geodesic area of the region (WGS 84 ellipsoid)")),
                ("start", models.DateField(blank=True, null=True)),
                ("end", models.DateField(blank=True, null=True)),
                ("max_cloud", models.FloatField(default=100.0, help_text="Largest scene cloud cover accepted, %")),
                ("imagery_source", models.CharField(default="auto", help_text="auto (every configured source), stac "
                                                                              "or local", max_length=20)),
                ("tile_px", models.PositiveIntegerField(help_text="Tile side, pixels of 10 m")),
                ("grid", models.JSONField(blank=True, default=dict, help_text="The region's grid: crs, transform, "
                                                                              "width, height")),
                ("tiles_total", models.PositiveIntegerField(default=0)),
                ("merge_queued", models.BooleanField(default=False, help_text="Every tile is done and the join was "
                                                                              "queued")),
                ("imagery", models.JSONField(blank=True, default=dict, help_text="Scenes used, cloud and missing "
                                                                                 "shares")),
                ("acquired", models.DateTimeField(blank=True, db_index=True, help_text="When the first scene used was "
                                                                                       "taken", null=True)),
                ("model_version", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                                    related_name="regions", to="landcover.modelversion")),
                ("requested_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                   related_name="regions", to=settings.AUTH_USER_MODEL)),
            ],
            options={"ordering": ["-created_at"], "abstract": False},
        ),
        migrations.CreateModel(
            name="RegionTile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("row", models.PositiveIntegerField()),
                ("col", models.PositiveIntegerField()),
                ("col_off", models.PositiveIntegerField()),
                ("row_off", models.PositiveIntegerField()),
                ("width", models.PositiveIntegerField()),
                ("height", models.PositiveIntegerField()),
                ("geometry", models.JSONField(help_text="The part of the region in the tile (GeoJSON, lon/lat)")),
                ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"),
                                                     ("empty", "No imagery"), ("failed", "Failed"),
                                                     ("cancelled", "Cancelled")],
                                            db_index=True, default="queued", max_length=10)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("worker", models.CharField(blank=True, help_text="The worker that last took it", max_length=200)),
                ("seconds", models.FloatField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                ("counts", models.JSONField(blank=True, default=dict, help_text="Pixels and km² per class code; "
                                                                                "clear, cloud and missing pixels; "
                                                                                "scenes used")),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("region", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="tiles",
                                             to="landcover.regionmap")),
            ],
            options={"ordering": ["row", "col"]},
        ),
        migrations.AddConstraint(
            model_name="regiontile",
            constraint=models.UniqueConstraint(fields=("region", "row", "col"), name="one_tile_per_place"),
        ),
    ]
