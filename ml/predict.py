"""Scene inference: a land-cover COG and per-class statistics for a Sentinel-2 GeoTIFF of any size.

    python -m ml.predict IN.tif OUT.tif --model MODEL_DIR [--probabilities PROBS.tif]

IN.tif is a Sentinel-2 GeoTIFF, or for a CGAN model (which refines coarse maps) a MODIS
land-cover file (IGBP in band 1, like SEN12MS's lc files).

How: the scene is cut into overlapping tiles of the model's input size (default
overlap: an eighth of a tile, 32 px for 256-px tiles; each pixel is then computed
(256/224)² ≈ 1.31 times on average) (the last
tile of a row or column is moved back to end at the edge, so every tile is full
size). Each tile's class probabilities are weighted by a window that is 1 in the
middle and falls linearly to ~0 across the overlap, summed, and divided by the sum
of weights: no seams, and where one tile alone covers a pixel the result is
exactly that tile's prediction. Tiles go to the model in batches. Only one row of
tiles is held at a time, so memory grows with the scene's width (a 256-row strip),
not its area. Rows are written to a striped temporary GeoTIFF as soon as no later
tile touches them, then rio-cogeo turns it into a COG: uint8 DFC codes, nodata 0,
colour table, class names in the metadata, mode-resampled overviews, and the input
CRS and transform unchanged. Pixels where every input band is 0 (or the input's
nodata) stay nodata.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from .bands import BandError, band_indexes, file_band_names
from .classes import DFC_COLOURS, DFC_NAMES, MODEL_CLASSES, NODATA, colormap, index_to_dfc
from .modelio import Predictor, load_model
from .rasterio_io import DataError

GDAL_ENV = {"GDAL_CACHEMAX": 128, "GDAL_NUM_THREADS": "ALL_CPUS"}  # MB; keeps GDAL's block cache small


class SceneError(ValueError):
    """The input scene cannot be mapped; the message says why, for a person to act on."""


@dataclass
class SceneResult:
    output: Path
    width: int
    height: int
    crs: str
    statistics: list[dict]
    valid_pixels: int
    tiles: int
    seconds: float
    probabilities: Path | None = None
    extra: dict = field(default_factory=dict)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Starts of tiles of size `tile` covering [0, length); the last one ends at the edge."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """1-D weights: linear ramps over the overlap at both ends, 1 in between, never 0."""
    w = np.ones(tile, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        w[:overlap] = ramp
        w[-overlap:] = ramp[::-1]
    return np.maximum(w, 1e-3)


def pixel_areas_km2(src, row0: int, rows: int) -> np.ndarray:
    """Area of one pixel in each of `rows` rows, km²: exact for projected CRSs, spherical for geographic."""
    t = src.transform
    if src.crs.is_projected:
        factor = src.crs.linear_units_factor[1]
        return np.full(rows, abs(t.a * t.e) * factor**2 / 1e6)
    r = 6371.0088  # km, mean Earth radius
    top = t.f + t.e * np.arange(row0, row0 + rows)
    bottom = top + t.e
    band = np.abs(np.sin(np.radians(top)) - np.sin(np.radians(bottom)))
    return r * r * np.radians(abs(t.a)) * band


def statistics_table(counts: np.ndarray, area_km2: np.ndarray, classes=MODEL_CLASSES) -> list[dict]:
    """Per DFC class: pixels, share of valid pixels (%), area (km²)."""
    total = counts.sum()
    rows = []
    for code in classes:
        rows.append({"code": code, "name": DFC_NAMES[code], "colour": DFC_COLOURS[code], "pixels": int(counts[code]),
                     "percent": round(float(100.0 * counts[code] / total), 4) if total else 0.0,
                     "area_km2": round(float(area_km2[code]), 6)})
    return rows


def validate_scene(src, predictor: Predictor, name: str) -> list[int]:
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


def predict_scene(src_path: Path, dst_path: Path, predictor: Predictor, *, overlap: int | None = None,
                  batch_size: int = 8, dn_offset: float | None = None, probabilities: Path | None = None,
                  progress: Callable[[int, int], None] | None = None) -> SceneResult:
    started = time.perf_counter()
    src_path, dst_path = Path(src_path), Path(dst_path)
    with rasterio.Env(**GDAL_ENV):
        try:
            src = rasterio.open(src_path)
        except rasterio.errors.RasterioError as exc:
            raise SceneError(f"{src_path}: cannot be read as a GeoTIFF ({exc})") from exc
        with src:
            indexes = validate_scene(src, predictor, str(src_path))
            H, W = src.height, src.width
            mult = predictor.size_multiple
            tile = predictor.input_size
            tile_h = min(tile, math.ceil(H / mult) * mult)
            tile_w = min(tile, math.ceil(W / mult) * mult)
            ov = tile // 8 if overlap is None else overlap
            ov_h, ov_w = min(ov, tile_h // 2), min(ov, tile_w // 2)
            rows = tile_starts(H, tile_h, tile_h - ov_h)
            cols = tile_starts(W, tile_w, tile_w - ov_w)
            weight = np.outer(blend_window(tile_h, ov_h), blend_window(tile_w, ov_w))
            nodata = src.nodata
            total_tiles, done = len(rows) * len(cols), 0

            prob_sum = np.zeros((tile_h, W, len(MODEL_CLASSES)), np.float32)
            weight_sum = np.zeros((tile_h, W), np.float32)
            valid = np.zeros((tile_h, W), bool)
            counts = np.zeros(256, np.int64)
            areas = np.zeros(256, np.float64)

            tmp_dir = Path(tempfile.mkdtemp(prefix=".predict-", dir=dst_path.parent if dst_path.parent.exists() else None))
            tmp_path = tmp_dir / "classes.tif"
            profile = dict(driver="GTiff", width=W, height=H, count=1, dtype="uint8", crs=src.crs,
                           transform=src.transform, nodata=NODATA, compress="deflate")
            prob_dst = None
            try:
                out = rasterio.open(tmp_path, "w", **profile)
                out.write_colormap(1, colormap())  # before the pixels: GDAL cannot change the photometric tag after
                if probabilities is not None:
                    prob_dst = rasterio.open(probabilities, "w", **{**profile, "count": len(MODEL_CLASSES),
                                                                     "nodata": None, "tiled": True})
                # The accumulators' row 0 is scene row y: rows above y were written out already.
                for k, y in enumerate(rows):
                    strip_rows = min(tile_h, H - y)
                    strip = src.read(indexes, window=Window(0, y, W, strip_rows))  # bands, rows, W
                    strip = np.moveaxis(strip, 0, -1)
                    invalid = np.all(strip == 0, axis=-1)
                    if nodata is not None:
                        invalid |= np.all(strip == nodata, axis=-1)
                    if strip_rows < tile_h:  # scene lower than one tile: pad by reflection
                        strip = np.pad(strip, ((0, tile_h - strip_rows), (0, 0), (0, 0)), mode="reflect")
                    if W < tile_w:
                        strip = np.pad(strip, ((0, 0), (0, tile_w - W), (0, 0)), mode="reflect")
                    valid[:strip_rows] |= ~invalid
                    for b in range(0, len(cols), batch_size):
                        batch_cols = cols[b:b + batch_size]
                        batch = np.stack([strip[:, x:x + tile_w] for x in batch_cols])
                        batch = predictor.prepare(batch, dn_offset)
                        proba = predictor.predict_proba(batch)
                        for x, p in zip(batch_cols, proba):
                            x_end = min(x + tile_w, W)
                            prob_sum[:strip_rows, x:x_end] += (p * weight[..., None])[:strip_rows, :x_end - x]
                            weight_sum[:strip_rows, x:x_end] += weight[:strip_rows, :x_end - x]
                        done += len(batch_cols)
                        if progress:
                            progress(done, total_tiles)
                    flush_to = rows[k + 1] if k + 1 < len(rows) else H
                    n = flush_to - y
                    classes = index_to_dfc(prob_sum[:n].argmax(axis=-1).astype(np.uint8))
                    classes[~valid[:n]] = NODATA
                    out.write(classes[None], window=Window(0, y, W, n))
                    if prob_dst is not None:
                        p = prob_sum[:n] / np.maximum(weight_sum[:n, :, None], 1e-6)
                        p = np.where(valid[:n, :, None], np.round(p * 255), 0).astype(np.uint8)
                        prob_dst.write(np.moveaxis(p, -1, 0), window=Window(0, y, W, n))
                    row_counts = np.stack([np.bincount(r, minlength=256) for r in classes]) if n else np.zeros((0, 256))
                    counts += row_counts.sum(axis=0).astype(np.int64)
                    areas += (row_counts * pixel_areas_km2(src, y, n)[:, None]).sum(axis=0)
                    # Shift the accumulators up: rows below flush_to are still open.
                    for arr in (prob_sum, weight_sum, valid):
                        arr[:tile_h - n] = arr[n:].copy() if n < tile_h else arr[:0]
                        arr[max(tile_h - n, 0):] = 0
                out.update_tags(**_class_tags(), SOURCE=src_path.name, MODEL=predictor.card.get("method", ""))
                out.set_band_description(1, "land cover (simplified IGBP, DFC2020 codes)")
                out.close()
                if prob_dst is not None:
                    for i, code in enumerate(MODEL_CLASSES, start=1):
                        prob_dst.set_band_description(i, f"P({DFC_NAMES[code]}) x 255")
                    prob_dst.close()
                write_cog(tmp_path, dst_path)
            finally:
                for leftover in tmp_dir.glob("*"):
                    leftover.unlink()
                tmp_dir.rmdir()
            crs = src.crs.to_string()
    counts[NODATA] = 0
    areas[NODATA] = 0
    return SceneResult(dst_path, W, H, crs, statistics_table(counts, areas), int(counts.sum()), total_tiles,
                       time.perf_counter() - started, probabilities)


def _class_tags() -> dict[str, str]:
    tags = {f"CLASS_{code}": name for code, name in DFC_NAMES.items()}
    tags["CLASS_0"] = "nodata"
    tags["CLASS_SCHEME"] = "simplified IGBP (IEEE GRSS DFC2020)"
    return tags


def write_cog(src_path: Path, dst_path: Path) -> None:
    """Cloud-Optimized GeoTIFF via rio-cogeo: deflate, 512-px tiles, mode overviews, tags and colours kept."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=512, blockysize=512)
    tmp = dst_path.with_name(f".{dst_path.name}.part")
    # rio-cogeo carries over the palette, band description and dataset tags.
    cog_translate(str(src_path), str(tmp), profile, nodata=NODATA, overview_resampling="mode",
                  in_memory=False, quiet=True, config=GDAL_ENV, use_cog_driver=False)
    os.replace(tmp, dst_path)  # atomic: readers never see a half-written map


