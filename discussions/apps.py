"""The discussions app: its moderator is registered once the models are loaded."""
from django.apps import AppConfig


class DiscussionsConfig(AppConfig):
    name = "discussions"
    verbose_name = "Discussions"

    def ready(self) -> None:
        from . import moderation  # noqa: F401  (registers the moderator and the flag signal when apps are ready)
