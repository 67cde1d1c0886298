"""Maps of areas of interest as jobs: find the imagery, mask clouds, map, clip, store.

An area job is an `AreaMap` row plus a folder AREAS_DIR/<token>/ with map.tif (COG), probabilities.tif
(COG), confidence.json, preview.png and image.tif (true colour of the pixels used). Asking again for the
same area, dates, cloud limit, source and model gives the same row (`area_key`), whatever its state: a
stored result is returned at once, a failed or cancelled one can be retried. The run goes through the
shared lifecycle (`landcover.jobs.lifecycle`): reading and mosaicking the imagery is the first 30 % of
its progress, the model the rest, and a cancel stops it at the next block.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon
from rasterio.windows import Window

from ml.imagery import Query, fetch_area

from ..catalogue.imagery import search
from ..catalogue.registry import refuse_coarse
from ..models import AreaMap, ModelVersion
from . import lifecycle, products
from .inference import map_image, predictor_for
from .lifecycle import Progress
from .products import MAP_FILES, TIFF, Collection, File, Layer, Product

FETCH_SHARE = 30  # % of the progress bar for finding and reading the imagery
# How an area is mapped, in the request's key: 2 reads a margin of context and masks after the model (before,
# zeros around the polygon and clouds changed the classes near them), so no stored map of the old way is reused.
AREA_METHOD = 2
UNDATED = ("The imagery used ({items}) has no acquisition date, so the dates asked ({start} to {end}) could not be "
           "checked: this map may not show that period, and a change against another period may show no change.")


def query_of(area: AreaMap) -> Query:
    """The imagery query of an area job."""
    return Query(json.loads(area.geometry.geojson), area.start, area.end, area.max_cloud)


def build(area: AreaMap, work: Path, progress: Progress) -> dict:
    """Imagery, map and statistics of the area in `work`; the fields to store."""
    predictor = predictor_for(area.model_version)
    query = query_of(area)
    items = search(query, area.imagery_source)
    imagery = fetch_area(query, items, work, bands=predictor.bands, margin=predictor.context,
                         progress=lifecycle.share(progress, 0, FETCH_SHARE))
    # The model reads the area and the margin around it; the map keeps the area's clear pixels only.
    window = Window(imagery.margin, imagery.margin, imagery.grid.width, imagery.grid.height)
    mapped = map_image(imagery.path, work, predictor, lifecycle.share(progress, FETCH_SHARE, 100), window=window,
                       keep=imagery.keep)
    statistics, warnings = mapped.statistics, mapped.warnings
    imagery.path.unlink()  # the bands are not kept: image.tif shows the pixels used, the scenes are listed
    summary = imagery.summary()
    mapped_km2 = sum(row["area_km2"] for row in statistics)
    pixel_km2 = mapped_km2 / imagery.clear_pixels if imagery.clear_pixels else 0.0
    for name in ("cloud", "missing"):
        km2 = summary[f"{name}_pixels"] * pixel_km2
        summary[f"{name}_km2"] = round(km2, 6)
        summary[f"{name}_ha"] = round(km2 * 100, 4)
    summary["mapped_km2"] = round(mapped_km2, 6)
    summary["mapped_ha"] = round(mapped_km2 * 100, 4)
    undated = [i["id"] for i in summary["items"] if not i.get("datetime")]
    if (area.start or area.end) and undated:
        warnings.append(UNDATED.format(items=", ".join(undated), start=area.start or "…", end=area.end or "…"))
    return {"statistics": statistics, "imagery": summary, "acquired": first_acquisition(summary), "warnings": warnings}


def first_acquisition(imagery: dict) -> datetime | None:
    """When the first scene used was taken (to the second), from the imagery summary; None when undated."""
    dates = sorted(i["datetime"] for i in imagery.get("items", []) if i.get("datetime"))
    if not dates:
        return None
    when = datetime.fromisoformat(dates[0].replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).replace(microsecond=0)


class PlaceProduct(Product):
    """Maps of a place drawn or sent (areas, regions): a polygon in `geometry`, the imagery used in `imagery`."""

    geometry_field = "geometry"
    datetime_field = "acquired"
    owner_field = "requested_by"  # a signed-in user's places are theirs alone; anonymous ones are public
    related = ("model_version",)

    def bounds(self, row) -> tuple[float, float, float, float]:
        return row.geometry.extent

    def geometry(self, row) -> dict:
        return json.loads(row.geometry.geojson)

    def dates(self, row) -> list[str]:
        """The days the scenes used were taken."""
        return sorted({(i.get("datetime") or "")[:10] for i in row.imagery.get("items", [])} - {""})

    def about(self, row) -> dict:
        return {"area_km2": row.area_km2, "imagery": row.imagery}

    def scenes(self, row) -> tuple[str, ...]:
        return tuple(sorted(i["id"] for i in row.imagery.get("items", [])))


class AreaProduct(PlaceProduct):
    """Maps of areas of interest: the land cover, its probabilities and the true colour of the pixels used."""

    kind, prefix, noun, root_setting = "area", "areas", "area map", "AREAS_DIR"
    collection = Collection("areas", "Maps of areas of interest",
                            "Land-cover maps of areas drawn or uploaded anywhere, from Sentinel-2 imagery (a STAC API "
                            "or the local catalogue), clouds masked, clipped to the area.")
    files = (*MAP_FILES, File("image.tif", TIFF, "Sentinel-2 true colour of the pixels used", ("visual",), "image",
                              "image"))
    layers = (products.CLASS_LAYERS[0], Layer("image", "image.tif", "image", "image",
                                              "Sentinel-2 true colour of the pixels used"), products.CLASS_LAYERS[1])

    def label(self, row) -> str:
        return f"area {row.pk} ({', '.join(self.dates(row)) or 'date unknown'})"

    def properties(self, row) -> dict:
        return {"hrmars:model": row.model_version.name, "hrmars:cloud_percent": row.imagery.get("cloud_percent"),
                "hrmars:scenes": [i["id"] for i in row.imagery.get("items", [])],
                "title": f"Area {row.pk} ({row.area_km2:.2f} km²)"}

    def download_name(self, row, name: str) -> str:
        return f"area-{row.pk}-landcover{products.download_suffix(name)}"


AREA_JOB = lifecycle.queued_kind(
    "area", "landcover.compute_area", AreaMap, build, staging=lambda area: AREA_PRODUCT.root() / ".tmp",
    destination=lambda area: AREA_PRODUCT.folder(area), related=("model_version",))
AREA_PRODUCT: AreaProduct = products.register(AreaProduct(AREA_JOB))


def area_key(geometry: MultiPolygon, start: date | None, end: date | None, max_cloud: float, source: str,
             version: ModelVersion, owner=None) -> str:
    """What makes two requests the same: the polygon (to 1e-7°), dates, cloud limit, source, model, engine,
    the way areas are mapped (AREA_METHOD) and whose it is (a signed-in user's own; anonymous ones shared)."""
    rounded = json.dumps(_round(json.loads(geometry.geojson)["coordinates"]), separators=(",", ":"))
    text = "|".join([rounded, str(start), str(end), f"{max_cloud:g}", source, version.name, version.engine,
                     f"method{AREA_METHOD}", f"owner{owner.pk}" if owner is not None else "public"])
    return hashlib.sha256(text.encode()).hexdigest()


def _round(value):
    if isinstance(value, list):
        return [_round(v) for v in value]
    return round(float(value), 7)


def request_area(geometry: MultiPolygon, area_km2: float, *, start: date | None, end: date | None, max_cloud: float,
                 source: str, version: ModelVersion, user=None,
                 before_new: Callable[[], None] | None = None) -> tuple[AreaMap, bool]:
    """The area map for this request and whether it was created now (and queued); an existing one is returned
    as it is (a lost job is queued again). `before_new` runs before a new one is created (a rate limit)."""
    refuse_coarse(version)
    owner = user if user is not None and user.is_authenticated else None
    key = area_key(geometry, start, end, max_cloud, source, version, owner)
    return lifecycle.find_or_queue(
        AREA_JOB, {"key": key}, {"token": secrets.token_urlsafe(24), "geometry": geometry, "area_km2": area_km2,
                                 "start": start, "end": end, "max_cloud": max_cloud, "imagery_source": source,
                                 "model_version": version,
                                 "requested_by": owner},
        settings.MAP_STALE_SECONDS, before_new)


def retry(area: AreaMap) -> bool:
    """Queue a failed or cancelled area map again."""
    if area.status == AreaMap.Status.CANCELLED:
        AreaMap.objects.filter(pk=area.pk, status=AreaMap.Status.CANCELLED).update(status=AreaMap.Status.FAILED)
        area.refresh_from_db()
    return lifecycle.retry(AREA_JOB, area)



