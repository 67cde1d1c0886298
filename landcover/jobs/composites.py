"""Period composites as jobs (issue 25): every scene of an area over a period, mapped once, combined per pixel.

A composite is a `CompositeMap` row plus a folder COMPOSITES_DIR/<token>/ with map.tif, probabilities.tif,
confidence.tif, observations.tif (clear observations per pixel), confidence.json and preview.png; it is a product
like any map (tiles, downloads, STAC with start_datetime/end_datetime, change, accuracy, units).

Its job finds every scene of the period (the least cloudy first, at most HRMARS_COMPOSITE_MAX_SCENES), maps each
one alone on the area's grid with the model's context margin, clouds masked after the model (`SceneMap`, stored
under SCENES_DIR and found again by scene, grid, margin, model and engine: a second composite or a time series of
the same place and scenes maps nothing again), then `ml.composite.combine` takes the mode of their labels or the
mean of their probabilities. When the period holds a single date, the answer says so: the map is that scene's,
not a combination of dates.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete
from django.utils import timezone
from rasterio.windows import Window

from ml.composite import OBSERVATIONS, combine
from ml.grid import Grid, area_grid
from ml.imagery import Item, NoImagery, Query, fetch_area
from ml.modelio import Predictor
from ml.outputs import preview_png

from .. import storage
from ..catalogue.imagery import search
from ..catalogue.registry import refuse_coarse
from ..models import CompositeMap, ModelVersion, SceneMap
from . import lifecycle, products
from .areas import PlaceProduct, area_key, first_acquisition
from .inference import CONFIDENCE, PROBABILITIES, map_image, predictor_for
from .lifecycle import Progress
from .products import MAP_FILES, TIFF, Collection, File

SCENE_METHOD = 1  # how a scene is mapped, in its key: a change here maps every scene again
SCENES_SHARE = 90  # % of the progress bar for the scenes; the rest combines them
ONE_DATE = ("Only one date of imagery ({date}) has clear pixels here between {start} and {end}: this map is that "
            "scene's, not a combination of dates, and a series or change over this period compares it with itself.")


# --- Scenes, mapped once.

def scene_key(item: Item, grid: Grid, margin: int, version: ModelVersion) -> str:
    """What makes two scene maps the same: the scene, the grid and context margin, the model and its engine."""
    text = "|".join([item.id, item.source, grid.crs.to_wkt(), ",".join(f"{v:.6f}" for v in list(grid.transform)[:6]),
                     f"{grid.width}x{grid.height}", f"margin{margin}", version.name, version.engine,
                     f"method{SCENE_METHOD}"])
    return hashlib.sha256(text.encode()).hexdigest()


def scene_folder(scene: SceneMap) -> Path:
    """Where a scene map's files are."""
    return Path(settings.SCENES_DIR) / scene.token


def map_scene(item: Item, query: Query, grid: Grid, version: ModelVersion, predictor: Predictor,
              progress: Progress) -> SceneMap | None:
    """The map of one scene on the area's grid: the stored one, else mapped now and stored; None when the scene
    does not reach the area."""
    key = scene_key(item, grid, predictor.context, version)
    found = SceneMap.objects.filter(key=key).first()
    if found is not None and storage.exists(scene_folder(found) / PROBABILITIES):
        SceneMap.objects.filter(pk=found.pk).update(uses=F("uses") + 1, used_at=timezone.now())
        return found
    staging = Path(settings.SCENES_DIR) / ".tmp"
    staging.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="scene-", dir=staging))
    started = time.perf_counter()
    try:
        try:
            imagery = fetch_area(query, [item], work, bands=predictor.bands, max_items=1, margin=predictor.context,
                                 grid=grid, progress=lifecycle.share(progress, 0, 30))
        except NoImagery:
            return None
        mapped = map_image(imagery.path, work, predictor, lifecycle.share(progress, 30, 100),
                           window=Window(imagery.margin, imagery.margin, grid.width, grid.height), keep=imagery.keep)
        imagery.path.unlink()
        summary = imagery.summary()
        token = secrets.token_urlsafe(24)
        storage.publish(work, Path(settings.SCENES_DIR) / token)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fields = {"token": token, "item_id": item.id[:200], "acquired": item.datetime, "model_version": version,
              "clear_pixels": summary["clear_pixels"], "cloud_pixels": summary["cloud_pixels"],
              "missing_pixels": summary["missing_pixels"], "item": item.summary(), "warnings": mapped.warnings,
              "seconds": round(time.perf_counter() - started, 3), "uses": 1}
    if found is not None:  # its files were lost: mapped again in place of them
        SceneMap.objects.filter(pk=found.pk).update(**fields, used_at=timezone.now())
        storage.remove(scene_folder(found))
        found.refresh_from_db()
        return found
    scene, created = SceneMap.objects.get_or_create(key=key, defaults=fields)
    if not created:  # another job mapped it meanwhile: keep theirs
        storage.remove(Path(settings.SCENES_DIR) / token)
    return scene


