from django.apps import AppConfig


class HrmarsSiteConfig(AppConfig):
    name = "hrmars_site"
    verbose_name = "HR-MARS site"
