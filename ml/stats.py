"""Per-class statistics of land-cover rasters: pixels, share of valid pixels and area.

One accumulator (`ClassAreas`) serves both places that count classes: scene inference,
which counts each strip of rows as it is written, and `class_statistics`, which reads a
stored map strip by strip. Areas are ground areas: for projected CRSs the pixel's area in the
CRS's units corrected by the projection's areal scale (so a UTM map's km² are true, equal-area
km²), and spherical for geographic ones (each row's band of latitude).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from pyproj import Proj, Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from .classes import DFC, MODEL_CLASSES, NODATA, Scheme
from .outputs import GDAL_ENV

ALL_CLASSES = tuple(DFC)  # 1–10: MODIS maps can hold Savanna and Snow/Ice
EARTH_RADIUS_KM = 6371.0088  # mean Earth radius


def areal_scale(crs: CRS, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The projection's areal scale factor at projected points (1 everywhere for an equal-area projection)."""
    key = crs.to_wkt()
    if key not in _PROJECTIONS:
        _PROJECTIONS[key] = (Proj(key), Transformer.from_crs(key, "EPSG:4326", always_xy=True))
    proj, to_lonlat = _PROJECTIONS[key]
    lon, lat = to_lonlat.transform(xs, ys)
    return np.asarray(proj.get_factors(lon, lat).areal_scale, np.float64)


_PROJECTIONS: dict[str, tuple[Proj, Transformer]] = {}


class RasterGrid(Protocol):
    """What a pixel's area needs of a raster: an open dataset, or a grid (a window of one)."""

    @property
    def crs(self) -> CRS:
        """Its coordinate reference system."""

    @property
    def transform(self) -> Affine:
        """Its affine transform."""

    @property
    def width(self) -> int:
        """Its width in pixels."""


def pixel_areas_km2(src: RasterGrid, row0: int, rows: int) -> np.ndarray:
    """Ground area of one pixel in each of `rows` rows, km², on the ellipsoid: for a projected CRS the pixel's
    area in the CRS's units divided by the projection's areal scale at the row's middle (UTM's 0.9992–1.002 is
    taken out; the error left across a 20 km wide area is below 0.02 %), spherical for geographic CRSs."""
    t = src.transform
    if src.crs.is_projected:
        factor = src.crs.linear_units_factor[1]
        # The determinant: the area of a pixel, also when the grid is rotated or sheared.
        nominal = abs(t.a * t.e - t.b * t.d) * factor**2 / 1e6
        centres = np.arange(row0, row0 + rows) + 0.5
        xs, ys = t * (np.full(rows, src.width / 2), centres)
        return nominal / areal_scale(src.crs, np.asarray(xs), np.asarray(ys))
    top = t.f + t.e * np.arange(row0, row0 + rows)
    bottom = top + t.e
    band = np.abs(np.sin(np.radians(top)) - np.sin(np.radians(bottom)))
    return EARTH_RADIUS_KM**2 * np.radians(abs(t.a)) * band


def statistics_table(counts: np.ndarray, area_km2: np.ndarray, classes: Sequence[int] = MODEL_CLASSES,
                     total: int | None = None, scheme: Scheme | None = None) -> list[dict]:
    """Per class of `scheme` (default DFC): pixels, share of valid pixels (%; of `total` when given, else of all
    counted), area (km²)."""
    total = int(counts.sum()) if total is None else total
    scheme = scheme or DFC
    rows = []
    for code in classes:
        name, colour = scheme.get(code, (str(code), "#000000"))
        rows.append({"code": code, "name": name, "colour": colour, "pixels": int(counts[code]),
                     "percent": round(float(100.0 * counts[code] / total), 4) if total else 0.0,
                     "area_km2": round(float(area_km2[code]), 6)})
    return rows


class ClassAreas:
    """Running pixel counts and areas per class code, fed one block of rows at a time."""

    def __init__(self, src: RasterGrid) -> None:
        """`src`: the dataset (open in rasterio) or grid whose CRS and transform give each row's pixel area."""
        self.src = src
        self.counts = np.zeros(256, np.int64)
        self.areas = np.zeros(256, np.float64)

    def add(self, codes: np.ndarray, row0: int) -> None:
        """Count a (rows, cols) block of class codes whose first row is `row0` of the raster."""
        if not codes.shape[0]:
            return
        rows = codes.shape[0]
        # One bincount for the whole block: row i's codes land in bins 256·i … 256·i + 255.
        keys = codes.astype(np.int64) + 256 * np.arange(rows, dtype=np.int64)[:, None]
        row_counts = np.bincount(keys.ravel(), minlength=256 * rows).reshape(rows, 256)
        self.counts += row_counts.sum(axis=0).astype(np.int64)
        self.areas += (row_counts * pixel_areas_km2(self.src, row0, codes.shape[0])[:, None]).sum(axis=0)

    @property
    def valid_pixels(self) -> int:
        """Pixels counted that are not nodata."""
        return int(self.counts.sum() - self.counts[NODATA])

    def table(self, classes: Sequence[int] = MODEL_CLASSES, scheme: Scheme | None = None) -> list[dict]:
        """The statistics of what was counted, nodata left out."""
        counts, areas = self.counts.copy(), self.areas.copy()
        counts[NODATA] = 0
        areas[NODATA] = 0
        return statistics_table(counts, areas, classes, scheme=scheme)


