"""The low-resolution map of a SEN12MS/DFC2020 patch, from its MODIS land cover.

Band 1 of a patch's `lc` file is MODIS IGBP (MCD12Q1 LC_Type1, 500 m, resampled to
the 10 m grid). It becomes simplified IGBP (DFC2020 codes, all ten classes, Savanna
and Snow/Ice included) in a COG with the same CRS, transform, colours and class names
as the model maps, so the site stores and serves both alike.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import rasterio

from .classes import igbp_to_dfc
from .outputs import open_class_geotiff, write_cog
from .rasterio_io import DataError
from .stats import ALL_CLASSES, class_statistics

MODIS_MODEL = "MODIS MCD12Q1 IGBP (LC_Type1), 500 m"


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
        crs, transform, width, height = src.crs, src.transform, src.width, src.height
    with tempfile.TemporaryDirectory(prefix=".modis-", dir=dst_path.parent) as tmp:
        tmp_path = Path(tmp) / "modis.tif"
        with open_class_geotiff(tmp_path, crs, transform, width, height, lc_path.name, MODIS_MODEL) as out:
            out.write(dfc[None])
        write_cog(tmp_path, dst_path)
    return class_statistics(dst_path, ALL_CLASSES)
