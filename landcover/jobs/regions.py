"""Regions as jobs of many tiles: plan, map every tile on whichever worker takes it, join.

A region (`RegionMap`) is planned by its own task: its grid (`ml.regions.plan_region`) and one `RegionTile` row
per tile that holds some of it, each then queued as a task of its own (on HRMARS_REGION_TILE_QUEUE). Any number
of Celery workers on any number of machines take tiles; a tile's task claims its row, maps it (imagery read with
the model's context margin, `ml.imagery.fetch_area` on the tile's window of the region's grid, then
`inference.map_image` keeping only the window) into REGIONS_DIR/<token>/tiles/<row>-<col>/, and records its
counts. A tile whose task comes back (a killed worker: tasks are acknowledged late) is mapped again from the start
and writes the same pixels. A tile with nothing to map (no scene, all cloud) is empty, not failed; a tile that
fails for good fails the region, and a retry of the region queues its unfinished tiles alone.

Progress is finished tiles / tiles, from the database. When the last tile finishes, the join is queued once
(`merge_queued`); it runs through the shared lifecycle: the tiles' COGs become one map, probabilities and
confidence COG (a VRT mosaic of the tiles translated into a COG with overviews), and the statistics and
confidence histogram are summed exactly from the tiles' counts. Cancelling the region stops its tiles at their
next progress report and leaves the queued ones unrun.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from affine import Affine
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rasterio.crs import CRS
from rasterio.windows import Window

from ml.classes import card_scheme
from ml.errors import PermanentError, TransientError
from ml.grid import Grid
from ml.imagery import NoImagery, Query, fetch_area
from ml.outputs import preview_png, write_cog
from ml.regions import Tile, aligned_tile, mosaic_vrt, plan_region, work_order
from ml.stats import merge_histograms, statistics_table

from .. import storage
from ..catalogue.imagery import search
from ..models import ModelVersion, RegionMap, RegionTile
from . import lifecycle, products
from .areas import PlaceProduct, area_key, first_acquisition
from .inference import CONFIDENCE, CONFIDENCE_COG, PROBABILITIES, map_image, predictor_for
from .lifecycle import Cancelled, Progress
from .products import MAP_FILES, Collection

log = logging.getLogger(__name__)
TILE_TASK = "landcover.compute_region_tile"
MERGE_TASK = "landcover.merge_region"
FINISHED = (RegionTile.Status.DONE, RegionTile.Status.EMPTY)


def region_key(area_text_key: str, tile_px: int) -> str:
    """A region's key: its area key (polygon, dates, cloud limit, source, model, engine, owner) and tile size."""
    return hashlib.sha256(f"region|{area_text_key}|tile{tile_px}".encode()).hexdigest()


def key_of(geometry, start, end, max_cloud: float, source: str, version: ModelVersion, tile_px: int, owner) -> str:
    """What makes two region requests the same."""
    return region_key(area_key(geometry, start, end, max_cloud, source, version, owner), tile_px)


def grid_of(region: RegionMap) -> Grid:
    """The region's grid, as planned."""
    g = region.grid
    return Grid(CRS.from_wkt(g["crs"]), Affine(*g["transform"]), g["width"], g["height"])


def tile_of(tile: RegionTile) -> Tile:
    """A tile row as the plan gave it."""
    return Tile(tile.row, tile.col, tile.col_off, tile.row_off, tile.width, tile.height, tile.geometry)


def tiles_folder(region: RegionMap) -> Path:
    """Where a region's tiles are mapped."""
    return REGION_PRODUCT.folder(region) / "tiles"


def send_tile(pk: int) -> None:
    """Queue a tile's task once the current transaction commits (on the tile queue, if one is set)."""
    queue = settings.REGION_TILE_QUEUE or None
    transaction.on_commit(lambda: current_app.send_task(TILE_TASK, args=[pk], queue=queue))


# --- Planning: the region's task.

