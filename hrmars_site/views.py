"""Public pages and the health endpoint."""
from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import permission_denied as default_permission_denied
from django.views.defaults import server_error as default_server_error
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


def locked_out(request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object) -> HttpResponse:
    """django-axes's lockout answer: 429, JSON for the API, a page for people, both saying when to try again."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (f"Too many failed log-ins from your address: log-in is locked for {minutes} minutes. "
               "Reset your password if you have forgotten it.")
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429, headers={"Retry-After": str(minutes * 60)})
    response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


# The API answers in JSON whatever goes wrong, also before a view runs (no URL matched, e.g. an id out of
# range) or when a view crashed; pages answer with Django's pages.
def _api_error(request: HttpRequest, status: int, detail: str) -> HttpResponse | None:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail}, status=status)
    return None


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404."""
    return _api_error(request, 404, "Not found.") or page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500."""
    return _api_error(request, 500, "Server error; it has been logged.") or default_server_error(request)


def bad_request_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400."""
    return _api_error(request, 400, "Bad request.") or default_bad_request(request, exception)


def permission_denied_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403."""
    return _api_error(request, 403, "You are not allowed to do this.") or default_permission_denied(request, exception)
