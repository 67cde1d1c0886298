"""Validation of users' uploaded Sentinel-2 files, before anything is stored or queued.

Accepted: a multi-band GeoTIFF (4, 10, 12 or 13 bands, or bands described B1…B12/B8A), or a zip
of one GeoTIFF per band (file names ending _B02.tif, B8A.tif, …, as Copernicus products and
BigEarthNet ship them), stacked at the finest band's 10 m grid. Each check below has its own
message; the first that fails ends the upload and its files are removed.
"""
from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import rasterio
from django.conf import settings
from django.contrib.gis.geos import Polygon
from rasterio.enums import Resampling
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from ml.bands import LAYOUTS_BY_COUNT, S2_BANDS, BandError, file_band_names
from ml.outputs import GDAL_ENV
from ml.rasterio_io import DataError, stack_bands

from ..errors import InvalidInput

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
ZIP_MAGIC = b"PK\x03\x04"
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
    path: Path
    width: int
    height: int
    bands: int
    crs: str
    footprint: Polygon


def _check_zip(path: Path, work: Path) -> Path:
    """Safe extraction of per-band GeoTIFFs, then one stacked 10 m GeoTIFF."""
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
        for band in order:
            target = work / f"{band}.tif"
            with archive.open(bands[band]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)  # sizes were checked above
            extracted[band] = target
    return _stack(extracted, order, work / "stacked.tif")


def _stack(files: dict[str, Path], order: list[str], out: Path) -> Path:
    def check(width: int, height: int, crs) -> None:
        if crs is None:
            raise UploadError("The band GeoTIFFs have no coordinate reference system (CRS); georeference them first.")
        _check_size(width, height)

    try:
        return stack_bands(files, order, out, check=check)
    except DataError as exc:
        raise UploadError(f"In the zip, {exc}.") from None


def _check_size(width: int, height: int) -> None:
    limit = settings.UPLOAD_MAX_SIDE
    if width > limit or height > limit:
        raise UploadError(f"The image is {width:,} × {height:,} pixels; at most {limit:,} × {limit:,} are accepted "
                          "(a full Sentinel-2 tile is 10,980 × 10,980). Cut it into parts.")


def _sample_windows(width: int, height: int, grid: int = 4, size: int = 256) -> list[Window]:
    """A grid of small windows over the image, the last one at the very end of the file's pixels."""
    w, h = min(size, width), min(size, height)
    xs = sorted({round(i * (width - w) / (grid - 1)) for i in range(grid)})
    ys = sorted({round(i * (height - h) / (grid - 1)) for i in range(grid)})
    return [Window(x, y, w, h) for y in ys for x in xs]


def _has_data(src, windows) -> bool:
    """Any finite, non-zero, non-nodata pixel in the windows (None: a decimated read of the whole
    image, the slow fallback when the sample windows are all empty, e.g. a tile at a swath edge)."""
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


def check_file(path: Path, original_name: str, work: Path, needed_bands=()) -> Checked:
    """Every check, in order; returns the GeoTIFF to map (the upload itself or the stacked zip)."""
    size = path.stat().st_size
    if size > settings.UPLOAD_MAX_MB * 1024 * 1024:
        raise UploadError(f"The file is {size / 2**20:,.0f} MB; at most {settings.UPLOAD_MAX_MB:,} MB are accepted.")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZIP_MAGIC:
        path = _check_zip(path, work)
    elif head not in TIFF_MAGIC:
        raise UploadError(f"{original_name} is not a GeoTIFF or a zip of GeoTIFFs (its first bytes say otherwise).")
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioError as exc:
        raise UploadError(f"{original_name} cannot be read as a GeoTIFF; is it damaged or truncated? "
                          f"({str(exc).splitlines()[0]})") from None
    with rasterio.Env(**GDAL_ENV), src:  # a small block cache: validation must not hold the file in memory
        _check_size(src.width, src.height)
        if src.crs is None:
            raise UploadError(f"{original_name} has no coordinate reference system (CRS); georeference it first "
                              "(e.g. gdal_translate -a_srs EPSG:326xx).")
        if src.transform.is_identity:
            raise UploadError(f"{original_name} has no georeferencing transform; georeference it first.")
        if src.dtypes[0] not in SUPPORTED_DTYPES:
            raise UploadError(f"{original_name} holds {src.dtypes[0]} data; Sentinel-2 bands are integers (uint16) "
                              "or reflectances (float32).")
        try:
            names = file_band_names(src.descriptions, src.count, original_name)
        except BandError:
            raise UploadError(f"{original_name} has {src.count} band(s); give 4 (B2, B3, B4, B8), 10, 12 (L2A) or 13 "
                              "(L1C) Sentinel-2 bands, or describe the bands as B1…B12/B8A.") from None
        missing = [b for b in needed_bands if b not in names]
        if missing:
            raise UploadError(f"{original_name} lacks band(s) {', '.join(missing)}, which the model needs.")
        try:
            if not _has_data(src, _sample_windows(src.width, src.height)) and not _has_data(src, None):
                raise UploadError(f"{original_name} holds no data: every pixel is zero, nodata or NaN.")
        except rasterio.errors.RasterioError as exc:
            raise UploadError(f"{original_name} is damaged or truncated: its pixels cannot be read "
                              f"({str(exc).splitlines()[0]}).") from None
        b = src.bounds
        xs, ys = warp_transform(src.crs, "EPSG:4326", [b.left, b.right, b.right, b.left], [b.top, b.top, b.bottom,
                                                                                        b.bottom])
        ring = list(zip(xs, ys))
        return Checked(Path(path), src.width, src.height, src.count, src.crs.to_string(),
                       Polygon(ring + [ring[0]], srid=4326))