def write_statistics(result: SceneResult, path: Path) -> None:
    payload = {"source": str(result.output), "width": result.width, "height": result.height, "crs": result.crs,
               "valid_pixels": result.valid_pixels, "classes": result.statistics}
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def format_statistics(rows: list[dict]) -> str:
    lines = [f"{'class':<16}{'pixels':>14}{'share %':>10}{'area km²':>14}"]
    for r in rows:
        lines.append(f"{r['name']:<16}{r['pixels']:>14,}{r['percent']:>10.2f}{r['area_km2']:>14.4f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.predict", description="Land cover for a Sentinel-2 GeoTIFF.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path, help="the land-cover COG to write")
    parser.add_argument("--model", type=Path, required=True, help="a model folder (model.json + weights)")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap in pixels (default: an eighth of a tile)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dn-offset", type=float, default=None,
                        help="added to DNs before /10000: -1000 for L2A of processing baseline 04.00 or later")
    parser.add_argument("--probabilities", type=Path, help="also write class probabilities (8 bands, ×255)")
    parser.add_argument("--stats-json", type=Path, help="write the statistics as JSON here")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    try:
        predictor = load_model(args.model)
        bar = tqdm(total=None, unit="tile", desc="predicting", file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        result = predict_scene(args.input, args.output, predictor, overlap=args.overlap, batch_size=args.batch_size,
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
