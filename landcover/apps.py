from django.apps import AppConfig


class LandcoverConfig(AppConfig):
    name = "landcover"
    verbose_name = "Land cover"

    def ready(self):
        from django.db import transaction
        from django.db.models.signals import post_delete

        from .models import LandCoverMap

        def remove_files(sender, instance, **kwargs):
            """A deleted map (or one deleted with its patch or model) takes its files with it, once committed."""
            import shutil

            from .maps import maps_root

            folder = maps_root() / str(instance.pk)  # Django clears instance.pk after the delete
            transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))

        post_delete.connect(remove_files, sender=LandCoverMap, weak=False, dispatch_uid="landcover-map-files")
