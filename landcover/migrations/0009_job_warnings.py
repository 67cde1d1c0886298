"""Every job row holds its warnings (issue 23 #2): what areas kept in `imagery` moves to the new field."""
from django.db import migrations, models

HELP = ("What the result cannot say, in words (e.g. imagery of another processing level than the model's, undated "
        "imagery for dates asked)")


def move_area_warnings(apps, schema_editor):
    AreaMap = apps.get_model("landcover", "AreaMap")
    for area in AreaMap.objects.exclude(imagery={}).only("pk", "imagery").iterator():
        warnings = area.imagery.pop("warnings", None)
        if warnings is not None:
            AreaMap.objects.filter(pk=area.pk).update(warnings=warnings, imagery=area.imagery)
    ChangeMap = apps.get_model("landcover", "ChangeMap")
    for change in ChangeMap.objects.exclude(change={}).only("pk", "change").iterator():
        if change.change.get("warnings"):
            ChangeMap.objects.filter(pk=change.pk).update(warnings=change.change["warnings"])


class Migration(migrations.Migration):

    dependencies = [
        ("landcover", "0008_queued_maps_products"),
    ]

    operations = [
        *(migrations.AddField(model_name=name, name="warnings", field=models.JSONField(blank=True, default=list,
                                                                                      help_text=HELP))
          for name in ("areamap", "changemap", "export", "landcovermap", "upload")),
        migrations.AddField(model_name="upload", name="level", field=models.CharField(
            blank=True, help_text="The Sentinel-2 processing level (L1C, L2A) the file or its name gives; blank: "
                                  "unknown", max_length=3)),
        migrations.RunPython(move_area_warnings, migrations.RunPython.noop),
    ]
