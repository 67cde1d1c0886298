"""The HR-MARS Django project: settings, URLs, the Celery app, public pages and /health/."""
from .celery import app as celery_app

__all__ = ("celery_app",)