def class_statistics(path: Path, classes: Sequence[int] = ALL_CLASSES, strip_rows: int = 512) -> list[dict]:
    """Per class of a DFC-coded raster: pixel count, % of valid pixels, km² (projected CRS: exact)."""
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as src:
        areas = ClassAreas(src)
        for y in range(0, src.height, strip_rows):
            n = min(strip_rows, src.height - y)
            areas.add(src.read(1, window=Window(0, y, src.width, n)), y)
    return areas.table(classes)


CONFIDENCE_LEVELS = 256  # confidence is stored as uint8: round(top-1 probability × 255)


class ConfidenceHistogram:
    """Pixels and areas per (class code, confidence level): enough to give the statistics at any
    `min_confidence` afterwards without reading the map again."""

    def __init__(self, src: RasterGrid) -> None:
        """`src`: the dataset or grid whose CRS and transform give each row's pixel area."""
        self.src = src
        self.pixels = np.zeros((256, CONFIDENCE_LEVELS), np.int64)
        self.areas = np.zeros((256, CONFIDENCE_LEVELS), np.float64)

    def add(self, codes: np.ndarray, confidence: np.ndarray, row0: int) -> None:
        """Count a (rows, cols) block of class codes and their uint8 confidences; nodata is left out."""
        if not codes.shape[0]:
            return
        row_areas = pixel_areas_km2(self.src, row0, codes.shape[0])
        # A projected grid has one pixel area: count the block at once; a geographic one row by row.
        groups = [(codes, confidence, row_areas[0])] if np.all(row_areas == row_areas[0]) else [
            (codes[i:i + 1], confidence[i:i + 1], row_areas[i]) for i in range(codes.shape[0])]
        for block_codes, block_conf, pixel_area in groups:
            keep = block_codes != NODATA
            index = block_codes[keep].astype(np.int64) * CONFIDENCE_LEVELS + block_conf[keep]
            counts = np.bincount(index, minlength=256 * CONFIDENCE_LEVELS).reshape(256, CONFIDENCE_LEVELS)
            self.pixels += counts
            self.areas += counts * pixel_area

    def to_dict(self) -> dict:
        """JSON-ready: per class code present, pixels and km² per confidence level 0–255."""
        return {"levels": CONFIDENCE_LEVELS, "classes": {
            str(code): {"pixels": self.pixels[code].tolist(), "area_km2": [round(a, 9) for a in self.areas[code]]}
            for code in range(256) if self.pixels[code].any()}}


def merge_histograms(histograms: Sequence[dict]) -> dict:
    """One confidence histogram (`ConfidenceHistogram.to_dict`) of several maps' pixels: tiles of one region."""
    merged: dict[str, dict[str, list]] = {}
    for histogram in histograms:
        for code, rows in histogram.get("classes", {}).items():
            into = merged.setdefault(code, {"pixels": [0] * CONFIDENCE_LEVELS, "area_km2": [0.0] * CONFIDENCE_LEVELS})
            into["pixels"] = [a + b for a, b in zip(into["pixels"], rows["pixels"])]
            into["area_km2"] = [round(a + b, 9) for a, b in zip(into["area_km2"], rows["area_km2"])]
    return {"levels": CONFIDENCE_LEVELS, "classes": dict(sorted(merged.items(), key=lambda kv: int(kv[0])))}


def confidence_threshold(min_confidence: float) -> int:
    """The first uint8 confidence level that counts as confident at `min_confidence` (0–1)."""
    return int(np.ceil(min_confidence * (CONFIDENCE_LEVELS - 1) - 1e-9))


def statistics_at_confidence(histogram: dict, min_confidence: float, classes: Sequence[int] = ALL_CLASSES,
                             scheme: Scheme | None = None) -> tuple[list[dict], dict]:
    """Per class, only the pixels whose top-1 probability is at least `min_confidence`; the rest are
    returned apart as 'uncertain' (pixels, share of valid pixels, km²), never as a class."""
    level = confidence_threshold(min_confidence)
    counts = np.zeros(256, np.int64)
    areas = np.zeros(256, np.float64)
    uncertain_pixels, uncertain_area = 0, 0.0
    for code, hist in histogram["classes"].items():
        pixels, area = np.asarray(hist["pixels"], np.int64), np.asarray(hist["area_km2"], np.float64)
        counts[int(code)] = pixels[level:].sum()
        areas[int(code)] = area[level:].sum()
        uncertain_pixels += int(pixels[:level].sum())
        uncertain_area += float(area[:level].sum())
    total = int(counts.sum()) + uncertain_pixels
    rows = statistics_table(counts, areas, classes, total=total, scheme=scheme)
    uncertain = {"min_confidence": min_confidence, "pixels": uncertain_pixels,
                 "percent": round(100.0 * uncertain_pixels / total, 4) if total else 0.0,
                 "area_km2": round(uncertain_area, 6)}
    return rows, uncertain