def start(pk: int) -> dict:
    """The region's task: plan its tiles (once) and queue every tile not finished; the join when all are."""
    with transaction.atomic():
        region = RegionMap.objects.select_for_update().filter(
            pk=pk, status__in=REGION_JOB.active).select_related("model_version").first()
        if region is None:
            return {"region": pk, "status": "skipped"}
        if region.status == RegionMap.Status.QUEUED:  # new, retried, or queued again after silence (a lost task)
            region.status = RegionMap.Status.RUNNING
            region.attempts += 1
            region.error = ""
            region.merge_queued = False  # a join whose task was lost is queued again below
        if not region.tiles_total:
            # Grown to the model's own tile plan: the model's cost per tile stays that of the size asked.
            predictor = predictor_for(region.model_version)
            overlap = predictor.scene_overlap if predictor.scene_overlap is not None else predictor.scene_tile // 8
            region.tile_px = aligned_tile(region.tile_px, predictor.scene_tile, overlap, predictor.context)
            grid, tiles = plan_region(json.loads(region.geometry.geojson), region.tile_px)
            region.grid = {"crs": grid.crs.to_wkt(), "transform": list(grid.transform)[:6], "width": grid.width,
                           "height": grid.height}
            RegionTile.objects.bulk_create([
                RegionTile(region=region, row=t.row, col=t.col, col_off=t.col_off, row_off=t.row_off, width=t.width,
                           height=t.height, geometry=t.geometry) for t in tiles])
            region.tiles_total = len(tiles)
        region.save()
        unfinished = region.tiles.filter(status__in=(RegionTile.Status.QUEUED, RegionTile.Status.RUNNING,
                                                     RegionTile.Status.FAILED)).only("pk", "row", "col", "width",
                                                                                     "height")
        pending = [t.pk for t in sorted(unfinished, key=work_order)]  # largest first
        region.tiles.filter(pk__in=pending, status=RegionTile.Status.FAILED).update(
            status=RegionTile.Status.QUEUED, error="")
        for tile_pk in pending:
            send_tile(tile_pk)
    if not pending:
        queue_merge(region.pk)
    return {"region": pk, "status": "planned", "tiles": region.tiles_total, "queued": len(pending)}


# --- One tile: any worker.

def run_tile(pk: int, worker: str = "") -> dict:
    """A tile's task: claim it, map it, record its counts; the region's join once every tile is finished.
    `worker`: who runs it (the Celery worker's name), kept on the tile."""
    with transaction.atomic():
        # A queued tile, or a running one whose heartbeat stopped (its worker was killed): never one that runs.
        lost = timezone.now() - timedelta(seconds=settings.REGION_TILE_STALE_SECONDS)
        tile = (RegionTile.objects.select_for_update(of=("self",)).select_related("region__model_version")
                .filter(Q(status=RegionTile.Status.QUEUED) | Q(status=RegionTile.Status.RUNNING, updated_at__lt=lost),
                        pk=pk).first())
        if tile is None:
            return {"tile": pk, "status": "skipped"}
        region = tile.region
        if region.status != RegionMap.Status.RUNNING:
            tile.status = RegionTile.Status.CANCELLED if region.status == RegionMap.Status.CANCELLED else tile.status
            tile.save(update_fields=["status", "updated_at"])
            return {"tile": pk, "status": "skipped"}
        tile.status = RegionTile.Status.RUNNING
        tile.attempts += 1
        tile.worker = (worker or socket.gethostname())[:200]
        tile.save(update_fields=["status", "attempts", "worker", "updated_at"])
    started = time.perf_counter()
    try:
        counts = map_tile(region, tile)
        status = RegionTile.Status.DONE
        error = ""
    except Cancelled:
        RegionTile.objects.filter(pk=pk).update(status=RegionTile.Status.CANCELLED, updated_at=timezone.now())
        return {"tile": pk, "status": "cancelled"}
    except NoImagery as exc:
        counts, status, error = {}, RegionTile.Status.EMPTY, str(exc)
    except TransientError:
        raise  # the task tries again later (landcover.tasks)
    except PermanentError as exc:
        fail_tile(pk, str(exc))
        return {"tile": pk, "status": "failed", "error": str(exc)}
    RegionTile.objects.filter(pk=pk, status=RegionTile.Status.RUNNING).update(
        status=status, counts=counts, error=lifecycle.public_message(error), updated_at=timezone.now(),
        seconds=round(time.perf_counter() - started, 3))
    tile_finished(region.pk)
    return {"tile": pk, "status": status}


