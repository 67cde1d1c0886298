"""Running a registered model inside a job, and what its stored results hold beyond the map.

Loaded models are kept warm in the worker (an LRU of four, keyed by folder, card time and engine) so
consecutive jobs skip the load; each runs on the engine its registration names (float32, int8, bf16 or
the card's default). One function maps an image into a job's work folder: the class COG, its preview, the
class probabilities COG (one band per model class ×255, then the top-1 confidence) and a
histogram of confidence per class, from which the statistics at any `min_confidence` are
computed without reading the map again. Catalogue maps and uploads store the same files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from ml.levels import file_level, fit_to_level
from ml.modelio import Predictor, load_model
from ml.outputs import preview_png
from ml.predict import predict_scene
from ml.stats import statistics_at_confidence

from .. import storage
from ..errors import NotFound
from ..models import ModelVersion
from .lifecycle import Progress

PROBABILITIES = "probabilities.tif"
CONFIDENCE = "confidence.json"
CONFIDENCE_COG = "confidence.tif"  # the top-1 confidence alone: its tiles cost one band at any zoom


@lru_cache(maxsize=4)
def _predictor(path: str, card_mtime: float, engine: str) -> Predictor:
    return load_model(Path(path), engine)


def _warm(folder: Path, engine: str) -> Predictor:
    card = folder / "model.json"
    return _predictor(str(folder), card.stat().st_mtime if card.exists() else 0.0, engine)


def predictor_for(version: ModelVersion) -> Predictor:
    """The loaded model of a registered version on its engine (reloaded when its card changes)."""
    return _warm(Path(version.path), version.engine)


@dataclass
class Mapped:
    """What mapping an image gives a job: per-class statistics, and warnings to show with the map."""
    statistics: list[dict]
    warnings: list[str]


def map_image(source: Path, work: Path, predictor: Predictor, progress: Progress, window: Window | None = None,
              keep: np.ndarray | None = None, level: str | None = None) -> Mapped:
    """map.tif (COG), preview.png, probabilities.tif and confidence.tif (COGs) and confidence.json of `source` in
    `work`. With `window` and `keep`, the whole source is the model's context and only the window's `keep` pixels
    are mapped (an area read with a margin: `ml.predict.predict_scene`). An image of another processing level than
    the model's is mapped with a warning, on float32 where the engine was not measured on that level
    (`ml.levels`); `level`: the level when known otherwise (an upload's file name), else read from `source`."""
    predictor, warnings = fit_to_level(predictor, level or file_level(source), lambda engine: _warm(predictor.folder, engine))
    result = predict_scene(source, work / "map.tif", predictor, probabilities=work / PROBABILITIES,
                           confidence=work / CONFIDENCE_COG, window=window, keep=keep, progress=progress)
    preview_png(work / "map.tif", work / "preview.png")
    (work / CONFIDENCE).write_text(json.dumps(result.confidence, separators=(",", ":")))
    return Mapped(result.statistics, warnings)


def confident_statistics(folder: Path, rows: list[dict], min_confidence: float) -> tuple[list[dict], dict]:
    """The stored map's statistics (`rows`: its classes) counting only pixels at least `min_confidence` sure,
    and the rest as 'uncertain'; NotFound when the map has no per-pixel confidence (a MODIS map, or one
    stored before confidence was)."""
    path = folder / CONFIDENCE
    if not storage.exists(path):
        raise NotFound("This map has no per-pixel confidence (MODIS maps never do, and maps computed before "
                       "probabilities were stored have none until recomputed); ask without min_confidence.")
    scheme = {r["code"]: (r["name"], r["colour"]) for r in rows if "name" in r and "colour" in r}
    return statistics_at_confidence(json.loads(storage.read_bytes(path)), min_confidence, [r["code"] for r in rows],
                                    scheme or None)
