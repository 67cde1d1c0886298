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
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon

from ml.imagery import Query, fetch_area

from ..catalogue.imagery import search
from ..errors import InvalidInput, NotReady
from ..models import AreaMap, ModelVersion
from . import lifecycle
from .inference import map_image, predictor_for
from .lifecycle import JobKind, Progress

FETCH_SHARE = 30  # % of the progress bar for finding and reading the imagery


def areas_root() -> Path:
    """Where area maps live (HRMARS_AREAS_DIR)."""
    return Path(settings.AREAS_DIR)


def area_folder(area: AreaMap) -> Path:
    """One area map's folder."""
    return areas_root() / area.token


def query_of(area: AreaMap) -> Query:
    """The imagery query of an area job."""
    return Query(json.loads(area.geometry.geojson), area.start, area.end, area.max_cloud)


def _part(progress: Progress, low: int, high: int) -> Progress:
    def report(done: int, total: int) -> None:
        progress(low * total + (high - low) * done, 100 * total)
    return report


def build(area: AreaMap, work: Path, progress: Progress) -> dict:
    """Imagery, map and statistics of the area in `work`; the fields to store."""
    predictor = predictor_for(area.model_version)
    query = query_of(area)
    items = search(query, area.imagery_source)
    imagery = fetch_area(query, items, work, bands=predictor.bands, progress=_part(progress, 0, FETCH_SHARE))
    statistics = map_image(imagery.path, work, predictor, _part(progress, FETCH_SHARE, 100))
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
    return {"statistics": statistics, "imagery": summary}


AREA_JOB = JobKind(
    name="area", task="landcover.compute_area", model=AreaMap,
    waiting=AreaMap.Status.QUEUED, running=AreaMap.Status.RUNNING, done=AreaMap.Status.DONE,
    failed=AreaMap.Status.FAILED, cancelled=AreaMap.Status.CANCELLED, idle_result="skipped",
    related=("model_version",), staging=lambda area: areas_root() / ".tmp", destination=area_folder, build=build)


def area_key(geometry: MultiPolygon, start: date | None, end: date | None, max_cloud: float, source: str,
             version: ModelVersion) -> str:
    """What makes two requests the same: the polygon (to 1e-7°), dates, cloud limit, source, model and engine."""
    rounded = json.dumps(_round(json.loads(geometry.geojson)["coordinates"]), separators=(",", ":"))
    text = "|".join([rounded, str(start), str(end), f"{max_cloud:g}", source, version.name, version.engine])
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
    if version.card.get("input") == "coarse":
        raise InvalidInput("model", f"{version.name} refines MODIS land-cover maps and cannot map imagery; choose a "
                                    "model that reads Sentinel-2 bands.")
    key = area_key(geometry, start, end, max_cloud, source, version)
    return lifecycle.find_or_queue(
        AREA_JOB, {"key": key}, {"token": secrets.token_urlsafe(24), "geometry": geometry, "area_km2": area_km2,
                                 "start": start, "end": end, "max_cloud": max_cloud, "imagery_source": source,
                                 "model_version": version,
                                 "requested_by": user if user and user.is_authenticated else None},
        settings.MAP_STALE_SECONDS, before_new)


def retry(area: AreaMap) -> bool:
    """Queue a failed or cancelled area map again."""
    if area.status == AreaMap.Status.CANCELLED:
        AreaMap.objects.filter(pk=area.pk, status=AreaMap.Status.CANCELLED).update(status=AreaMap.Status.FAILED)
        area.refresh_from_db()
    return lifecycle.retry(AREA_JOB, area)


def cancel_or_refuse(area: AreaMap) -> None:
    """Cancel a queued or running area map, or NotReady saying why it cannot be."""
    if not lifecycle.cancel(AREA_JOB, area):
        raise NotReady(f"Area map {area.pk} is {area.status}; only queued or running jobs can be cancelled.")


def done(area: AreaMap) -> AreaMap:
    """The area map if it is ready, else NotReady."""
    if area.status != AreaMap.Status.DONE:
        raise NotReady(f"Area map {area.pk} is {area.status} ({area.progress} %); its map is not ready.")
    return area

