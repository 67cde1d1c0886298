"""Class maps that are not model predictions, and what every stored map needs.

- `modis_map`: the low-resolution map of a SEN12MS/DFC2020 patch. Band 1 of the
  `lc` file is MODIS IGBP (MCD12Q1 LC_Type1, 500 m, resampled to the 10 m grid);
  it becomes simplified IGBP (DFC2020 codes, all ten classes, Savanna and Snow/Ice
  included) in a COG with the same CRS, transform, colours and class names as the
  model maps.
- `class_statistics`: pixels, share and km² per class of any DFC-coded raster,
  read strip by strip, areas in the raster's own CRS.
- `preview_png`: an RGBA PNG of a DFC-coded raster (nodata transparent), at most
  `max_size` pixels on its longer side, for previews and downloads.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from .classes import DFC, NODATA, colormap, igbp_to_dfc
from .predict import GDAL_ENV, _class_tags, pixel_areas_km2, statistics_table, write_cog
from .rasterio_io import DataError

ALL_CLASSES = tuple(DFC)  # 1–10: MODIS maps can hold Savanna and Snow/Ice


def modis_map(lc_path: Path, dst_path: Path) -> list[dict]:
    """Write the simplified-IGBP COG of a SEN12MS `lc` file; returns its statistics."""
    lc_path, dst_path = Path(lc_path), Path(dst_path)
    try:
        src = rasterio.open(lc_path)
    except rasterio.errors.RasterioError as exc:
        raise DataError(f"{lc_path}: cannot be read as a GeoTIFF ({exc})") from exc
    with src:
        if src.crs is None:
            raise DataError(f"{lc_path}: has no coordinate reference system")
        dfc = igbp_to_dfc(src.read(1))
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform, nodata=NODATA)
    with tempfile.TemporaryDirectory(prefix=".modis-", dir=dst_path.parent) as tmp:
        tmp_path = Path(tmp) / "modis.tif"
        with rasterio.open(tmp_path, "w", **profile) as out:
            out.write_colormap(1, colormap())  # before the pixels: GDAL cannot change the photometric tag after
            out.update_tags(**_class_tags(), SOURCE=lc_path.name, MODEL="MODIS MCD12Q1 IGBP (LC_Type1), 500 m")
            out.set_band_description(1, "land cover (simplified IGBP, DFC2020 codes)")
            out.write(dfc[None])
        write_cog(tmp_path, dst_path)
    return class_statistics(dst_path, ALL_CLASSES)


def class_statistics(path: Path, classes=ALL_CLASSES, strip_rows: int = 512) -> list[dict]:
    """Per class of a DFC-coded raster: pixel count, % of valid pixels, km² (projected CRS: exact)."""
    counts = np.zeros(256, np.int64)
    areas = np.zeros(256, np.float64)
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as src:
        for y in range(0, src.height, strip_rows):
            n = min(strip_rows, src.height - y)
            block = src.read(1, window=Window(0, y, src.width, n))
            row_counts = np.stack([np.bincount(r, minlength=256) for r in block])
            counts += row_counts.sum(axis=0)
            areas += (row_counts * pixel_areas_km2(src, y, n)[:, None]).sum(axis=0)
    counts[NODATA] = 0
    areas[NODATA] = 0
    return statistics_table(counts, areas, classes)


def preview_png(path: Path, png_path: Path, max_size: int = 1024) -> Path:
    """RGBA PNG of a DFC-coded raster, nodata transparent; overviews make large maps cheap to read."""
    lut = np.zeros((256, 4), np.uint8)
    for code, rgba in colormap().items():
        lut[code] = rgba
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as src:
        scale = max(src.width, src.height) / max_size
        w, h = (src.width, src.height) if scale <= 1 else (max(1, round(src.width / scale)),
                                                               max(1, round(src.height / scale)))
        codes = src.read(1, out_shape=(h, w), resampling=Resampling.mode if scale > 1 else Resampling.nearest)
    rgba = np.moveaxis(lut[codes], -1, 0)
    png_path = Path(png_path)
    tmp = png_path.with_name(f".{png_path.name}.part")
    with warnings.catch_warnings():  # a PNG has no georeference, and needs none
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", driver="PNG", width=w, height=h, count=4, dtype="uint8") as dst:
            dst.write(rgba)
    tmp.with_name(tmp.name + ".aux.xml").unlink(missing_ok=True)
    tmp.replace(png_path)
    return png_path
