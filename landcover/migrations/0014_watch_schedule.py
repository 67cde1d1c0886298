"""The beat's schedule of watched areas, in the database (django-celery-beat): every HRMARS_WATCH_CHECK_SECONDS."""
from django.conf import settings
from django.db import migrations

TASK = "landcover.watch_areas"


def add(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = interval_model.objects.get_or_create(every=settings.WATCH_CHECK_SECONDS, period="seconds")
    task_model.objects.get_or_create(name="Watched areas: map new periods, alert", defaults={
        "task": TASK, "interval": every, "enabled": True,
        "description": "Maps each watched area's newest period once its imagery exists and alerts by its rules."})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("landcover", "0013_watched_areas"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(add, remove)]
