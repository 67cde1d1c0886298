"""Writing what every land-cover product is stored as: a COG of DFC codes and a PNG preview.

Model maps (`ml.predict`), MODIS maps (`ml.modis`) and the site's stored maps all go
through here, so every map carries the same colour table, class names, nodata value
and overview resampling, and is written under a temporary name and renamed into place
(readers never see a half-written file).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.transform import Affine

from .classes import DFC, NODATA, Scheme, colormap

# GDAL settings for every read and write of ours: a small block cache (MB), so that
# validating or mapping a large scene never holds it in memory, and all cores.
GDAL_ENV = {"GDAL_CACHEMAX": 128, "GDAL_NUM_THREADS": "ALL_CPUS"}
BAND_DESCRIPTION = "land cover (simplified IGBP, DFC2020 codes)"
COG_BLOCK = 512  # the tile size of every COG we write (px)


def class_tags(scheme: Scheme | None = None, scheme_name: str | None = None) -> dict[str, str]:
    """Dataset tags naming every class code (and 0, nodata) of a land-cover GeoTIFF: DFC's, or a legend's."""
    tags = {f"CLASS_{code}": name for code, (name, _) in (scheme or DFC).items()}
    tags["CLASS_0"] = "nodata"
    tags["CLASS_SCHEME"] = scheme_name or "simplified IGBP (IEEE GRSS DFC2020)"
    return tags


def class_profile(crs: CRS, transform: Affine, width: int, height: int) -> dict:
    """The GeoTIFF profile of a land-cover map: one uint8 band of DFC codes, nodata 0."""
    return dict(driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs=crs, transform=transform,
                nodata=NODATA, compress="deflate")


def open_class_geotiff(path: Path, crs: CRS, transform: Affine, width: int, height: int, source: str,
                       model: str, scheme: Scheme | None = None, scheme_name: str | None = None) -> DatasetWriter:
    """A land-cover GeoTIFF open for writing, with its colour table, class names and description set: the
    staging file `write_cog` turns into the map. Tiled as the COG is (512 px) and not compressed: the COG is
    then built from whole blocks — 3.4 s for a full Sentinel-2 tile's map against 9.4 s from a striped file
    (10.9 s deflated), the same COG byte for byte in its pixels and overviews (docs/BENCHMARKS.md)."""
    profile = {**class_profile(crs, transform, width, height), "compress": None, "tiled": True,
               "blockxsize": COG_BLOCK, "blockysize": COG_BLOCK}
    dst = rasterio.open(path, "w", **profile)
    dst.write_colormap(1, colormap(scheme))  # before the pixels: GDAL cannot change the photometric tag after
    dst.update_tags(**class_tags(scheme, scheme_name), SOURCE=source, MODEL=model)
    dst.set_band_description(1, BAND_DESCRIPTION if scheme is None else f"land cover ({scheme_name or 'own legend'})")
    return dst


def write_cog(src_path: Path, dst_path: Path, *, nodata: int | None = NODATA,
              resampling: Literal["mode", "average"] = "mode",
              mask: bool = False) -> None:
    """Cloud-Optimized GeoTIFF via rio-cogeo: deflate, 512-px tiles, overviews (mode for classes, average for
    probabilities), tags and colours kept; `mask`: the source has a validity mask (and no nodata value) to keep
    as the COG's internal mask band."""
    from rio_cogeo.cogeo import cog_translate  # rio-cogeo imports a lot; only writers need it
    from rio_cogeo.profiles import cog_profiles

    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=COG_BLOCK, blockysize=COG_BLOCK)
    dst_path = Path(dst_path)
    tmp = dst_path.with_name(f".{dst_path.name}.part")
    # rio-cogeo carries over the palette, band description and dataset tags.
    if mask:  # GDAL's own COG driver keeps a per-dataset mask (rio-cogeo 5 drops it)
        with rasterio.Env(**GDAL_ENV):
            rasterio.shutil.copy(str(src_path), str(tmp), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=COG_BLOCK,
                                 OVERVIEW_RESAMPLING=resampling.upper(), NUM_THREADS="ALL_CPUS")
    else:
        cog_translate(str(src_path), str(tmp), profile, nodata=nodata, overview_resampling=resampling,
                      in_memory=False, quiet=True, config=GDAL_ENV, use_cog_driver=False)
    os.replace(tmp, dst_path)  # atomic: readers never see a half-written map


def file_colormap(src: DatasetReader) -> dict[int, tuple[int, int, int, int]]:
    """The colour table of an open land-cover raster's band 1, or DFC's when it has none."""
    try:
        return {int(k): (int(v[0]), int(v[1]), int(v[2]), int(v[3])) for k, v in src.colormap(1).items()}
    except ValueError:  # no colour table
        return colormap()


def preview_png(path: Path, png_path: Path, max_size: int = 1024) -> Path:
    """RGBA PNG of a land-cover raster in its own colour table (DFC's when it has none), nodata transparent;
    overviews make large maps cheap to read."""
    lut = np.zeros((256, 4), np.uint8)
    with rasterio.Env(**GDAL_ENV), rasterio.open(path) as src:
        for code, rgba in file_colormap(src).items():
            lut[code] = rgba
        lut[NODATA] = (0, 0, 0, 0)
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
