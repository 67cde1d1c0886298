"""Validation of users' uploaded Sentinel-2 files, before anything is stored or queued.

Accepted: a multi-band GeoTIFF (4, 10, 12 or 13 bands, or bands described B1…B12/B8A), or a zip
of one GeoTIFF per band (file names ending _B02.tif, B8A.tif, …, as Copernicus products and
BigEarthNet ship them), stacked at the finest band's 10 m grid. Each check below has its own
message; the first that fails ends the upload and its files are removed. The web process reads headers and
a few small windows only: a zip's bands are checked here but stacked by the upload's job (a 1.2 MB zip of
constant 10,980² bands once took 19 s and 4 GB in the web process).
"""
from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import rasterio
from affine import Affine
from django.conf import settings
from django.contrib.gis.geos import Polygon
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.transform import array_bounds
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from ml.bands import LAYOUTS_BY_COUNT, S2_BANDS, BandError, file_band_names
from ml.levels import image_level
from ml.outputs import GDAL_ENV
from ml.rasterio_io import DataError, is_tiff, open_geotiff, plan_stack, sample_windows

from ..errors import InvalidInput
from .zips import member_errors

ZIP_MAGIC = b"PK\x03\x04"
MAX_BLOCK_PIXELS = 4096 * 4096      # per strip or tile (a 10,980-px-wide strip of 256 rows is 2.8 M)
WHOLE_READ_PIXELS = 4096 * 4096     # images up to this size are also checked whole for data
SUPPORTED_DTYPES = {"uint8", "uint16", "int16", "uint32", "int32", "float32", "float64"}
MAX_ZIP_MEMBERS = 30
MAX_ZIP_RATIO = 200  # uncompressed / compressed, per member: more is a zip bomb
BAND_IN_NAME = re.compile(r"(?:^|[_\-.])B(8A|0?[1-9]|1[0-2])\.(?:tif|tiff)$", re.IGNORECASE)


class UploadError(InvalidInput):
    """The uploaded file is refused; the message says why, for a person to act on."""

    def __init__(self, message: str) -> None:
        super().__init__("file", message)

    def body(self) -> dict:
        """Form-field errors come as a list, as DRF's form validation gives them."""
        return {"file": [self.message]}


@dataclass
class Checked:
    """What the checks found: the GeoTIFF to map, or the folder of band files its job stacks first."""
    path: Path
    width: int
    height: int
    bands: int
    crs: str
    footprint: Polygon
    level: str | None = None  # the Sentinel-2 processing level, when the file or its name says (ml.levels)


def copy_at_most(src, dst, size: int, chunk: int = 1 << 20) -> None:
    """Copy a zip member of the declared `size`; one that holds more is refused (its header lied)."""
    left = size
    while data := src.read(min(chunk, left + 1)):
        left -= len(data)
        if left < 0:
            raise UploadError("The zip file is damaged or cannot be read (a member holds more than its header says).")
        dst.write(data)


