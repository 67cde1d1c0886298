"""Period composites: the maps of every dated scene of one place over a period, combined pixel by pixel.

One scene is rarely enough: clouds hide part of it, and one day's classes flicker (a field just ploughed, a meadow
flooded for a week). Dynamic World's users composite a period instead, two ways, both offered here:

- **mode**: the class seen most often among the scenes that saw the pixel clear — each scene's own label, from its
  map — (a tie goes to the class with the higher mean probability, then to the lower class code);
- **mean**: the most probable class of the mean of the scenes' class probabilities.

Both read the same inputs — each scene's map and probabilities COG on one grid (one band per model class, ×255,
the confidence last; its mask says where the scene saw the pixel clear) — and write the same files: map.tif,
probabilities.tif (the mean probabilities, and the chosen class's as confidence), confidence.tif, and
observations.tif, the number of clear observations of each pixel (a quality band: a pixel seen once is less sure
than one seen twenty times; 0 where no scene saw it). Memory: one strip of rows of every scene at a time.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from .errors import PermanentError
from .modelio import Predictor
from .outputs import GDAL_ENV, write_cog
from .predict import MapWriter, OutputGrid

METHODS = ("mode", "mean")
OBSERVATIONS = "observations.tif"


class CompositeError(PermanentError):
    """The scenes cannot be combined (none, or not on one grid); the message says why."""


@dataclass(frozen=True)
class CompositeResult:
    """What a composite holds: per-class statistics, the confidence histogram, and how many pixels were seen
    clear how many times (`observations`: count → pixels)."""

    statistics: list[dict]
    confidence: dict
    observations: dict[int, int]
    valid_pixels: int
    scenes: int


def combine(scenes: Sequence[tuple[str | Path, str | Path]], out_dir: Path, predictor: Predictor,
            method: str = "mode", *, dates: Sequence[str] = (), strip_rows: int = 256,
            progress: Callable[[int, int], None] | None = None) -> CompositeResult:
    """Combine the scenes — (map, probabilities) COGs on one grid — into map.tif, probabilities.tif,
    confidence.tif and observations.tif in `out_dir` by `method` (mode or mean); `dates`: when the scenes were
    taken (ISO), written in the map's tags (ACQUISITION_DATES, ACQUISITION_START, ACQUISITION_END)."""
    if method not in METHODS:
        raise CompositeError(f"method {method!r}: one of {', '.join(METHODS)}")
    if not scenes:
        raise CompositeError("no scene to combine")
    n = len(predictor.class_codes)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(**GDAL_ENV))
        labels = [stack.enter_context(rasterio.open(m)) for m, _ in scenes]
        opened = [stack.enter_context(rasterio.open(p)) for _, p in scenes]
        first = opened[0]
        for src in [*labels, *opened]:
            if (src.crs, src.transform, src.width, src.height) != (first.crs, first.transform, first.width,
                                                                    first.height):
                raise CompositeError(f"{Path(src.name).name} is not on the grid of {Path(first.name).name}")
            if src in opened and src.count != n + 1:
                raise CompositeError(f"{Path(src.name).name} has {src.count} bands, not this model's {n} classes "
                                     "and the confidence")
        grid = OutputGrid(first.crs, first.transform, first.width, first.height)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".composite-", dir=out_dir)))
        writer = MapWriter(tmp / "classes.tif", grid, f"composite of {len(scenes)} scenes ({method})", predictor,
                           tmp / "probabilities.tif", tmp / "confidence.tif")
        known = sorted(d for d in dates if d)
        writer.out.update_tags(COMPOSITE_METHOD=method, SCENES=str(len(scenes)), **({
            "ACQUISITION_DATES": ",".join(known), "ACQUISITION_START": known[0], "ACQUISITION_END": known[-1]}
            if known else {}))
        observations = stack.enter_context(rasterio.open(
            tmp / OBSERVATIONS, "w", driver="GTiff", width=grid.width, height=grid.height, count=1, dtype="uint16",
            crs=grid.crs, transform=grid.transform, tiled=True, blockxsize=256, blockysize=256, compress="deflate"))
        observations.set_band_description(1, "clear observations (scenes that saw the pixel clear)")
        observations.update_tags(METHOD=method, SCENES=str(len(scenes)))
        seen = np.zeros(len(scenes) + 1, np.int64)
        strips = range(0, grid.height, strip_rows)
        for k, y in enumerate(strips):
            window = Window(0, y, grid.width, min(strip_rows, grid.height - y))
            mean, count, top = _strip(labels, opened, window, predictor.class_codes, method)
            writer.write(y, mean, count > 0, top)
            observations.write(count[None], window=window)
            seen += np.bincount(count.ravel(), minlength=len(seen))
            if progress:
                progress(k + 1, len(strips))
        writer.close()
        observations.close()
        write_cog(tmp / "classes.tif", out_dir / "map.tif")
        write_cog(tmp / "probabilities.tif", out_dir / "probabilities.tif", nodata=None, resampling="average",
                  mask=True)
        write_cog(tmp / "confidence.tif", out_dir / "confidence.tif", nodata=0, resampling="average")
        write_cog(tmp / OBSERVATIONS, out_dir / OBSERVATIONS, nodata=None, resampling="average")
    classes = sorted({int(code) for code in predictor.class_codes})
    return CompositeResult(writer.areas.table(classes, predictor.scheme), writer.confidence.to_dict(),
                           {k: int(v) for k, v in enumerate(seen) if v}, writer.areas.valid_pixels, len(scenes))


def _strip(labels: Sequence, opened: Sequence, window: Window, codes: np.ndarray,
           method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One strip of every scene combined: the mean probabilities (rows, width, bands), the clear observations per
    pixel, and for the mode the chosen model band per pixel (None for the mean: its argmax)."""
    n = len(codes)
    rows, width = int(window.height), int(window.width)
    total = np.zeros((rows, width, n), np.float32)
    count = np.zeros((rows, width), np.uint16)
    classes = sorted({int(c) for c in codes})
    index = np.full(256, -1, np.int64)
    index[classes] = np.arange(len(classes))
    votes = np.zeros((rows, width, len(classes)), np.uint16) if method == "mode" else None
    for label_src, src in zip(labels, opened):
        clear = src.read_masks(1, window=window) > 0
        p = np.moveaxis(src.read(list(range(1, n + 1)), window=window), 0, -1).astype(np.float32) / 255
        total[clear] += p[clear]
        count += clear
        if votes is not None:
            seen = index[label_src.read(1, window=window)]
            r, c = np.nonzero(clear & (seen >= 0))
            votes[r, c, seen[r, c]] += 1
    mean = total / np.maximum(count, 1)[..., None]
    if votes is None:
        return mean, count, None
    # The most votes; among equal votes the class of higher mean probability (half a probability is under one vote,
    # so it only breaks ties; argmax takes the lower code of an exact tie). Then that class's likeliest band.
    of_class = np.stack([codes == k for k in classes], axis=1)  # band × class
    chosen = (votes + (mean @ of_class.astype(np.float32)) * 0.5).argmax(axis=-1)
    return mean, count, np.where(of_class[:, chosen].transpose(1, 2, 0), mean, -1.0).argmax(axis=-1)
