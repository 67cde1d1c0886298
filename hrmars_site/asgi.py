"""ASGI entry point (the site is served by gunicorn over WSGI; this is for ASGI servers)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hrmars_site.settings")
application = get_asgi_application()
