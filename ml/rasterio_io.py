"""Small rasterio helpers whose errors always name the file."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window


class DataError(ValueError):
    """A data file is missing, unreadable or not what it should be; the message names it."""


def read_raster(path: Path, indexes: list[int] | None = None, expect_bands: int | None = None,
                window: Window | None = None) -> np.ndarray:
    """Read bands as (bands, rows, cols), checking the band count first."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        with rasterio.open(path) as src:
            if expect_bands is not None and src.count != expect_bands:
                raise DataError(f"{path}: has {src.count} band(s), expected {expect_bands}")
            return src.read(indexes, window=window)
    except DataError:
        raise
    except (RasterioError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as a GeoTIFF ({exc})") from exc


def read_headers(paths: list[str]) -> list[tuple | str]:
    """(CRS, affine a–f, width, height) of each file, or the reason it cannot be read.

    Only headers: GDAL is told not to list each (large) folder looking for sidecar files on
    every open, which doubles the rate (880 → 1,770 files/s, bench/bench_catalogue.py). A plain
    function of picklable values, so catalogue ingestion can run it in worker processes."""
    out: list[tuple | str] = []
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        for path in paths:
            try:
                with rasterio.open(path) as src:
                    if src.crs is None:
                        out.append("no CRS")
                        continue
                    out.append((src.crs.to_string(), tuple(src.transform)[:6], src.width, src.height))
            except (RasterioError, OSError, ValueError) as exc:
                out.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return out


@contextmanager
def _open_band(source: object) -> Iterator[DatasetReader]:
    """A single-band raster from a path or from the bytes of a file."""
    if isinstance(source, bytes | bytearray):
        with rasterio.MemoryFile(source) as mem, mem.open() as src:
            yield src
    else:
        with rasterio.open(source) as src:
            yield src


def stack_bands(sources: Mapping[str, object], order: Sequence[str], out: Path,
                check: Callable[[int, int, CRS | None], None] | None = None, tags: dict | None = None) -> Path:
    """One uint16 GeoTIFF from one single-band raster per band (paths or bytes), on the finest band's
    grid; coarser bands (20 m, 60 m) are resampled bilinearly and every band is described by its
    name. `check(width, height, crs)` runs before anything is written (limits, a missing CRS).
    Sentinel-2 products and BigEarthNet ship their bands this way."""
    grids = {}
    for band in order:
        try:
            with _open_band(sources[band]) as src:
                grids[band] = (abs(src.res[0]), src.width, src.height, src.crs, src.transform)
        except RasterioError as exc:
            raise DataError(f"band {band} cannot be read as a GeoTIFF ({str(exc).splitlines()[0]})") from None
    _, width, height, crs, transform = min(grids.values(), key=lambda grid: grid[0])
    if check is not None:
        check(width, height, crs)
    profile = dict(driver="GTiff", width=width, height=height, count=len(order), dtype="uint16", crs=crs,
                   transform=transform, tiled=True, compress="deflate", BIGTIFF="IF_SAFER")
    with rasterio.open(out, "w", **profile) as dst:
        for i, band in enumerate(order, start=1):
            with _open_band(sources[band]) as src:
                dst.write(src.read(1, out_shape=(height, width), resampling=Resampling.bilinear).astype(np.uint16), i)
            dst.set_band_description(i, band)
        if tags:
            dst.update_tags(**tags)
    return Path(out)
