"""Land-cover maps of catalogue patches as jobs: ask for one, compute it once, store it atomically.

A map is a row (unique per patch, source and model version) plus a folder MAPS_DIR/<id>/
holding map.tif (COG), preview.png and statistics.json, and for model maps probabilities.tif (COG)
and confidence.json (`landcover.jobs.inference`). Asking for a map creates the row and
queues one task; everybody else asking gets the same row and its status. The lifecycle
(`landcover.jobs.lifecycle`) claims, builds in MAPS_DIR/.tmp/ and moves the folder into place.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from ml.modis import modis_map
from ml.outputs import preview_png
from ml.predict import SceneError

from ..errors import NotFound
from ..models import LandCoverMap, ModelVersion, Patch
from . import lifecycle
from .inference import map_image, predictor_for
from .lifecycle import JobKind, Progress


class MapUnavailable(NotFound):
    """The map cannot exist (e.g. a patch without MODIS labels); the message says why."""


def maps_root() -> Path:
    """Where stored maps live (HRMARS_MAPS_DIR)."""
    return Path(settings.MAPS_DIR)


def map_folder(m: LandCoverMap) -> Path:
    """A stored map's folder."""
    return maps_root() / str(m.pk)


def file_path(m: LandCoverMap, name: str) -> Path:
    """Absolute path of one of a stored map's files: map.tif, preview.png, probabilities.tif, confidence.json."""
    if name == "map.tif":
        return maps_root() / m.cog_path
    if name == "preview.png":
        return maps_root() / m.png_path
    return map_folder(m) / name


def build(m: LandCoverMap, work: Path, progress: Progress) -> dict:
    """The map's files in `work`: MODIS from the patch's lc file, or the model's map of its image."""
    cog = work / "map.tif"
    if m.source == LandCoverMap.Source.MODIS:
        statistics = modis_map(Path(m.patch.lc_path), cog)
        preview_png(cog, work / "preview.png")
    else:
        version = m.model_version
        assert version is not None  # the database's map_source_matches_model constraint
        predictor = predictor_for(version)
        source = m.patch.s2_path
        if predictor.input_kind == "coarse":  # a CGAN refines the patch's MODIS map
            if not m.patch.lc_path:
                raise SceneError(f"{version.name} refines MODIS maps, and this patch has none; "
                                 "choose a model that reads Sentinel-2 images")
            source = m.patch.lc_path
        statistics = map_image(Path(source), work, predictor, progress)
    (work / "statistics.json").write_text(json.dumps(statistics, indent=1))
    return {"cog_path": f"{m.pk}/map.tif", "png_path": f"{m.pk}/preview.png", "statistics": statistics}


MAP_JOB = JobKind(
    name="map", task="landcover.compute_map", model=LandCoverMap,
    waiting=LandCoverMap.Status.PENDING, running=LandCoverMap.Status.RUNNING, done=LandCoverMap.Status.DONE,
    failed=LandCoverMap.Status.FAILED, cancelled=None, idle_result="done-or-missing",
    related=("patch__dataset", "model_version"),
    staging=lambda m: maps_root() / ".tmp", destination=map_folder, build=build)

ACTIVE = MAP_JOB.active


def request_map(patch: Patch, model_version: ModelVersion | None,
                before_new: Callable[[], None] | None = None) -> tuple[LandCoverMap, bool]:
    """The map of `patch` by `model_version` (None: MODIS), queued if new; (map, queued now).
    `before_new` runs when the map does not exist yet, before it is created (a caller's limit on
    new computations raises there)."""
    if model_version is None and not patch.lc_path:
        raise MapUnavailable(f"Patch {patch.pk} ({patch.dataset.name}) has no MODIS land-cover file, so it has no "
                             "low-resolution map; ask for the high-resolution map instead.")
    source = LandCoverMap.Source.MODIS if model_version is None else LandCoverMap.Source.MODEL
    key: dict[str, Any] = {"patch": patch, "source": source, "model_version": model_version}
    if before_new is not None and not LandCoverMap.objects.filter(**key).exists():
        before_new()
    m, created = LandCoverMap.objects.get_or_create(**key)
    if created:
        lifecycle.enqueue(MAP_JOB, m.pk)
        return m, True
    return m, lifecycle.requeue_if_stale(MAP_JOB, m, settings.MAP_STALE_SECONDS)


def retry_map(m: LandCoverMap) -> bool:
    """Queue a failed map again; False if it had not failed (someone else retried first)."""
    return lifecycle.retry(MAP_JOB, m)


def build_modis_maps(patches: Iterable[Patch], progress: Callable[[int], None] | None = None
                     ) -> tuple[int, list[tuple[str, str]]]:
    """Build (in this process) the MODIS maps that do not exist yet; returns (built, [(file, error)])."""
    built, bad = 0, []
    for patch in patches:
        if patch.lc_path:
            m, _ = LandCoverMap.objects.get_or_create(patch=patch, source=LandCoverMap.Source.MODIS,
                                                      model_version=None)
            if m.status != LandCoverMap.Status.DONE:
                lifecycle.reset_failed(MAP_JOB, m)
                try:
                    result = lifecycle.run(MAP_JOB, m.pk)
                except OSError as exc:
                    lifecycle.fail(MAP_JOB, m.pk, str(exc))
                    result = {"status": MAP_JOB.failed, "error": str(exc)}
                if result["status"] == MAP_JOB.done:
                    built += 1
                elif result["status"] == MAP_JOB.failed:
                    bad.append((patch.lc_path, result["error"].splitlines()[0]))
        if progress:
            progress(1)
    return built, bad


def remove_files(sender, instance: LandCoverMap, **kwargs) -> None:
    """post_delete: a deleted map (or one deleted with its patch or model) takes its files with it, once
    committed."""
    folder = maps_root() / str(instance.pk)  # Django clears instance.pk after the delete
    transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
