"""Catalogue answers cached already rendered, keyed by the absolute URL and the catalogue version."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from rest_framework import renderers
from rest_framework.response import Response

from ..catalogue.version import catalogue_version
from ..errors import NotFound


def cached(request, builder: Callable[[], object], missing: Callable[[], str] | None = None):
    """A catalogue answer from the cache, or built by `builder` (None: 404 with `missing()`'s message).

    JSON is cached rendered, and served without DRF rendering it again (420 → see BENCHMARKS.md
    for the footprints of a map view); other formats (the browsable API) are built each time."""
    if getattr(request, "accepted_renderer", None) is None or request.accepted_renderer.format != "json":
        data = builder()
        if data is None:
            raise NotFound(missing() if missing else "Not found.")
        return Response(data)
    key = f"api:{catalogue_version()}:{request.build_absolute_uri()}"  # answers hold absolute URLs
    body = cache.get(key)
    if body is None:
        data = builder()
        body = b"" if data is None else renderers.JSONRenderer().render(data)  # b"": nothing there (404)
        cache.set(key, body, settings.API_CACHE_SECONDS)
    if not body:
        raise NotFound(missing() if missing else "Not found.")
    return HttpResponse(body, content_type="application/json")
