from django.apps import AppConfig


class LandcoverConfig(AppConfig):
    name = "landcover"
    verbose_name = "Land cover"
