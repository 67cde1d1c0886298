"""Scene inference: a land-cover COG and per-class statistics for a Sentinel-2 GeoTIFF of any size.

    python -m ml.predict IN.tif OUT.tif --model MODEL_DIR [--probabilities PROBS.tif]

IN.tif is a Sentinel-2 GeoTIFF, or for a CGAN model (which refines coarse maps) a MODIS
land-cover file (IGBP in band 1, like SEN12MS's lc files).

How: the scene is cut into overlapping tiles of the model's scene tile size (default
overlap: the model card's scene_overlap, else an eighth of a tile; the tiles are
spread evenly and the last of a row or column ends at the edge, so every tile is
full size). Each tile's class probabilities are weighted by a window that is 1 in the
middle and falls linearly to ~0 across the overlap, summed, and divided by the sum
of weights: no seams, and where one tile alone covers a pixel the result is
exactly that tile's prediction. Tiles go to the model in batches. Only one row of
tiles is held at a time, so memory grows with the scene's width (one strip a tile
high), not its area; the next strip is read and decompressed by a second thread
while the model runs on this one. Rows are written to a tiled temporary GeoTIFF
as soon as no later tile touches them, then rio-cogeo turns it into a COG: uint8 DFC
codes, nodata 0, colour table, class names in the metadata, mode-resampled
overviews, and the input CRS and transform unchanged. Pixels where every input band
is 0 (or the input's nodata) stay nodata.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.io import DatasetReader
from rasterio.transform import Affine
from rasterio.windows import Window

from .bands import BandError, band_indexes, file_band_names
from .classes import NODATA
from .errors import PermanentError
from .levels import file_level, fit_to_level
from .modelio import Predictor, load_model
from .outputs import GDAL_ENV, class_profile, open_class_geotiff, write_cog
from .rasterio_io import DataError, open_geotiff, reflectance_scale
from .runtime import add_engine_argument
from .stats import ClassAreas, ConfidenceHistogram


class SceneError(PermanentError):
    """The input scene cannot be mapped; the message says why, for a person to act on."""


@dataclass
class SceneResult:
    """What mapping a scene produced: the COG, its size and CRS, statistics and timing."""
    output: Path
    width: int
    height: int
    crs: str
    statistics: list[dict]
    valid_pixels: int
    tiles: int
    seconds: float
    probabilities: Path | None = None
    confidence: dict = field(default_factory=dict)  # ConfidenceHistogram.to_dict(): statistics at any threshold
    extra: dict = field(default_factory=dict)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Starts of tiles of size `tile` covering [0, length), at most `stride` apart and evenly spread: the
    first at 0, the last ending at the edge, every overlap at least tile − stride (none much larger)."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """1-D weights: linear ramps over the overlap at both ends, 1 in between, never 0."""
    w = np.ones(tile, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        w[:overlap] = ramp
        w[-overlap:] = ramp[::-1]
    return np.maximum(w, 1e-3)


def validate_scene(src: DatasetReader, predictor: Predictor, name: str) -> list[int]:
    """Band indexes the model needs, or a SceneError saying what is wrong with the file."""
    if src.crs is None:
        raise SceneError(f"{name}: has no coordinate reference system (CRS); georeference it first")
    if src.transform.is_identity:
        raise SceneError(f"{name}: has no georeferencing transform")
    if src.dtypes[0] not in ("uint16", "int16", "uint8", "float32", "int32", "uint32", "float64"):
        raise SceneError(f"{name}: data type {src.dtypes[0]} is not supported")
    if predictor.input_kind == "coarse":
        if src.dtypes[0] != "uint8":
            raise SceneError(f"{name}: this {predictor.method} model refines a coarse land-cover map (MODIS IGBP "
                             f"codes in band 1, uint8, like SEN12MS lc files), not a {src.dtypes[0]} image")
        return [1]
    try:
        return band_indexes(file_band_names(src.descriptions, src.count, name), predictor.bands, name)
    except BandError as exc:
        raise SceneError(str(exc)) from exc


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of a scene go: full-size tiles, overlapping, the last of each row and column at the edge."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    rows: list[int]
    cols: list[int]
    weight: np.ndarray  # (tile_h, tile_w) blending weights

    @property
    def tiles(self) -> int:
        """How many tiles the scene is cut into."""
        return len(self.rows) * len(self.cols)

    def flush_to(self, k: int) -> int:
        """The first scene row that a tile after strip k still touches: rows above it are final."""
        return self.rows[k + 1] if k + 1 < len(self.rows) else self.height


def plan_tiles(height: int, width: int, tile: int, size_multiple: int, overlap: int | None = None) -> TilePlan:
    """Tiles of the model's input size (smaller for a small scene, kept a multiple of `size_multiple`)."""
    tile_h = min(tile, math.ceil(height / size_multiple) * size_multiple)
    tile_w = min(tile, math.ceil(width / size_multiple) * size_multiple)
    ov = tile // 8 if overlap is None else overlap
    ov_h, ov_w = min(ov, tile_h // 2), min(ov, tile_w // 2)
    return TilePlan(height, width, tile_h, tile_w, tile_starts(height, tile_h, tile_h - ov_h),
                    tile_starts(width, tile_w, tile_w - ov_w),
                    np.outer(blend_window(tile_h, ov_h), blend_window(tile_w, ov_w)))


class StripAccumulator:
    """Weighted class probabilities of the scene rows not written yet (row 0 = the current strip's first row)."""

    def __init__(self, plan: TilePlan, n_classes: int) -> None:
        """Buffers one tile high and the scene wide: memory grows with the width, not the area."""
        self.plan = plan
        self.prob_sum = np.zeros((plan.tile_h, plan.width, n_classes), np.float32)
        self.weight_sum = np.zeros((plan.tile_h, plan.width), np.float32)
        self.valid = np.zeros((plan.tile_h, plan.width), bool)

    def add(self, x: int, probabilities: np.ndarray, rows: int) -> None:
        """Blend one tile's (tile_h, tile_w, classes) probabilities in at column x; `rows` of it are real (the
        tile's array is weighted in place: it is the model's output, used once)."""
        weight = self.plan.weight
        cols = min(x + self.plan.tile_w, self.plan.width) - x
        if not probabilities.flags.writeable:  # an engine may hand out a read-only view of its own buffer
            probabilities = probabilities.copy()
        weighted = np.multiply(probabilities[:rows, :cols], weight[:rows, :cols, None],
                               out=probabilities[:rows, :cols])
        self.prob_sum[:rows, x:x + cols] += weighted
        self.weight_sum[:rows, x:x + cols] += weight[:rows, :cols]

    def take(self, n: int, chunk: int = 64) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """The first n rows, finished, `chunk` rows at a time: (row offset, probabilities normalised by their
        weights, valid); then the buffers shift up. Chunks keep the temporaries of a wide scene small (a whole
        512-row strip of a 10,980-px scene is 200 MB per float copy)."""
        for c in range(0, n, chunk):
            e = min(n, c + chunk)
            yield c, self.prob_sum[c:e] / np.maximum(self.weight_sum[c:e, :, None], 1e-6), self.valid[c:e]
        tile_h = self.plan.tile_h
        for arr in (self.prob_sum, self.weight_sum, self.valid):
            arr[:tile_h - n] = arr[n:].copy() if n < tile_h else arr[:0]
            arr[max(tile_h - n, 0):] = 0


def read_strip(src: DatasetReader, indexes: list[int], y: int, plan: TilePlan,
               scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rows y… of the bands as DNs (× `scale`), (tile_h, ≥tile_w, bands), padded by reflection where the scene is
    smaller than a tile; and which of the real pixels hold data: not 0 or nodata in every band, and finite in
    every band (NaN is nodata, never a class). A pixel that cannot be read is a SceneError: the file is damaged."""
    rows = min(plan.tile_h, plan.height - y)
    try:
        strip = np.moveaxis(src.read(indexes, window=Window(0, y, plan.width, rows)), 0, -1)
    except rasterio.errors.RasterioError as exc:
        raise SceneError(f"{Path(src.name).name}: the pixels of rows {y}–{y + rows - 1} cannot be read; the file is "
                         f"damaged or truncated ({str(exc).splitlines()[0].replace(src.name, Path(src.name).name)})"
                         ) from None
    invalid = np.all(strip == 0, axis=-1)
    if src.nodata is not None and not np.isnan(src.nodata):
        invalid |= np.all(strip == src.nodata, axis=-1)
    if np.issubdtype(strip.dtype, np.floating):
        finite = np.isfinite(strip)
        invalid |= ~np.all(finite, axis=-1)
        strip = np.where(finite, strip * scale, 0).astype(np.float32)
    if rows < plan.tile_h:
        strip = np.pad(strip, ((0, plan.tile_h - rows), (0, 0), (0, 0)), mode="reflect")
    if plan.width < plan.tile_w:
        strip = np.pad(strip, ((0, 0), (0, plan.tile_w - plan.width), (0, 0)), mode="reflect")
    return strip, ~invalid


def infer_strip(strip: np.ndarray, rows: int, plan: TilePlan, predictor: Predictor, acc: StripAccumulator, *,
                batch_size: int, dn_offset: float | None, on_batch: Callable[[int], None]) -> None:
    """Run the model on every tile of one strip, in batches, blending the results into `acc`. A last, shorter
    batch is padded (with copies of its last tile) for models whose engine builds a graph per input shape,
    so a row of 9 tiles costs two forward passes of 8 and not a second graph for a batch of 1."""
    for b in range(0, len(plan.cols), batch_size):
        batch_cols = plan.cols[b:b + batch_size]
        tiles = np.stack([strip[:, x:x + plan.tile_w] for x in batch_cols])
        if predictor.fixed_batch and len(batch_cols) < batch_size and len(plan.cols) > batch_size:
            tiles = np.concatenate([tiles, np.repeat(tiles[-1:], batch_size - len(batch_cols), axis=0)])
        probabilities = predictor.predict_proba(predictor.prepare(tiles, dn_offset))
        for x, p in zip(batch_cols, probabilities[:len(batch_cols)]):
            acc.add(x, p, rows)
        on_batch(len(batch_cols))


@dataclass(frozen=True)
class OutputGrid:
    """The grid the outputs are written on: the input's, or a window of it (an area inside its margin)."""

    crs: CRS
    transform: Affine
    width: int
    height: int


class MapWriter:
    """Finished rows → a land-cover GeoTIFF of simplified-IGBP codes (and optionally the class probabilities,
    one band per model class ×255 plus the top-1 confidence), counted as written."""

    def __init__(self, path: Path, src: DatasetReader | OutputGrid, source: str, predictor: Predictor,
                 probabilities: Path | None = None, confidence: Path | None = None) -> None:
        """Open the outputs on the grid of `src`; rows arrive top to bottom. `confidence`: the top-1 confidence
        alone as well (one band, 0 = nodata: a valid pixel's is at least 1/classes), for cheap tiles at any
        zoom — a tile of one band of the many-band probabilities file reads every band."""
        self.areas = ClassAreas(src)
        self.confidence = ConfidenceHistogram(src)
        self.codes = predictor.class_codes
        self.names = predictor.class_names
        card = predictor.card
        self.scheme = predictor.scheme
        legend = predictor.legend
        scheme_name = f"own legend: {legend.get('name', '')}" if legend else None
        self.out = open_class_geotiff(path, src.crs, src.transform, src.width, src.height, source,
                                      card.get("name") or card.get("method", ""),
                                      scheme=self.scheme if legend else None, scheme_name=scheme_name)
        self.out.update_tags(ENGINE=predictor.engine, **{key.upper(): str(card[key]) for key in
                                                           ("licence", "citation", "attribution") if card.get(key)})
        self.confidence_out = None
        if confidence is not None:
            self.confidence_out = rasterio.open(confidence, "w", **{
                **class_profile(src.crs, src.transform, src.width, src.height), "nodata": 0, "tiled": True,
                "photometric": "MINISBLACK"})
            self.confidence_out.set_band_description(1, "confidence (top-1 probability) x 255")
        self.probabilities = None
        if probabilities is not None:
            self.probabilities = rasterio.open(probabilities, "w", **{
                **class_profile(src.crs, src.transform, src.width, src.height), "count": len(self.codes) + 1,
                "nodata": None, "tiled": True, "photometric": "MINISBLACK",
                # GDAL's multi-threaded GTiff writer garbles the ExtraSamples tag of a many-band file with a mask
                "num_threads": 1})
            self.probabilities.update_tags(SOURCE=source, MODEL=card.get("name") or card.get("method", ""),
                                           **{f"CLASS_{i}": f"{name} → {self._code(code)}"
                                              for i, (name, code) in enumerate(zip(self.names, self.codes),
                                                                               start=1)})

    def _code(self, code: int) -> str:
        return f"{self.scheme.get(int(code), (str(code), ''))[0]} ({int(code)})"

    def write(self, y: int, probabilities: np.ndarray, valid: np.ndarray, top: np.ndarray | None = None) -> None:
        """Rows y… : the most probable class where the input holds data, nodata elsewhere. `top`: the model class
        of each pixel when another rule chooses it (a composite's mode), its confidence that class's probability."""
        n, width = valid.shape
        top = probabilities.argmax(axis=-1) if top is None else top
        classes = self.codes[top]
        classes[~valid] = NODATA
        self.out.write(classes[None], window=Window(0, y, width, n))
        confidence = np.take_along_axis(probabilities, top[..., None], axis=-1)[..., 0]
        confidence8 = np.where(valid, np.round(np.clip(confidence, 0, 1) * 255), 0).astype(np.uint8)
        if self.probabilities is not None:
            p = np.where(valid[..., None], np.round(np.clip(probabilities, 0, 1) * 255), 0).astype(np.uint8)
            window = Window(0, y, width, n)
            self.probabilities.write(np.concatenate([np.moveaxis(p, -1, 0), confidence8[None]]), window=window)
            self.probabilities.write_mask(np.where(valid, 255, 0).astype(np.uint8), window=window)
        if self.confidence_out is not None:
            self.confidence_out.write(np.where(valid, np.maximum(confidence8, 1), 0)[None], window=Window(0, y, width, n))
        self.areas.add(classes, y)
        self.confidence.add(classes, confidence8, y)

    def close(self) -> None:
        """Finish the files (the class GeoTIFF is turned into a COG by the caller)."""
        self.out.close()
        if self.confidence_out is not None:
            self.confidence_out.close()
        if self.probabilities is not None:
            for i, (name, code) in enumerate(zip(self.names, self.codes), start=1):
                self.probabilities.set_band_description(i, f"P({name} → {self._code(code)}) x 255")
            self.probabilities.set_band_description(len(self.codes) + 1, "confidence (top-1 probability) x 255")
            self.probabilities.close()


def predict_scene(src_path: Path, dst_path: Path, predictor: Predictor, *, overlap: int | None = None,
                  batch_size: int | None = None, tile: int | None = None, dn_offset: float | None = None,
                  probabilities: Path | None = None, confidence: Path | None = None, window: Window | None = None,
                  keep: np.ndarray | None = None, progress: Callable[[int, int], None] | None = None) -> SceneResult:
    """Map a scene: plan tiles, infer one strip at a time, write each row once no later tile touches it.
    `batch_size`: tiles per forward pass (default: the model card's, which says what fits in memory, scaled
    to the same pixels per pass when `tile` differs from the card's input size); `tile`: the tile side for a
    fully convolutional network (default: the predictor's scene tile). `probabilities` and `confidence`: COGs
    of the class probabilities and of the top-1 confidence alone. With `window`, the whole scene is the
    model's context but only that window of it is written and counted (an area read with a margin around it);
    `keep` (a boolean array of the window's shape) says which of its pixels to map, the rest being nodata."""
    tile = tile or predictor.scene_tile
    if tile != predictor.input_size and (predictor.method == "bagofcolours" or tile % predictor.size_multiple):
        raise SceneError(f"tile {tile}: this {predictor.method} model takes tiles of {predictor.input_size} px, or "
                         f"any multiple of {predictor.size_multiple} for a convolutional network")
    batch_size = batch_size or max(1, round(predictor.batch_size * (predictor.input_size / tile) ** 2))
    started = time.perf_counter()
    src_path, dst_path = Path(src_path), Path(dst_path)
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(**GDAL_ENV))
        try:
            src = stack.enter_context(open_geotiff(src_path))
        except DataError as exc:
            raise SceneError(str(exc)) from None
        indexes = validate_scene(src, predictor, src_path.name)
        window = window or Window(0, 0, src.width, src.height)
        col0, row0, out_w, out_h = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
        if col0 < 0 or row0 < 0 or col0 + out_w > src.width or row0 + out_h > src.height:
            raise SceneError(f"the window {window} is not inside the {src.width} × {src.height} scene")
        if keep is not None and keep.shape != (out_h, out_w):
            raise SceneError(f"the mask to keep is {keep.shape[1]} × {keep.shape[0]}, the window {out_w} × {out_h}")
        out = OutputGrid(src.crs, src.window_transform(window), out_w, out_h)
        scale = reflectance_scale(src) if predictor.input_kind == "image" else 1.0
        plan = plan_tiles(src.height, src.width, tile, predictor.size_multiple,
                          predictor.scene_overlap if overlap is None else overlap)
        acc = StripAccumulator(plan, len(predictor.class_codes))
        done = 0

        def on_batch(tiles: int) -> None:
            nonlocal done
            done += tiles
            if progress:
                progress(done, plan.tiles)

        staging = dst_path.parent if dst_path.parent.exists() else None
        with tempfile.TemporaryDirectory(prefix=".predict-", dir=staging) as tmp_dir:
            tmp_path = Path(tmp_dir) / "classes.tif"
            probabilities_tmp = Path(tmp_dir) / "probabilities.tif"
            confidence_tmp = Path(tmp_dir) / "confidence.tif"
            writer = MapWriter(tmp_path, out, src_path.name, predictor,
                               probabilities_tmp if probabilities is not None else None,
                               confidence_tmp if confidence is not None else None)
            # One strip ahead: GDAL decompresses the next strip (releasing the GIL) while the model runs.
            reader = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="hrmars-read"))
            ahead = reader.submit(read_strip, src, indexes, plan.rows[0], plan, scale)
            for k, y in enumerate(plan.rows):
                strip, valid = ahead.result()
                if k + 1 < len(plan.rows):
                    ahead = reader.submit(read_strip, src, indexes, plan.rows[k + 1], plan, scale)
                rows = valid.shape[0]
                acc.valid[:rows] |= valid
                infer_strip(strip, rows, plan, predictor, acc, batch_size=batch_size, dn_offset=dn_offset,
                            on_batch=on_batch)
                for offset, finished, finished_valid in acc.take(plan.flush_to(k) - y):
                    first = y + offset  # the scene's row of finished[0]
                    top, bottom = max(first, row0), min(first + finished_valid.shape[0], row0 + out_h)
                    if bottom <= top:
                        continue
                    rows, cols = slice(top - first, bottom - first), slice(col0, col0 + out_w)
                    valid = finished_valid[rows, cols]
                    if keep is not None:
                        valid = valid & keep[top - row0:bottom - row0]
                    writer.write(top - row0, finished[rows, cols], valid)
            writer.close()
            write_cog(tmp_path, dst_path)
            if probabilities is not None:
                write_cog(probabilities_tmp, probabilities, nodata=None, resampling="average", mask=True)
            if confidence is not None:
                write_cog(confidence_tmp, confidence, nodata=0, resampling="average")
        crs = src.crs.to_string()
    classes = sorted({int(code) for code in predictor.class_codes})
    return SceneResult(dst_path, out_w, out_h, crs, writer.areas.table(classes, predictor.scheme), writer.areas.valid_pixels,
                       plan.tiles, time.perf_counter() - started, probabilities, writer.confidence.to_dict())