def fail_tile(pk: int, message: str) -> None:
    """A tile failed for good: so does its region (a retry queues the unfinished tiles again)."""
    tile = RegionTile.objects.select_related("region").get(pk=pk)
    RegionTile.objects.filter(pk=pk).update(status=RegionTile.Status.FAILED, error=lifecycle.public_message(message),
                                            updated_at=timezone.now())
    lifecycle.fail(REGION_JOB, tile.region_id, f"tile {tile.row}-{tile.col}: {message}")


def map_tile(region: RegionMap, tile: RegionTile) -> dict:
    """Map one tile into its folder; its counts (pixels and km² per class, clear / cloud / missing pixels, the
    scenes used, the confidence histogram and warnings)."""
    predictor = predictor_for(region.model_version)
    grid = tile_of(tile).grid(grid_of(region))
    query = Query(tile.geometry, region.start, region.end, region.max_cloud)
    staging = REGION_PRODUCT.folder(region) / ".tmp"
    staging.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"tile-{tile.row}-{tile.col}-", dir=staging))
    try:
        progress = tile_progress(region.pk, tile.pk)
        imagery = fetch_area(query, search(query, region.imagery_source), work, bands=predictor.bands,
                             margin=predictor.context, grid=grid, progress=lifecycle.share(progress, 0, 30))
        window = Window(imagery.margin, imagery.margin, grid.width, grid.height)
        mapped = map_image(imagery.path, work, predictor, lifecycle.share(progress, 30, 100), window=window,
                           keep=imagery.keep)
        imagery.path.unlink()
        summary = imagery.summary()
        confidence = json.loads((work / CONFIDENCE).read_text())
        destination = tiles_folder(region) / f"{tile.row}-{tile.col}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():  # an earlier attempt's (a killed worker): the same pixels, replaced whole
            shutil.rmtree(destination)
        storage.publish(work, destination)  # where the join finds it, on whichever machine it runs
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"classes": {str(r["code"]): [r["pixels"], r["area_km2"]] for r in mapped.statistics},
            "clear": summary["clear_pixels"], "cloud": summary["cloud_pixels"], "missing": summary["missing_pixels"],
            "items": summary["items"], "confidence": confidence, "warnings": mapped.warnings}


def tile_progress(region_pk: int, tile_pk: int) -> Progress:
    """A tile's heartbeat (its updated_at, every few seconds: a tile whose heartbeat stops is taken again), and
    a cancelled region stops it."""
    def beat(percent: int) -> None:
        RegionTile.objects.filter(pk=tile_pk, status=RegionTile.Status.RUNNING).update(updated_at=timezone.now())
        if RegionMap.objects.filter(pk=region_pk, status=RegionMap.Status.CANCELLED).exists():
            raise Cancelled()
    return lifecycle.throttled_progress(beat, seconds=5.0)


def tile_finished(region_pk: int) -> None:
    """The region's progress (finished tiles / tiles: its heartbeat too), and its join once every tile is."""
    region = RegionMap.objects.get(pk=region_pk)
    finished = region.tiles.filter(status__in=FINISHED).count()
    RegionMap.objects.filter(pk=region_pk, status=RegionMap.Status.RUNNING).update(
        progress=min(99, int(100 * finished / max(1, region.tiles_total))), updated_at=timezone.now())
    if finished == region.tiles_total:
        queue_merge(region_pk)


def queue_merge(region_pk: int) -> None:
    """Queue the join of a region whose tiles are all finished, once (whoever finishes last)."""
    if RegionMap.objects.filter(pk=region_pk, status=RegionMap.Status.RUNNING, merge_queued=False).update(
            merge_queued=True):
        transaction.on_commit(lambda: current_app.send_task(MERGE_TASK, args=[region_pk]))


