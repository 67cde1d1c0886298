"""Public pages and the health endpoint."""
from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from .celery import app as celery_app


class PageView(TemplateView):
    """A static public page; `nav` marks the current item in the navigation."""

    nav = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = self.nav
        return context


TEAM = [
    {"name": "Machine learning", "role": "Segmentation models, label super-resolution, GANs, evaluation"},
    {"name": "GIS engineering", "role": "Sentinel-2 processing, Cloud-Optimized GeoTIFFs, tiles, PostGIS"},
    {"name": "Web platform", "role": "Django, REST API, the map, uploads and jobs"},
]


class TeamView(PageView):
    template_name = "pages/team.html"
    nav = "team"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "team": TEAM}


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: database and broker reachable (503 if not)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy: reported, not hidden
        checks["database"] = f"error: {exc.__class__.__name__}: {exc}"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # any failure means unhealthy: reported, not hidden
        checks["broker"] = f"error: {exc.__class__.__name__}: {exc}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """django-ratelimit's block view: 429 with a page a person can act on."""
    return render(request, "429.html", status=429)
