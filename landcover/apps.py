from django.apps import AppConfig


class LandcoverConfig(AppConfig):
    name = "landcover"
    verbose_name = "Land cover"

    def ready(self):
        # Django's pattern: signal receivers are connected once the models are loaded.
        from django.db.models.signals import post_delete

        from .jobs.maps import remove_files
        from .models import LandCoverMap

        post_delete.connect(remove_files, sender=LandCoverMap, weak=False, dispatch_uid="landcover-map-files")