def write_statistics(result: SceneResult, path: Path) -> None:
    """The statistics of a mapped scene as JSON."""
    payload = {"source": str(result.output), "width": result.width, "height": result.height, "crs": result.crs,
               "valid_pixels": result.valid_pixels, "classes": result.statistics}
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def format_statistics(rows: list[dict]) -> str:
    """The statistics as a plain-text table."""
    lines = [f"{'class':<16}{'pixels':>14}{'share %':>10}{'area km²':>14}"]
    for r in rows:
        lines.append(f"{r['name']:<16}{r['pixels']:>14,}{r['percent']:>10.2f}{r['area_km2']:>14.4f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: map one scene."""
    parser = argparse.ArgumentParser(prog="python -m ml.predict", description="Land cover for a Sentinel-2 GeoTIFF.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path, help="the land-cover COG to write")
    parser.add_argument("--model", type=Path, required=True, help="a model folder (model.json + weights)")
    parser.add_argument("--overlap", type=int, default=None,
                        help="tile overlap in pixels (default: the model card's scene_overlap, else an eighth of a tile)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="tiles per forward pass (default: the model card's params.batch_size, else 8, scaled "
                             "to the same pixels per pass for another --tile)")
    parser.add_argument("--tile", type=int, default=None,
                        help="tile side in pixels for a convolutional network (default: the card's scene_tile, else "
                             "512 for our U-Nets and GAN generators, else the input size; a multiple of its size "
                             "multiple): larger tiles recompute fewer overlapping pixels")
    parser.add_argument("--dn-offset", type=float, default=None,
                        help="added to DNs before /10000: -1000 for L2A of processing baseline 04.00 or later")
    parser.add_argument("--probabilities", type=Path,
                        help="also write class probabilities (one band per model class, ×255) and the top-1 "
                             "confidence (last band)")
    parser.add_argument("--stats-json", type=Path, help="write the statistics as JSON here")
    add_engine_argument(parser)
    args = parser.parse_args(argv)
    from tqdm import tqdm

    try:
        predictor, warnings = fit_to_level(load_model(args.model, args.engine), file_level(args.input),
                                           lambda engine: load_model(args.model, engine))
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        bar = tqdm(total=None, unit="tile", desc="predicting", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = predict_scene(args.input, args.output, predictor, overlap=args.overlap, batch_size=args.batch_size,
                               tile=args.tile,
                               dn_offset=args.dn_offset, probabilities=args.probabilities, progress=progress)
        bar.close()
    except (SceneError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_statistics(result.statistics))
    print(f"{result.width}×{result.height} px, {result.tiles} tiles in {result.seconds:.1f} s → {result.output}")
    if args.stats_json:
        write_statistics(result, args.stats_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
