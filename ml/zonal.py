"""Class areas per unit: one row per polygon of a layer (administrative units, farms, watersheds) from a stored
land-cover map, without running the model again.

Why this way: a unit's statistics are the same counts the map's own statistics are (`ml.stats.ClassAreas`:
pixels per class, each pixel's ground area on the ellipsoid), restricted to the pixels whose centres fall in the
unit. Centres, not "any pixel touched": units that share a border never count a pixel twice, so a layer that
tiles a region sums to the region's statistics. Each unit reads only the window of its bounds, a block of rows at
a time, so memory stays at a block's whatever the unit's size, and overlapping units (farms inside districts) are
each counted whole.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.features import bounds as geometry_bounds
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.transform import Affine
from rasterio.warp import transform_geom
from rasterio.windows import Window

from .classes import NODATA
from .outputs import GDAL_ENV
from .stats import ALL_CLASSES, ClassAreas, areal_scale, statistics_table

OUTSIDE = 255  # not a class code: pixels of a unit's window outside the unit
BLOCK_ROWS = 1024
# A unit up to this many pixels a side (100 km at 10 m) takes the projection's areal scale at its centre for all its
# pixels: in UTM the scale changes by under 0.01 % across 100 km near the central meridian, 0.3 % at 500 km from it.
SMALL_UNIT_PX = 10_000


class FixedAreas(ClassAreas):
    """ClassAreas where every pixel has the same ground area (a small unit of a projected map)."""

    def __init__(self, pixel_km2: float) -> None:
        """`pixel_km2`: the ground area of every pixel counted."""
        self.counts = np.zeros(256, np.int64)
        self.areas = np.zeros(256, np.float64)
        self.pixel_km2 = pixel_km2

    def add(self, codes: np.ndarray, row0: int) -> None:
        """Count a block of class codes (its rows' position does not matter here)."""
        counts = np.bincount(codes.ravel(), minlength=256)
        self.counts += counts
        self.areas += counts * self.pixel_km2


@dataclass(frozen=True)
class _Grid:
    """A window of the map as ClassAreas needs it."""
    crs: CRS
    transform: Affine
    width: int


def unit_statistics(path: Path | str, geometries: Sequence[dict], classes: Sequence[int] = ALL_CLASSES,
                    geometry_crs: str = "EPSG:4326") -> list[dict]:
    """Per unit (GeoJSON geometries, lon/lat by default): its map pixels and area, its no-data share, and per class
    pixels, % of its mapped pixels and km², from a DFC-coded map; a pixel belongs to the units its centre is in."""
    rows = []
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as src:
        shapes = transform_geom(geometry_crs, src.crs, list(geometries)) if geometries else []  # one PROJ call
        scales = _areal_scales(src, shapes)
        for shape, scale in zip(shapes, scales):
            areas = _count(src, shape, scale)
            nodata = int(areas.counts[NODATA])
            counts, km2 = areas.counts.copy(), areas.areas.copy()
            counts[[NODATA, OUTSIDE]] = 0
            km2[[NODATA, OUTSIDE]] = 0
            mapped = int(counts.sum())
            rows.append({"pixels": mapped + nodata, "mapped_pixels": mapped, "nodata_pixels": nodata,
                         "nodata_percent": round(100.0 * nodata / (mapped + nodata), 4) if mapped + nodata else 0.0,
                         "mapped_km2": round(float(km2.sum()), 6),
                         "classes": statistics_table(counts, km2, classes)})
    return rows


def _areal_scales(src: DatasetReader, shapes: list[dict]) -> list[float | None]:
    """Per unit of a projected map, the projection's areal scale at the unit's centre (one PROJ call for all
    units); None where a unit is too large for one scale (over SMALL_UNIT_PX a side: each row gets its own, as the
    map's statistics do) or the map is geographic."""
    if not src.crs.is_projected or not shapes:
        return [None] * len(shapes)
    boxes = np.array([geometry_bounds(shape) for shape in shapes])
    centres_x, centres_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    scales = areal_scale(src.crs, centres_x, centres_y)
    pixel = max(abs(src.transform.a), abs(src.transform.e))
    small = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) <= SMALL_UNIT_PX * pixel
    return [float(scale) if ok else None for scale, ok in zip(scales, small)]


def _count(src: DatasetReader, shape: dict, scale: float | None) -> ClassAreas:
    """ClassAreas of the map's pixels whose centres are in `shape` (in the map's CRS); with `scale`, every pixel's
    area is the nominal one divided by it (a small unit of a projected map)."""
    west, south, east, north = geometry_bounds(shape)
    inverse = ~src.transform
    corners = [inverse * corner for corner in ((west, north), (east, north), (east, south), (west, south))]
    xs, ys = [c for c, _ in corners], [r for _, r in corners]
    # Every pixel whose centre may be inside: from the floor of the first edge to the ceiling of the last.
    col0, row0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    col1, row1 = min(src.width, math.ceil(max(xs))), min(src.height, math.ceil(max(ys)))
    if col1 <= col0 or row1 <= row0:  # entirely off the map
        return ClassAreas(_Grid(src.crs, src.transform, src.width))
    width, height = col1 - col0, row1 - row0
    transform = src.window_transform(Window(col0, row0, width, height))
    areas = ClassAreas(_Grid(src.crs, transform, width))
    if scale is not None:
        t = src.transform
        nominal = abs(t.a * t.e - t.b * t.d) * src.crs.linear_units_factor[1] ** 2 / 1e6
        areas = FixedAreas(nominal / scale)
    for y in range(0, height, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, height - y)
        block = Window(col0, row0 + y, width, rows)
        codes = src.read(1, window=block)
        inside = geometry_mask([shape], out_shape=codes.shape, transform=src.window_transform(block), invert=True)
        areas.add(np.where(inside, codes, OUTSIDE).astype(np.uint8), y)
    return areas