# --- The composite's job.

def build(composite: CompositeMap, work: Path, progress: Progress) -> dict:
    """Every scene of the period mapped (or found), combined into the composite's files in `work`."""
    predictor = predictor_for(composite.model_version)
    query = Query(json.loads(composite.geometry.geojson), composite.start, composite.end, composite.max_cloud)
    items = [i for i in search(query, composite.imagery_source) if query.accepts(i)]
    if not items:
        raise NoImagery(f"no Sentinel-2 scene covers this area between {composite.start} and {composite.end} within "
                        "the cloud limit asked; widen the period or raise the cloud limit")
    items = sorted(items, key=lambda i: i.cloud_cover if i.cloud_cover is not None else 100.0)
    items = items[:settings.COMPOSITE_MAX_SCENES]
    grid = area_grid(query.geometry)
    scenes: list[SceneMap] = []
    for k, item in enumerate(items):
        share = lifecycle.share(progress, SCENES_SHARE * k // len(items), SCENES_SHARE * (k + 1) // len(items))
        scene = map_scene(item, query, grid, composite.model_version, predictor, share)
        if scene is not None:
            scenes.append(scene)
    used = sorted((s for s in scenes if s.clear_pixels > 0), key=lambda s: (s.acquired is None, s.acquired, s.pk))
    if not used:
        raise NoImagery(f"none of the {len(items)} scenes between {composite.start} and {composite.end} shows this "
                        "area clear of clouds; widen the period")
    result = combine([(storage.name(scene_folder(s) / "map.tif"), storage.name(scene_folder(s) / PROBABILITIES))
                      for s in used], work, predictor,
                     composite.method, dates=[s.acquired.isoformat() for s in used if s.acquired],
                     progress=lifecycle.share(progress, SCENES_SHARE, 100))
    preview_png(work / "map.tif", work / "preview.png")
    (work / CONFIDENCE).write_text(json.dumps(result.confidence, separators=(",", ":")))
    composite.scene_maps.set(used)
    listed = [{**s.item, "clear_pixels": s.clear_pixels, "cloud_pixels": s.cloud_pixels} for s in used]
    days = sorted({(i.get("datetime") or "")[:10] for i in listed} - {""})
    warnings = sorted({w for s in used for w in s.warnings})
    if len(days) <= 1 and composite.end > composite.start:
        warnings.append(ONE_DATE.format(date=days[0] if days else "undated", start=composite.start,
                                        end=composite.end))
    imagery = {"method": composite.method, "items": listed, "dates": days, "scenes": len(used),
               "scenes_without_clear_pixels": len(scenes) - len(used),
               "observations": {str(k): v for k, v in sorted(result.observations.items())},
               "valid_pixels": result.valid_pixels}
    acquired = [s.acquired for s in used if s.acquired is not None]
    return {"statistics": result.statistics, "imagery": imagery, "warnings": warnings,
            "acquired": first_acquisition({"items": listed}),
            "acquired_end": max(acquired).replace(microsecond=0) if acquired else None}


class CompositeProduct(PlaceProduct):
    """Composites of a period: the combined map, its mean probabilities and the clear observations per pixel."""

    kind, prefix, noun, root_setting = "composite", "composites", "composite map", "COMPOSITES_DIR"
    collection = Collection("composites", "Composites of a period",
                            "Land-cover maps of an area over a period (a month, a season, a year): every Sentinel-2 "
                            "scene with clear pixels mapped and combined per pixel by the mode of the labels or the "
                            "mean of the probabilities; observations.tif counts the clear scenes of each pixel.")
    files = (*MAP_FILES, File(OBSERVATIONS, TIFF, "Clear observations per pixel", ("data", "quality"),
                              "observations", "observations"))

    def label(self, row) -> str:
        return f"composite {row.pk} ({row.period or f'{row.start} to {row.end}'}, {row.method})"

    def properties(self, row) -> dict:
        end = row.acquired_end or row.acquired
        return {"hrmars:model": row.model_version.name, "hrmars:method": row.method,
                "hrmars:period": {"name": row.period, "start": str(row.start), "end": str(row.end)},
                "hrmars:scenes": [i["id"] for i in row.imagery.get("items", [])],
                "start_datetime": row.acquired.isoformat().replace("+00:00", "Z") if row.acquired else None,
                "end_datetime": end.isoformat().replace("+00:00", "Z") if end else None,
                "title": f"Composite {row.pk} ({row.period or f'{row.start} to {row.end}'}, {row.method})"}

    def about(self, row) -> dict:
        return {**super().about(row), "method": row.method, "start": str(row.start), "end": str(row.end),
                "period": row.period}

    def download_name(self, row, name: str) -> str:
        return f"composite-{row.pk}-{row.period or row.start}-{row.method}{products.download_suffix(name)}"


COMPOSITE_JOB = lifecycle.queued_kind(
    "composite", "landcover.compute_composite", CompositeMap, build,
    staging=lambda composite: COMPOSITE_PRODUCT.root() / ".tmp",
    destination=lambda composite: COMPOSITE_PRODUCT.folder(composite), related=("model_version",))
COMPOSITE_PRODUCT: CompositeProduct = products.register(CompositeProduct(COMPOSITE_JOB))


def request_composite(geometry: MultiPolygon, area_km2: float, *, start: date, end: date, period: str, method: str,
                      max_cloud: float, source: str, version: ModelVersion, user=None,
                      before_new: Callable[[], None] | None = None, run_here: bool = False) -> tuple[CompositeMap, bool]:
    """The composite for this request and whether it was created now (and queued, or with `run_here` made in this
    process: a time series' job); an existing one as it is."""
    refuse_coarse(version)
    owner = user if user is not None and user.is_authenticated else None
    key = hashlib.sha256(f"composite|{method}|{area_key(geometry, start, end, max_cloud, source, version, owner)}"
                         .encode()).hexdigest()
    return lifecycle.find_or_queue(
        COMPOSITE_JOB, {"key": key},
        {"token": secrets.token_urlsafe(24), "geometry": geometry, "area_km2": area_km2, "start": start, "end": end,
         "period": period, "method": method, "max_cloud": max_cloud, "imagery_source": source,
         "model_version": version, "requested_by": owner},
        settings.MAP_STALE_SECONDS, before_new, run_here=run_here)


def retry_here(composite: CompositeMap) -> None:
    """Make a failed or cancelled composite again in this process (a watched area's period whose imagery may have
    arrived since); the row is refreshed."""
    if composite.status == CompositeMap.Status.CANCELLED:
        CompositeMap.objects.filter(pk=composite.pk, status=CompositeMap.Status.CANCELLED).update(
            status=CompositeMap.Status.FAILED)
    lifecycle.reset_failed(COMPOSITE_JOB, composite)
    lifecycle.run(COMPOSITE_JOB, composite.pk)
    composite.refresh_from_db()


def scene_dates(composite: CompositeMap) -> list[tuple[SceneMap, str]]:
    """The composite's scenes, oldest first, each with what GDAL opens for its probabilities."""
    scenes = composite.scene_maps.order_by(F("acquired").asc(nulls_last=True), "pk")
    return [(s, storage.name(scene_folder(s) / PROBABILITIES)) for s in scenes]


# --- Keeping the scene cache in bounds.

def prunable_scenes(days: float):
    """Scene maps no composite or series has used in `days` days (a later one maps the scene again)."""
    return SceneMap.objects.filter(used_at__lt=timezone.now() - timedelta(days=days))


def remove_scene_folder(sender, instance: SceneMap, **kwargs) -> None:
    """post_delete of a scene map: its files go too, once the deletion is committed."""
    transaction.on_commit(partial(products.remove_quietly, scene_folder(instance)))


def connect_cleanup() -> None:
    """Connect `remove_scene_folder` (once)."""
    post_delete.connect(remove_scene_folder, sender=SceneMap, weak=False, dispatch_uid="landcover-scene-map-folder")