def _check_zip(path: Path, work: Path, zip_name: str, needed_bands: Sequence[str]) -> Checked:
    """Safe extraction of per-band GeoTIFFs into `work`/bands, checked as the stack they will make."""
    max_bytes = settings.UPLOAD_MAX_MB * 1024 * 1024
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"The zip file is damaged or truncated ({exc}).") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise UploadError("The zip file is empty.")
        if len(members) > MAX_ZIP_MEMBERS:
            raise UploadError(f"The zip holds {len(members)} files; at most {MAX_ZIP_MEMBERS} (one per band) are "
                              "accepted.")
        total = 0
        bands: dict[str, zipfile.ZipInfo] = {}
        for m in members:
            name = PurePosixPath(m.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or ":" in m.filename:
                raise UploadError(f"The zip contains an unsafe path ({m.filename!r}); paths must stay inside the "
                                  "archive.")
            total += m.file_size
            if total > max_bytes:
                raise UploadError(f"The zip unpacks to more than {settings.UPLOAD_MAX_MB} MB, the upload limit.")
            if m.compress_size and m.file_size / m.compress_size > MAX_ZIP_RATIO:
                raise UploadError(f"{m.filename} expands {m.file_size // max(m.compress_size, 1)}-fold: refused as "
                                  "a possible zip bomb.")
            found = BAND_IN_NAME.search(name.name)
            if found:
                code = found.group(1).upper()
                band = "B8A" if code == "8A" else f"B{int(code)}"
                bands[band] = m
        if not bands:
            raise UploadError("The zip holds no band GeoTIFFs: name them like T32UPU_B02.tif … B12.tif (one per band).")
        order = [b for b in S2_BANDS if b in bands]
        layout = next((n for n, names in LAYOUTS_BY_COUNT.items() if tuple(order) == tuple(names)), None)
        if layout is None:
            raise UploadError(f"The zip holds bands {', '.join(order)}; give 4 (B2, B3, B4, B8), 10, 12 or 13 "
                              "Sentinel-2 bands.")
        extracted = {}
        (work / "bands").mkdir()
        with member_errors(UploadError):
            for band in order:
                target = work / "bands" / f"{band}.tif"
                with archive.open(bands[band]) as src, open(target, "wb") as dst:
                    copy_at_most(src, dst, bands[band].file_size)  # a false size cannot write more
                extracted[band] = target
    return _check_bands(extracted, order, zip_name, needed_bands)


def _check_bands(files: dict[str, Path], order: list[str], name: str, needed_bands: Sequence[str]) -> Checked:
    """The bands' grid from their headers (`ml.rasterio_io.plan_stack`), footprint and data, as for a GeoTIFF."""
    def check(width: int, height: int, crs: CRS | None) -> None:
        if crs is None:
            raise UploadError("The band GeoTIFFs have no coordinate reference system (CRS); georeference them first.")
        _check_size(width, height)

    try:
        plan = plan_stack(files, order, check=check)
    except DataError as exc:
        raise UploadError(f"In {name}, {exc}.") from None
    missing = [b for b in needed_bands if b not in order]
    if missing:
        raise UploadError(f"{name} lacks band(s) {', '.join(missing)}, which the model needs.")
    footprint = _footprint(plan.crs, plan.transform, plan.width, plan.height, name)
    with rasterio.Env(**GDAL_ENV), open_geotiff(files[plan.finest], name=f"band {plan.finest}") as src:
        _check_blocks(src, name)
        _check_data(src, files[plan.finest], name)
    level = image_level({}, order, len(order), name)
    return Checked(files[order[0]].parent, plan.width, plan.height, len(order), plan.crs.to_string(), footprint,
                   level)


def _check_size(width: int, height: int) -> None:
    limit = settings.UPLOAD_MAX_SIDE
    if width > limit or height > limit:
        raise UploadError(f"The image is {width:,} × {height:,} pixels; at most {limit:,} × {limit:,} are accepted "
                          "(a full Sentinel-2 tile is 10,980 × 10,980). Cut it into parts.")


def _check_blocks(src: DatasetReader, name: str) -> None:
    """Each of the file's blocks (strips or tiles) must be small enough to decompress cheaply: a whole image
    stored as one block would make every read decompress all of it (seconds of a web worker per upload)."""
    rows, cols = src.block_shapes[0]
    pixels = rows * cols * (src.count if src.interleaving and src.interleaving.name == "PIXEL" else 1)
    if pixels > MAX_BLOCK_PIXELS:
        raise UploadError(f"{name} stores its pixels in blocks of {cols:,} × {rows:,}; write it tiled or in strips "
                          "(e.g. gdal_translate -co TILED=YES in.tif out.tif) and upload it again.")


def _has_data(src: DatasetReader, windows: list[Window] | None) -> bool:
    """Any finite, non-zero, non-nodata pixel in the windows (None: a decimated read of the whole image, the
    fallback when the sample windows are all empty, e.g. a tile at a swath edge; only for small images)."""
    if windows is None:
        blocks = [src.read(out_shape=(src.count, min(src.height, 512), min(src.width, 512)),
                           resampling=Resampling.nearest, masked=True)]
    else:
        blocks = [src.read(window=window, masked=True) for window in windows]
    for block in blocks:
        values = np.ma.filled(block.astype("float64"), 0)
        if np.any(np.isfinite(values) & (values != 0)):
            return True
    return False


def _footprint(crs: CRS, t: Affine, width: int, height: int, name: str) -> Polygon:
    """The image's outline in longitude/latitude, or UploadError when its georeference cannot be right."""
    if not all(math.isfinite(v) for v in tuple(t)[:6]):
        raise UploadError(f"{name} has a georeferencing transform with infinite or undefined numbers; "
                          "georeference it again.")
    if t.a * t.e - t.b * t.d == 0:
        raise UploadError(f"{name} has a pixel size of zero; georeference it again.")
    west, south, east, north = array_bounds(height, width, t)
    corners_x = [west, east, east, west]
    corners_y = [north, north, south, south]
    try:
        lons, lats = warp_transform(crs, "EPSG:4326", corners_x, corners_y)
    except (rasterio.errors.RasterioError, CPLE_BaseError, ValueError, OverflowError):  # PROJ or GDAL refused
        lons, lats = [math.nan], [math.nan]
    if not all(math.isfinite(v) for v in (*lons, *lats)) or not (
            all(-180 <= v <= 180 for v in lons) and all(-90 <= v <= 90 for v in lats)):
        raise UploadError(f"{name} lies outside the Earth in its coordinate reference system ({crs.to_string()}): "
                          "its corners do not convert to longitudes and latitudes. Check its CRS and georeference.")
    ring = list(zip(lons, lats))
    polygon = Polygon(ring + [ring[0]], srid=4326)
    if not polygon.valid or polygon.area == 0:
        raise UploadError(f"{name} has a degenerate outline in longitude/latitude; check its georeference.")
    return polygon


def check_file(path: Path, original_name: str, work: Path, needed_bands: Sequence[str] = ()) -> Checked:
    """Every check, in order; returns the GeoTIFF to map (the upload itself or the stacked zip).

    The work is bounded whatever the file: header checks, then at most a grid of small windows (the whole
    image only when it is small), each read from blocks that are small by the check above."""
    size = path.stat().st_size
    if size > settings.UPLOAD_MAX_MB * 1024 * 1024:
        raise UploadError(f"The file is {size / 2**20:,.0f} MB; at most {settings.UPLOAD_MAX_MB:,} MB are accepted.")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZIP_MAGIC:
        return _check_zip(path, work, original_name, needed_bands)
    if not is_tiff(head):
        raise UploadError(f"{original_name} is not a GeoTIFF or a zip of GeoTIFFs (its first bytes say otherwise).")
    try:
        with rasterio.Env(**GDAL_ENV), open_geotiff(path, name=original_name) as src:
            return _check_geotiff(src, path, original_name, needed_bands)
    except DataError as exc:
        raise UploadError(f"{exc}; is it damaged or truncated?") from None


def _check_geotiff(src: DatasetReader, path: Path, name: str, needed_bands: Sequence[str]) -> Checked:
    _check_size(src.width, src.height)
    _check_blocks(src, name)
    if src.crs is None:
        raise UploadError(f"{name} has no coordinate reference system (CRS); georeference it first "
                          "(e.g. gdal_translate -a_srs EPSG:326xx).")
    if src.transform.is_identity:
        raise UploadError(f"{name} has no georeferencing transform; georeference it first.")
    if src.dtypes[0] not in SUPPORTED_DTYPES:
        raise UploadError(f"{name} holds {src.dtypes[0]} data; Sentinel-2 bands are integers (uint16) "
                          "or reflectances (float32).")
    try:
        names = file_band_names(src.descriptions, src.count, name)
    except BandError:
        raise UploadError(f"{name} has {src.count} band(s); give 4 (B2, B3, B4, B8), 10, 12 (L2A) or 13 "
                          "(L1C) Sentinel-2 bands, or describe the bands as B1…B12/B8A.") from None
    missing = [b for b in needed_bands if b not in names]
    if missing:
        raise UploadError(f"{name} lacks band(s) {', '.join(missing)}, which the model needs.")
    footprint = _footprint(src.crs, src.transform, src.width, src.height, name)
    _check_data(src, path, name)
    level = image_level(src.tags(), src.descriptions, src.count, name)
    return Checked(path, src.width, src.height, src.count, src.crs.to_string(), footprint, level)


def _check_data(src: DatasetReader, path: Path, name: str) -> None:
    """UploadError unless the image holds data where sampled (or, when small, anywhere)."""
    small = src.width * src.height <= WHOLE_READ_PIXELS
    try:
        if not _has_data(src, sample_windows(src.width, src.height)) and (not small or not _has_data(src, None)):
            if small:
                raise UploadError(f"{name} holds no data: every pixel is zero, nodata or NaN.")
            raise UploadError(f"{name} holds no data where it was sampled (16 windows across the image, every "
                              "pixel zero, nodata or NaN); crop it to where it has data.")
    except rasterio.errors.RasterioError as exc:
        raise UploadError(f"{name} is damaged or truncated: its pixels cannot be read "
                          f"({str(exc).splitlines()[0].replace(str(path), name)}).") from None
