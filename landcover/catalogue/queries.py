"""Catalogue queries the API and the pages share: patches at a point, rows of one dataset."""
from __future__ import annotations

from django.contrib.gis.geos import Point
from django.db.models import QuerySet

from ..models import Patch


def of_dataset(queryset: QuerySet, dataset: int | str | None, field: str = "dataset") -> QuerySet:
    """Rows of one dataset, given by id or by name (None: all)."""
    if dataset is None:
        return queryset
    return queryset.filter(**({f"{field}_id": dataset} if isinstance(dataset, int) else {f"{field}__name": dataset}))


def patches_at(point: Point, dataset: int | str | None = None, season: str | None = None) -> QuerySet:
    """Patches covering a point, real data first."""
    qs = (Patch.objects.filter(footprint__intersects=point).select_related("dataset", "scene")
          .order_by("dataset__synthetic", "dataset__name", "scene__roi", "scene__scene_id", "patch_id"))
    qs = of_dataset(qs, dataset)
    return qs.filter(scene__season=season) if season else qs
