"""XYZ PNG tiles (Web Mercator, 256 px) of stored map COGs, rendered with rio-tiler and cached;
shared by catalogue maps and uploads: classes in their colours, and the per-pixel confidence of a
model map (optionally only where it is below a threshold). Transparent outside the map.

Speed (issue 15): tiles have a cache of their own (settings.CACHES["tiles"]), and each request thread
keeps the last COGs it read open (a small LRU per thread: GDAL datasets must not be shared between
threads), so an uncached tile costs the rendering alone, not opening the file and reading its header
and overview directory again. A stored map never changes in place (a recomputed one is a new file), and
the key holds the file's modification time, so a reader never outlives its file's content. Files are read
through `landcover.storage`: a local path, or /vsis3/ with range requests when results are in an object store."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse

# Imported here, not in a view: a first import from two request threads at once trips
# rio-tiler's circular imports ("partially initialized module").
from morecantile import Tile
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import transform_bounds
from rio_tiler.errors import RioTilerError, TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData

from ml.classes import colormap
from ml.stats import confidence_threshold

from .. import storage
from ..errors import Damaged, NotFound

DAMAGED = "This result's stored file is damaged and cannot be read; an administrator has been told."
# What reading a damaged COG raises: GDAL's errors, an unreadable CRS from a cut header, rio-tiler's own, the OS's.
UNREADABLE = (RasterioError, CRSError, RioTilerError, OSError)

OPEN_READERS = 16  # per request thread
log = logging.getLogger(__name__)
_local = threading.local()


def open_reader(path: Path) -> Reader:
    """A rio-tiler Reader of a stored COG, kept open for later requests of this thread."""
    stat = storage.stat(path)
    key = (str(path), stat.mtime, stat.size)
    readers: OrderedDict[tuple, Reader] = getattr(_local, "readers", None) or OrderedDict()
    _local.readers = readers
    reader = readers.get(key)
    if reader is None:
        reader = readers[key] = Reader(storage.name(path))
        while len(readers) > OPEN_READERS:
            readers.popitem(last=False)[1].close()
    readers.move_to_end(key)
    return reader


class TileTooCostly(TileOutsideBounds):
    """A tile not drawn because of its cost: answered as a tile outside the map is (transparent)."""


def read_cost(reader: Reader, x: int, y: int, z: int) -> float:
    """How many pixels of the file a tile reads: the part of the file it covers, at the file's coarsest
    overview (GDAL reads no coarser level; a file without overviews reads at full resolution)."""
    dataset = reader.dataset
    assert dataset is not None  # an open Reader always has its dataset
    west, south, east, north = transform_bounds(reader.tms.rasterio_crs, dataset.crs, *reader.tms.xy_bounds(Tile(x, y, z)),
                                                densify_pts=21)
    left, bottom, right, top = dataset.bounds
    width, height = min(east, right) - max(west, left), min(north, top) - max(south, bottom)
    if width <= 0 or height <= 0:
        return 0.0
    factor = max(dataset.overviews(1), default=1)
    res_x, res_y = dataset.res
    return (width / (res_x * factor)) * (height / (res_y * factor))


def bounded_tile(reader: Reader, x: int, y: int, z: int, **options) -> ImageData:
    """A 256-px tile, unless it would read more than TILE_MAX_READ_PIXELS of the file (a file whose overviews
    stop short of this zoom: once 13–95 s of web CPU for a z0 tile): then TileTooCostly, answered transparent."""
    if read_cost(reader, x, y, z) > settings.TILE_MAX_READ_PIXELS:
        log.info("tile %s/%s/%s of %s skipped: it would read too many pixels (no overview that coarse)", z, x, y,
                 reader.input)
        raise TileTooCostly(f"tile {z}/{x}/{y} would read too many pixels")
    return reader.tile(x, y, z, tilesize=256, **options)


@lru_cache(maxsize=1)
def empty_tile() -> bytes:
    """A fully transparent 256-px PNG."""
    return ImageData(np.ma.masked_all((1, 256, 256), np.uint8)).render(img_format="PNG")


def render_tile(path: Path, z: int, x: int, y: int) -> bytes:
    """The PNG of tile z/x/y of a single-band class COG in its own colour table (a land-cover map's: DFC's or a
    user's legend; a change map's), DFC's colours for a file without one."""
    try:
        reader = open_reader(path)
        img = bounded_tile(reader, x, y, z, resampling_method="nearest")
    except TileOutsideBounds:
        return empty_tile()
    return img.render(img_format="PNG", colormap=reader.colormap or colormap())


def render_image_tile(path: Path, z: int, x: int, y: int) -> bytes:
    """The PNG of tile z/x/y of a true-colour RGB COG (transparent where it is masked)."""
    try:
        img = bounded_tile(open_reader(path), x, y, z, resampling_method="bilinear")
    except TileOutsideBounds:
        return empty_tile()
    return img.render(img_format="PNG")


@lru_cache(maxsize=64)
def confidence_colormap(min_confidence: float | None) -> dict[int, tuple[int, int, int, int]]:
    """Colours of the confidence band (uint8, ×255): without a threshold, the less sure a pixel the more
    opaque its purple (sure pixels clear); with one, pixels below it in magenta, the rest clear."""
    if min_confidence is None:
        return {v: (59, 15, 112, round(230 * (1 - v / 255))) for v in range(256)}
    level = confidence_threshold(min_confidence)
    return {v: (216, 27, 96, 210) if v < level else (0, 0, 0, 0) for v in range(256)}


def render_confidence_tile(path: Path, z: int, x: int, y: int, min_confidence: float | None) -> bytes:
    """The PNG of tile z/x/y of the confidence band (the last) of a probabilities COG."""
    try:
        cog = open_reader(path)
        assert cog.dataset is not None  # an open Reader always has its dataset
        img = bounded_tile(cog, x, y, z, indexes=(cog.dataset.count,), resampling_method="nearest")
    except TileOutsideBounds:
        return empty_tile()
    return img.render(img_format="PNG", colormap=confidence_colormap(min_confidence))


def tile_response(z: int, x: int, y: int, key: str, path_of: Callable[[], Path], cache_control: str,
                  render: Callable[[Path, int, int, int], bytes] = render_tile) -> HttpResponse:
    """An XYZ PNG tile (coordinates checked by params.check_tile) of a stored COG, from the cache or
    rendered by `render` (classes by default)."""
    cache = caches["tiles"]
    content = cache.get(key)
    if content is None:
        try:
            content = render(path_of(), z, x, y)
        except FileNotFoundError:
            raise NotFound("The result's file is missing on the server; an administrator has been told.") from None
        except storage.StorageUnavailable:
            raise
        except UNREADABLE as exc:  # a truncated or corrupted COG: say so, for this result alone
            raise Damaged(DAMAGED) from exc
        cache.set(key, content, settings.API_CACHE_SECONDS)
    response = HttpResponse(content, content_type="image/png")
    response["Cache-Control"] = cache_control
    return response
