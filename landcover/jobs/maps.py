"""Land-cover maps of catalogue patches as jobs: ask for one, compute it once, store it atomically.

A map is a row (unique per patch, source and model version) plus a folder MAPS_DIR/<id>/
holding map.tif (COG), preview.png and statistics.json, and for model maps probabilities.tif (COG)
and confidence.json (`landcover.jobs.inference`). Asking for a map creates the row and
queues one task (`lifecycle.find_or_queue`); everybody else asking gets the same row and its status.
The lifecycle claims, builds in MAPS_DIR/.tmp/ and moves the folder into place. `MAP_PRODUCT` is the
kind's entry in the product registry: its files, layers, STAC collection and access rule.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

from ml.modis import modis_map
from ml.outputs import preview_png
from ml.predict import SceneError

from ..errors import NotFound
from ..models import LandCoverMap, ModelVersion, Patch
from . import lifecycle, products
from .inference import map_image, predictor_for
from .lifecycle import Progress
from .products import Collection, Product


class MapUnavailable(NotFound):
    """The map cannot exist (e.g. a patch without MODIS labels); the message says why."""


def build(m: LandCoverMap, work: Path, progress: Progress) -> dict:
    """The map's files in `work`: MODIS from the patch's lc file, or the model's map of its image."""
    cog = work / "map.tif"
    warnings: list[str] = []
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
        mapped = map_image(Path(source), work, predictor, progress)
        statistics, warnings = mapped.statistics, mapped.warnings
    (work / "statistics.json").write_text(json.dumps(statistics, indent=1))
    return {"statistics": statistics, "warnings": warnings}


class MapProduct(Product):
    """Catalogue maps: public, one per patch, source and model; MODIS maps have no probabilities."""

    kind, prefix, noun, root_setting = "map", "maps", "map", "MAPS_DIR"
    collection = Collection("catalogue-maps", "Maps of catalogue patches",
                            "Land-cover maps (simplified IGBP, DFC2020 codes) of the catalogue's patches: the model's "
                            "high-resolution maps and MODIS low-resolution ones.")
    cache_seconds = 86400
    geometry_field = "patch__footprint"
    related = ("patch__dataset", "model_version")

    def folder_name(self, row) -> str:
        return str(row.pk)

    def offers(self, row, name: str) -> bool:
        model_only = ("probabilities.tif", "confidence.tif")
        return super().offers(row, name) and (name not in model_only or row.source == LandCoverMap.Source.MODEL)

    def synthetic(self, row) -> bool:
        return row.synthetic

    def bounds(self, row) -> tuple[float, float, float, float]:
        return row.patch.footprint.extent

    def geometry(self, row) -> dict:
        return json.loads(row.patch.footprint.geojson)

    def label(self, row) -> str:
        return f"map {row.pk} ({row.patch})"

    def properties(self, row) -> dict:
        model = self.model_name(row)
        return {"hrmars:source": row.source, "hrmars:model": model or "MODIS", "hrmars:synthetic": row.synthetic,
                "title": f"{row.patch} — {model or 'MODIS'}"}

    def about(self, row) -> dict:
        return {"patch": row.patch_id, "resolution": "low" if row.source == LandCoverMap.Source.MODIS else "high"}

    def download_name(self, row, name: str) -> str:
        what = self.model_name(row) or "modis"
        return f"hrmars-patch{row.patch_id}-{what}-{row.pk}{products.download_suffix(name)}"


MAP_JOB = lifecycle.queued_kind(
    "map", "landcover.compute_map", LandCoverMap, build, staging=lambda m: MAP_PRODUCT.root() / ".tmp",
    destination=lambda m: MAP_PRODUCT.folder(m), related=("patch__dataset", "model_version"), cancellable=False,
    idle_result="done-or-missing")  # a public map somebody else may be waiting for is not cancelled
MAP_PRODUCT: MapProduct = products.register(MapProduct(MAP_JOB))

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
    return lifecycle.find_or_queue(MAP_JOB, key, {}, settings.MAP_STALE_SECONDS, before_new)


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
