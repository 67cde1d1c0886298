"""The 10 m grid of an area and reading any raster onto it.

Why a module of its own: every way of mapping an area (one job, a region cut into tiles, a composite of
dates) needs the same grid — the area's WGS 84 UTM zone at 10 m, snapped to whole pixels — and the same
windowed, resampled read of a band onto it, whatever the file's own CRS and resolution. Reading only the
window a grid covers, from COG overviews when the grid is coarse, is what makes remote COGs cheap.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.transform import Affine, from_origin
from rasterio.warp import reproject, transform_bounds, transform_geom
from rasterio.windows import Window, from_bounds

RESOLUTION = 10.0          # metres: the mosaic's pixel
WARP_THREADS = os.cpu_count() or 1


def coordinates(geometry: dict) -> Iterable[tuple[float, float]]:
    """Every (x, y) position of a GeoJSON Polygon or MultiPolygon."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for polygon in polygons:
        for ring in polygon:
            for x, y, *_ in ring:
                yield float(x), float(y)



def geometry_bounds(geometry: dict) -> tuple[float, float, float, float]:
    """west, south, east, north of a GeoJSON Polygon or MultiPolygon."""
    xs, ys = zip(*coordinates(geometry))
    return min(xs), min(ys), max(xs), max(ys)


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 UTM zone of a point (EPSG 326xx north, 327xx south)."""
    zone = min(60, max(1, int(math.floor((lon + 180) / 6)) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, transform, size."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """left, bottom, right, top in the grid's CRS."""
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f

    def rows(self, y: int, n: int) -> Grid:
        """The grid of rows y … y + n − 1."""
        return Grid(self.crs, self.transform * Affine.translation(0, y), self.width, n)

    def expanded(self, margin: int) -> Grid:
        """The same grid with `margin` more pixels on every side."""
        return Grid(self.crs, self.transform * Affine.translation(-margin, -margin), self.width + 2 * margin,
                    self.height + 2 * margin)

    def coarser(self, resolution: float) -> Grid:
        """The same extent on pixels of `resolution` (rounded up to cover it)."""
        factor = resolution / abs(self.transform.a)
        return Grid(self.crs, self.transform * Affine.scale(factor), max(1, math.ceil(self.width / factor)),
                    max(1, math.ceil(self.height / factor)))


def area_grid(geometry: dict, resolution: float = RESOLUTION) -> Grid:
    """The 10 m grid of the area's UTM zone covering the area, snapped to whole multiples of the pixel."""
    west, south, east, north = geometry_bounds(geometry)
    crs = utm_crs((west + east) / 2, (south + north) / 2)
    projected = transform_geom("EPSG:4326", crs, geometry)
    xs, ys = zip(*coordinates(projected))
    left = math.floor(min(xs) / resolution) * resolution
    top = math.ceil(max(ys) / resolution) * resolution
    width = max(1, math.ceil((max(xs) - left) / resolution))
    height = max(1, math.ceil((top - min(ys)) / resolution))
    return Grid(crs, from_origin(left, top, resolution, resolution), width, height)


def inside(geometry: dict, grid: Grid) -> np.ndarray:
    """Which pixels of `grid` have their centre inside the area (lon/lat GeoJSON)."""
    projected = transform_geom("EPSG:4326", grid.crs, geometry)
    return geometry_mask([projected], out_shape=(grid.height, grid.width), transform=grid.transform, invert=True)


def read_band(src: DatasetReader, index: int, grid: Grid, resampling: Resampling) -> np.ndarray:
    """One band of an open dataset on `grid` (0 where it has no data): only the window of the grid's
    bounds is read, at about the grid's resolution (so a coarse grid is read from the COG's overviews)."""
    out = np.zeros((grid.height, grid.width), np.float32)
    left, bottom, right, top = transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
    exact = from_bounds(left, bottom, right, top, src.transform)
    # Whole pixels, one more on each side for the resampling kernel, clipped to the dataset.
    col0, row0 = max(0, math.floor(exact.col_off) - 1), max(0, math.floor(exact.row_off) - 1)
    col1 = min(src.width, math.ceil(exact.col_off + exact.width) + 1)
    row1 = min(src.height, math.ceil(exact.row_off + exact.height) + 1)
    if col1 <= col0 or row1 <= row0:
        return out
    window = Window(col0, row0, col1 - col0, row1 - row0)
    # Read at no finer than the target's resolution: the decimated read comes from overviews where there are some.
    scale = max(1.0, abs(grid.transform.a) / abs(src.transform.a))
    shape = (max(1, round(window.height / scale)), max(1, round(window.width / scale)))
    data = src.read(index, window=window, out_shape=shape, resampling=Resampling.average
                    if resampling != Resampling.nearest else Resampling.nearest)
    window_transform = src.window_transform(window) * Affine.scale(window.width / shape[1], window.height / shape[0])
    nodata = src.nodata if src.nodata is not None else 0
    # Only the part of the grid the window covers is resampled: a scene covering half the area costs half.
    w_left, w_top = src.transform * (window.col_off, window.row_off)
    w_right, w_bottom = src.transform * (window.col_off + window.width, window.row_off + window.height)
    g_left, g_bottom, g_right, g_top = transform_bounds(src.crs, grid.crs, w_left, w_bottom, w_right, w_top,
                                                        densify_pts=21)
    covered = from_bounds(g_left, g_bottom, g_right, g_top, grid.transform)
    c0, r0 = max(0, math.floor(covered.col_off)), max(0, math.floor(covered.row_off))
    c1 = min(grid.width, math.ceil(covered.col_off + covered.width))
    r1 = min(grid.height, math.ceil(covered.row_off + covered.height))
    if c1 <= c0 or r1 <= r0:
        return out
    reproject(data.astype(np.float32), out[r0:r1, c0:c1], src_transform=window_transform, src_crs=src.crs,
              src_nodata=nodata, dst_transform=grid.transform * Affine.translation(c0, r0), dst_crs=grid.crs,
              dst_nodata=0, resampling=resampling, num_threads=WARP_THREADS)
    return out
