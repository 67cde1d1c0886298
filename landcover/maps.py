"""Land-cover maps of catalogue patches: ask for one, compute it once, store it atomically.

A map is a row (unique per patch, source and model version) plus a folder
MAPS_DIR/<id>/ holding map.tif (COG) and preview.png. Asking for a map creates the
row and queues one task; everybody else asking gets the same row and its status.
The task claims the row, builds the files in MAPS_DIR/.tmp/, moves the folder into
place with one rename and only then marks the row done, so nobody ever sees half a
map, and a worker killed half-way leaves nothing behind that a re-run trips on.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .models import LandCoverMap, ModelVersion, Patch
from .services import throttled_progress

log = logging.getLogger(__name__)

ACTIVE = (LandCoverMap.Status.PENDING, LandCoverMap.Status.RUNNING)


class MapUnavailable(Exception):
    """The map cannot exist (e.g. a patch without MODIS labels); the message says why."""


def maps_root() -> Path:
    return Path(settings.MAPS_DIR)


def map_folder(m: LandCoverMap) -> Path:
    return maps_root() / str(m.pk)


def file_path(m: LandCoverMap, kind: str) -> Path:
    """Absolute path of a stored map's COG ('cog') or preview ('png')."""
    relative = m.cog_path if kind == "cog" else m.png_path
    return maps_root() / relative


# --- Catalogue version: part of every cached catalogue answer's key, bumped on change.

def catalogue_version() -> int:
    return cache.get_or_set("catalogue-version", 1, timeout=None)


def bump_catalogue_version() -> None:
    try:
        cache.incr("catalogue-version")
    except ValueError:
        cache.set("catalogue-version", 2, timeout=None)


# --- Asking for maps.

def request_map(patch: Patch, model_version: ModelVersion | None) -> tuple[LandCoverMap, bool]:
    """The map of `patch` by `model_version` (None: MODIS), queued if new; (map, queued now)."""
    if model_version is None and not patch.lc_path:
        raise MapUnavailable(f"Patch {patch.pk} ({patch.dataset.name}) has no MODIS land-cover file, so it has no "
                             "low-resolution map; ask for the high-resolution map instead.")
    source = LandCoverMap.Source.MODIS if model_version is None else LandCoverMap.Source.MODEL
    m, created = LandCoverMap.objects.get_or_create(patch=patch, source=source, model_version=model_version)
    if created:
        _enqueue(m)
        return m, True
    if m.status in ACTIVE and m.updated_at < timezone.now() - timedelta(seconds=settings.MAP_STALE_SECONDS):
        # Lost (broker emptied, task dropped): queue it again, once — the update is the lock.
        if LandCoverMap.objects.filter(pk=m.pk, updated_at=m.updated_at).update(
                status=LandCoverMap.Status.PENDING, progress=0, updated_at=timezone.now()):
            log.warning("map %s was %s for over %s s: queued again", m.pk, m.status, settings.MAP_STALE_SECONDS)
            m.refresh_from_db()
            _enqueue(m)
            return m, True
    return m, False


def retry_map(m: LandCoverMap) -> bool:
    """Queue a failed map again; False if it had not failed (someone else retried first)."""
    if LandCoverMap.objects.filter(pk=m.pk, status=LandCoverMap.Status.FAILED).update(
            status=LandCoverMap.Status.PENDING, progress=0, error="", updated_at=timezone.now()):
        m.refresh_from_db()
        _enqueue(m)
        return True
    return False


def _enqueue(m: LandCoverMap) -> None:
    from .tasks import compute_map

    pk = m.pk
    transaction.on_commit(lambda: compute_map.delay(pk))


# --- Computing maps (in the worker).

