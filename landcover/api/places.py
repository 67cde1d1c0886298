"""Which catalogue patch a request means: by id (`patch`) or at a point (lat/lon, dataset, season)."""
from __future__ import annotations

from django.contrib.gis.geos import Point
from django.urls import reverse

from ..catalogue.queries import patches_at
from ..errors import NotFound
from ..models import Patch
from .params import dataset_param, patch_id, point_from


def no_patch_message(point: Point) -> str:
    """The 404's advice when no patch covers a point."""
    return (f"No catalogue patch covers lat={point.y:.6f}, lon={point.x:.6f}. See which places are covered with "
            f"{reverse('api:patch-list')}?bbox=min_lon,min_lat,max_lon,max_lat or on the map page, or upload your "
            f"own Sentinel-2 image of this place.")


def patches_here(request, point: Point):
    """The patches at a point, filtered by the request's dataset and season parameters."""
    return patches_at(point, dataset_param(request.query_params.get("dataset")), request.query_params.get("season"))


def find_patch(request) -> Patch:
    """The patch of the `patch` parameter, or the one at lat/lon."""
    value = request.query_params.get("patch")
    if value:
        found = Patch.objects.select_related("dataset").filter(pk=patch_id(value)).first()
        if found is None:
            raise NotFound(f"No patch {value}.")
        return found
    point = point_from(request)
    found = patches_here(request, point).first()
    if found is None:
        raise NotFound(no_patch_message(point))
    return found
