"""Running a registered model inside a job: loaded models are kept (a few, keyed by folder and card
time) so consecutive jobs skip the load, and one function maps an image into a job's work folder."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ml.modelio import Predictor, load_model
from ml.outputs import preview_png
from ml.predict import predict_scene

from ..models import ModelVersion
from .lifecycle import Progress


@lru_cache(maxsize=4)
def _predictor(path: str, card_mtime: float) -> Predictor:
    return load_model(Path(path))


def predictor_for(version: ModelVersion) -> Predictor:
    """The loaded model of a registered version (reloaded when its card changes)."""
    card = Path(version.path) / "model.json"
    return _predictor(version.path, card.stat().st_mtime if card.exists() else 0.0)


def map_image(source: Path, work: Path, predictor: Predictor, progress: Progress) -> list[dict]:
    """map.tif (COG) and preview.png of `source` in `work`; returns the per-class statistics."""
    result = predict_scene(source, work / "map.tif", predictor, progress=progress)
    preview_png(work / "map.tif", work / "preview.png")
    return result.statistics