def claim(map_id: int) -> LandCoverMap | None:
    """Mark the map running and count the attempt; None when there is nothing to do."""
    with transaction.atomic():
        m = (LandCoverMap.objects.select_for_update(of=("self",)).select_related("patch__dataset", "model_version")
             .filter(pk=map_id).first())
        if m is None or m.status == LandCoverMap.Status.DONE:
            return None
        m.status = LandCoverMap.Status.RUNNING
        m.attempts += 1
        m.progress = 0
        m.error = ""
        m.save(update_fields=["status", "attempts", "progress", "error", "updated_at"])
        return m


@lru_cache(maxsize=4)
def _predictor(path: str, card_mtime: float):
    from ml.modelio import load_model

    return load_model(Path(path))


def predictor_for(version: ModelVersion):
    card = Path(version.path) / "model.json"
    return _predictor(version.path, card.stat().st_mtime if card.exists() else 0.0)


def compute(m: LandCoverMap) -> LandCoverMap:
    """Build the map's files and store them; raises on failure (the task decides about retrying)."""
    from ml.maps import modis_map, preview_png
    from ml.predict import SceneError, predict_scene

    started = time.perf_counter()
    root = maps_root()
    (root / ".tmp").mkdir(parents=True, exist_ok=True)
    for stale in (root / ".tmp").glob(f"{m.pk}-*"):  # left by an attempt whose worker was killed
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f"{m.pk}-", dir=root / ".tmp"))
    try:
        cog = work / "map.tif"
        if m.source == LandCoverMap.Source.MODIS:
            statistics = modis_map(Path(m.patch.lc_path), cog)
        else:
            progress = throttled_progress(lambda percent: LandCoverMap.objects.filter(pk=m.pk).update(progress=percent))
            predictor = predictor_for(m.model_version)
            source = m.patch.s2_path
            if predictor.input_kind == "coarse":  # a CGAN refines the patch's MODIS map
                if not m.patch.lc_path:
                    raise SceneError(f"{m.model_version.name} refines MODIS maps, and this patch has none; "
                                     "choose a model that reads Sentinel-2 images")
                source = m.patch.lc_path
            result = predict_scene(Path(source), cog, predictor, progress=progress)
            statistics = result.statistics
        preview_png(cog, work / "preview.png")
        (work / "statistics.json").write_text(json.dumps(statistics, indent=1))
        final = map_folder(m)
        if final.exists():  # left by an attempt killed between the move and the database update
            shutil.rmtree(final)
        work.rename(final)  # atomic on one file system: the folder appears complete or not at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m.status = LandCoverMap.Status.DONE
    m.progress = 100
    m.cog_path = f"{m.pk}/map.tif"
    m.png_path = f"{m.pk}/preview.png"
    m.statistics = statistics
    m.seconds = round(time.perf_counter() - started, 3)
    m.finished_at = timezone.now()
    m.save(update_fields=["status", "progress", "cog_path", "png_path", "statistics", "seconds", "finished_at",
                          "updated_at"])
    return m


def mark_failed(map_id: int, message: str) -> None:
    LandCoverMap.objects.filter(pk=map_id).exclude(status=LandCoverMap.Status.DONE).update(
        status=LandCoverMap.Status.FAILED, error=message[:2000], updated_at=timezone.now())


def build_modis_maps(patches, progress=None) -> tuple[int, list[tuple[str, str]]]:
    """Build (in this process) the MODIS maps that do not exist yet; returns (built, [(file, error)])."""
    from ml.rasterio_io import DataError

    built, bad = 0, []
    for patch in patches:
        if patch.lc_path:
            m, _ = LandCoverMap.objects.get_or_create(patch=patch, source=LandCoverMap.Source.MODIS,
                                                      model_version=None)
            claimed = claim(m.pk) if m.status != LandCoverMap.Status.DONE else None
            if claimed:
                try:
                    compute(claimed)
                    built += 1
                except (DataError, OSError, ValueError) as exc:
                    mark_failed(m.pk, str(exc))
                    bad.append((patch.lc_path, str(exc).splitlines()[0]))
        if progress:
            progress(1)
    return built, bad