# --- The join: the shared lifecycle's build.

def merge(region: RegionMap, work: Path, progress: Progress) -> dict:
    """The region's map, probabilities and confidence COGs, preview and statistics from its tiles, in `work`."""
    tiles = list(region.tiles.filter(status=RegionTile.Status.DONE))
    if not tiles:
        reasons = sorted({t.error for t in region.tiles.all() if t.error})
        raise NoImagery("no tile of the region has imagery to map" + (f" ({reasons[0]})" if reasons else ""))
    grid = grid_of(region)
    folder = tiles_folder(region)
    placed = [(folder / f"{t.row}-{t.col}", tile_of(t)) for t in tiles]
    with_probabilities = [(p, t) for p, t in placed if storage.exists(p / PROBABILITIES)]
    layers: list[tuple[str, Literal["mode", "average"]]] = [("map.tif", "mode"), (CONFIDENCE_COG, "average")]
    for k, (name, resampling) in enumerate(layers):
        join_cog(grid, [(storage.name(p / name), t) for p, t in placed], work / name, resampling)
        progress(k + 1, len(layers) + 2)
    if len(with_probabilities) == len(placed):
        join_cog(grid, [(storage.name(p / PROBABILITIES), t) for p, t in placed], work / PROBABILITIES, "average",
                 mask=True)
    progress(len(layers) + 1, len(layers) + 2)
    preview_png(work / "map.tif", work / "preview.png")
    (work / CONFIDENCE).write_text(json.dumps(merge_histograms([t.counts["confidence"] for t in tiles]),
                                              separators=(",", ":")))
    pixels, km2 = np.zeros(256, np.int64), np.zeros(256, np.float64)
    for t in tiles:
        for code, (n, area) in t.counts["classes"].items():
            pixels[int(code)] += n
            km2[int(code)] += area
    classes = sorted(int(c) for t in tiles for c in t.counts["classes"])
    statistics = statistics_table(pixels, km2, sorted(set(classes)), scheme=card_scheme(region.model_version.card))
    (work / "statistics.json").write_text(json.dumps(statistics, indent=1))
    return {"statistics": statistics, "imagery": imagery_summary(tiles, region), "warnings": sorted(
        {w for t in tiles for w in t.counts.get("warnings", [])}),
        "acquired": first_acquisition({"items": [i for t in tiles for i in t.counts["items"]]})}


def join_cog(grid: Grid, sources: list[tuple[str, Tile]], out: Path, resampling: Literal["mode", "average"],
             mask: bool = False) -> None:
    """One COG of the region from its tiles' COGs of one name (a VRT mosaic translated), with the first tile's
    tags, colours and band descriptions."""
    with rasterio.open(sources[0][0]) as first:
        count, dtype, nodata = first.count, first.dtypes[0], first.nodata
        tags, descriptions = first.tags(), first.descriptions
        try:
            colormap = first.colormap(1)
        except ValueError:  # no colour table
            colormap = None
    vrt = out.with_name(f".{out.name}.vrt")
    vrt.write_text(mosaic_vrt(grid, sources, count, dtype, None if mask else nodata, tags, colormap, descriptions,
                              mask=mask))
    try:
        write_cog(vrt, out, nodata=None if mask else nodata, resampling=resampling, mask=mask)
    finally:
        vrt.unlink()


def join(pk: int) -> dict:
    """The join's task: the lifecycle runs `merge`; the tiles' folders go once the region's map is stored."""
    result = lifecycle.run(REGION_JOB, pk)
    if result.get("status") == REGION_JOB.done:
        storage.remove(tiles_folder(RegionMap.objects.get(pk=pk)))
        shutil.rmtree(REGION_PRODUCT.folder(RegionMap.objects.get(pk=pk)) / ".tmp", ignore_errors=True)
    return result


