"""Small rasterio helpers whose errors always name the file, and the one way a file somebody else
gave us is opened (`open_geotiff`): as a GeoTIFF and nothing else, whatever it claims to be."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from .errors import PermanentError


class DataError(PermanentError):
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


TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
# GDAL settings for reading files that users sent: a VRT's raw band may not read a local file, no
# network address is fetched (no /vsicurl/ path has this extension), no sidecar file is looked for
# or written. With the GTiff driver alone allowed, a VRT never even opens; these are the second line.
UNTRUSTED_ENV = {"GDAL_VRT_ENABLE_RAWRASTERBAND": "NO", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".hrmars-no-network",
                 "GDAL_HTTP_MAX_RETRY": "0", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_PAM_ENABLED": "NO"}


def is_tiff(head: bytes) -> bool:
    """Whether a file's first bytes are a TIFF's (or BigTIFF's) signature."""
    return head[:4] in TIFF_MAGIC


def _reason(exc: Exception, path: object, name: str) -> str:
    """GDAL's first line of complaint, with the file's path on this machine replaced by its name."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.replace(str(path), name)


@contextmanager
def open_geotiff(source: Path | bytes, name: str | None = None) -> Iterator[DatasetReader]:
    """Open a file (a path, or a file's bytes) as a GeoTIFF and nothing else: its first bytes must be a
    TIFF's and only GDAL's GTiff driver may read it, under UNTRUSTED_ENV. DataError says why not; messages
    name the file by `name`, never by its path on this machine."""
    label = name or (Path(source).name if not isinstance(source, bytes | bytearray) else "the file")
    with rasterio.Env(**UNTRUSTED_ENV):
        if isinstance(source, bytes | bytearray):
            if not is_tiff(bytes(source[:4])):
                raise DataError(f"{label} cannot be read as a GeoTIFF: it is not one (its first bytes say otherwise)")
            with rasterio.MemoryFile(source) as mem:
                try:
                    src = mem.open(driver="GTiff")
                except RasterioError as exc:
                    raise DataError(f"{label} cannot be read as a GeoTIFF ({_reason(exc, mem.name, label)})") from None
                with src:
                    yield src
            return
        path = Path(source)
        try:
            with open(path, "rb") as f:
                head = f.read(4)
        except OSError as exc:
            raise DataError(f"{label} cannot be read ({exc.strerror})") from None
        if not is_tiff(head):
            raise DataError(f"{label} cannot be read as a GeoTIFF: it is not one (its first bytes say otherwise)")
        try:
            src = rasterio.open(path, driver="GTiff")
        except RasterioError as exc:
            raise DataError(f"{label} cannot be read as a GeoTIFF ({_reason(exc, path, label)})") from None
        with src:
            yield src


def sample_windows(width: int, height: int, grid: int = 4, size: int = 256) -> list[Window]:
    """A grid of small windows over an image, the last one at the very end of its pixels."""
    w, h = min(size, width), min(size, height)
    xs = sorted({round(i * (width - w) / max(grid - 1, 1)) for i in range(grid)})
    ys = sorted({round(i * (height - h) / max(grid - 1, 1)) for i in range(grid)})
    return [Window(x, y, w, h) for y in ys for x in xs]


def reflectance_scale(src: DatasetReader) -> float:
    """10000 for a float image holding reflectances (its sampled values lie in 0…2), else 1: what turns the
    file's values into Sentinel-2 digital numbers (DN = reflectance × 10000)."""
    if not np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
        return 1.0
    peak = 0.0
    for window in sample_windows(src.width, src.height, grid=3, size=64):
        block = src.read(window=window, masked=True).astype("float64").filled(np.nan)
        finite = block[np.isfinite(block)]
        if finite.size:
            peak = max(peak, float(finite.max()))
    return 10000.0 if 0 < peak <= 2.0 else 1.0


STACK_ROWS = 512  # rows of the stack written at once: 512 × 10,980 float64 is 45 MB
STACK_CACHE_MB = 128


@dataclass
class StackPlan:
    """The grid of a stack of single-band files, found from their headers: what `write_stack` writes."""
    order: tuple[str, ...]
    crs: CRS
    transform: Affine
    width: int
    height: int
    finest: str
    scales: dict[str, float]  # per band: what turns its values into DNs (10000 for reflectances, else 1)


def plan_stack(sources: Mapping[str, Path | bytes], order: Sequence[str],
               check: Callable[[int, int, CRS | None], None] | None = None,
               opener: Callable[..., AbstractContextManager[DatasetReader]] = open_geotiff) -> StackPlan:
    """The stack's grid from the bands' headers (and a few small windows of each): the finest band's grid.
    Bands must share one CRS and cover the same ground (to within one of their pixels): they are stacked by
    georeference, never by pixel shape. `check(width, height, crs)` runs on the grid (limits, a missing CRS).
    Cheap whatever the bands' size: a web request can afford it, the stacking itself is a job's."""
    grids = {}
    for band in order:
        with opener(sources[band], name=f"band {band}") as src:
            if src.count != 1:
                raise DataError(f"band {band} holds {src.count} bands; give one GeoTIFF per band")
            grids[band] = (src.crs, src.transform, src.width, src.height, src.bounds, reflectance_scale(src))
    crss = {band: grid[0] for band, grid in grids.items()}
    if any(crs is None for crs in crss.values()):
        if check is not None:
            check(0, 0, None)
        raise DataError("a band has no coordinate reference system (CRS)")
    if len({crs.to_string() for crs in crss.values()}) > 1:
        listed = ", ".join(f"{band} in {crs.to_string()}" for band, crs in crss.items())
        raise DataError(f"the bands are in different coordinate reference systems ({listed}); give every band "
                        "in one CRS")
    finest = min(grids, key=lambda band: abs(grids[band][1].a * grids[band][1].e - grids[band][1].b * grids[band][1].d))
    crs, transform, width, height, bounds, _ = grids[finest]
    for band, (_, t, _, _, b, _) in grids.items():
        tolerance = max(abs(t.a), abs(t.e))  # one of this band's pixels
        offset = max(abs(b.left - bounds.left), abs(b.right - bounds.right), abs(b.top - bounds.top),
                     abs(b.bottom - bounds.bottom))
        if offset > tolerance:
            unit = crs.linear_units or "units"
            raise DataError(f"band {band} does not cover the same ground as band {finest}: its edges are "
                            f"{offset:,.0f} {unit} apart; give bands of one tile")
    if check is not None:
        check(width, height, crs)
    return StackPlan(tuple(order), crs, transform, width, height, finest,
                     {band: grid[5] for band, grid in grids.items()})


def write_stack(plan: StackPlan, sources: Mapping[str, Path | bytes], out: Path, tags: dict | None = None,
                opener: Callable[..., AbstractContextManager[DatasetReader]] = open_geotiff,
                progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the planned stack: one uint16 GeoTIFF of DNs, each band resampled bilinearly onto the plan's grid
    and described by its name; float reflectances (0…2) become DNs (× 10000), NaN becomes 0."""
    profile = dict(driver="GTiff", width=plan.width, height=plan.height, count=len(plan.order), dtype="uint16",
                   crs=plan.crs, transform=plan.transform, tiled=True, compress="deflate", BIGTIFF="IF_SAFER")
    # GDAL's block cache (5 % of the machine's memory by default) would otherwise hold a whole tile's bands.
    with rasterio.Env(GDAL_CACHEMAX=STACK_CACHE_MB), rasterio.open(out, "w", **profile) as dst:
        for i, band in enumerate(plan.order, start=1):
            with opener(sources[band], name=f"band {band}") as src:
                # Block by block (memory stays at a block's, whatever the tile's size): each block of the plan's
                # grid reads the band's matching (fractional) window, resampled onto it.
                to_src = ~src.transform * plan.transform
                for y in range(0, plan.height, STACK_ROWS):
                    rows = min(STACK_ROWS, plan.height - y)
                    x0, y0 = to_src * (0, y)
                    x1, y1 = to_src * (plan.width, y + rows)
                    window = Window(x0, y0, x1 - x0, y1 - y0)
                    try:
                        values = src.read(1, window=window, out_shape=(rows, plan.width),
                                          resampling=Resampling.bilinear).astype("float64")
                    except RasterioError as exc:
                        raise DataError(f"band {band}'s pixels cannot be read; is it damaged or truncated? "
                                        f"({_reason(exc, sources[band], f'band {band}')})") from None
                    values = np.nan_to_num(values * plan.scales[band], nan=0.0, posinf=0.0, neginf=0.0)
                    dst.write(np.clip(np.rint(values), 0, 65535).astype(np.uint16), i,
                              window=Window(0, y, plan.width, rows))
            dst.set_band_description(i, band)
            if progress:
                progress(i, len(plan.order))
        if tags:
            dst.update_tags(**tags)
    return Path(out)


def stack_bands(sources: Mapping[str, Path | bytes], order: Sequence[str], out: Path,
                check: Callable[[int, int, CRS | None], None] | None = None, tags: dict | None = None,
                opener: Callable[..., AbstractContextManager[DatasetReader]] = open_geotiff) -> Path:
    """One uint16 GeoTIFF of DNs from one single-band GeoTIFF per band (paths or bytes), on the finest band's
    grid (`plan_stack`, then `write_stack`). Sentinel-2 products and BigEarthNet ship their bands this way.
    `opener` opens one band: GeoTIFFs only by default (users' files); our own downloaded data (JPEG 2000 bands
    of a SAFE product) passes its own."""
    return write_stack(plan_stack(sources, order, check, opener), sources, out, tags, opener)