def imagery_summary(tiles: list[RegionTile], region: RegionMap) -> dict:
    """The scenes used and the cloud and missing shares of the region, summed over its tiles."""
    scenes: dict[str, dict] = {}
    for t in tiles:
        for item in t.counts["items"]:
            scenes.setdefault(item["id"], {k: v for k, v in item.items() if k not in ("pixels", "percent_of_mapped",
                                                                                     "coverage_score")})
    clear = sum(t.counts["clear"] for t in tiles)
    cloud = sum(t.counts["cloud"] for t in tiles)
    missing = sum(t.counts["missing"] for t in tiles)
    total = max(1, clear + cloud + missing)
    empty = region.tiles.filter(status=RegionTile.Status.EMPTY).count()
    return {"items": sorted(scenes.values(), key=lambda i: i["id"]), "tiles": region.tiles_total,
            "empty_tiles": empty, "clear_pixels": clear, "cloud_pixels": cloud, "missing_pixels": missing,
            "cloud_percent": round(100 * cloud / total, 4), "missing_percent": round(100 * missing / total, 4)}


class RegionProduct(PlaceProduct):
    """Maps of regions: one map of many tiles, offered like any map."""

    kind, prefix, noun, root_setting = "region", "regions", "region map", "REGIONS_DIR"
    collection = Collection("regions", "Maps of regions",
                            "Land-cover maps of districts, provinces and countries, mapped tile by tile by many "
                            "workers and joined into one map.")
    files = MAP_FILES
    layers = products.CLASS_LAYERS

    def label(self, row) -> str:
        dates = self.dates(row)
        return f"region {row.pk} ({', '.join(dates[:3]) or 'date unknown'}{'…' if len(dates) > 3 else ''})"

    def properties(self, row) -> dict:
        return {"hrmars:model": row.model_version.name, "hrmars:tiles": row.tiles_total,
                "hrmars:scenes": [i["id"] for i in row.imagery.get("items", [])],
                "title": f"Region {row.pk} ({row.area_km2:,.1f} km²)"}

    def download_name(self, row, name: str) -> str:
        return f"region-{row.pk}-landcover{products.download_suffix(name)}"


REGION_JOB = lifecycle.queued_kind(
    "region", "landcover.compute_region", RegionMap, merge, staging=lambda region: REGION_PRODUCT.root() / ".tmp",
    destination=lambda region: REGION_PRODUCT.folder(region), related=("model_version",))
REGION_PRODUCT: RegionProduct = products.register(RegionProduct(REGION_JOB))


def request_region(geometry, area_km2: float, start, end, max_cloud: float, source: str, version: ModelVersion,
                   user, before_new=None) -> tuple[RegionMap, bool]:
    """The region's row, found (the same request) or created and queued; (row, created now)."""
    owner = user if getattr(user, "is_authenticated", False) else None
    tile_px = settings.REGION_TILE_PX
    fields: dict[str, Any] = {"token": secrets.token_urlsafe(24), "geometry": geometry, "area_km2": area_km2,
                              "start": start, "end": end, "max_cloud": max_cloud, "imagery_source": source,
                              "model_version": version, "requested_by": owner, "tile_px": tile_px}
    return lifecycle.find_or_queue(
        REGION_JOB, {"key": key_of(geometry, start, end, max_cloud, source, version, tile_px, owner)}, fields,
        settings.MAP_STALE_SECONDS, before_new)


def retry(region: RegionMap) -> bool:
    """Queue a failed or cancelled region again: its unfinished tiles alone are mapped again."""
    if RegionMap.objects.filter(pk=region.pk, status__in=(RegionMap.Status.FAILED, RegionMap.Status.CANCELLED)).update(
            status=RegionMap.Status.QUEUED, error="", merge_queued=False, updated_at=timezone.now()):
        region.tiles.filter(~Q(status__in=FINISHED)).update(status=RegionTile.Status.QUEUED, error="")
        lifecycle.enqueue(REGION_JOB, region.pk)
        region.refresh_from_db()
        return True
    return False
