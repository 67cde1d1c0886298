"""Sentinel-2 pixels of any area of interest: imagery sources behind one interface, scene choice,
cloud masks, and one 10 m mosaic on the area's UTM grid that any model of ours can map.

Why: the site could only map the patches it had catalogued. A user asks for an area (a polygon in
lon/lat) and dates; this module answers with a GeoTIFF of that area's pixels, whatever holds them:

- `StacSource`: a STAC API (pystac-client), Sentinel-2 L1C or L2A collections. Only the area's window
  of each band is read from the assets' COGs, over HTTP range requests (GDAL's /vsicurl/, settings in
  `HTTP_ENV`). Asset hrefs must be http(s): a remote catalogue cannot make us open local files.
- `LocalCatalogue`: GeoTIFFs already on this machine (the demo scene, the real catalogue patches);
  any window inside them, not only whole files.

Both return `Item`s (one acquisition: its bands, its scene classification band if any, its DN offset,
its cloud cover as the provider says). `fetch_area` then

1. ranks the candidates by how much of the area each shows clear of clouds, measured on a coarse
   grid (160 m, about the resolution s2cloudless was trained at; COG overviews make this cheap);
2. builds the mosaic block by block at 10 m: each pixel from the best-ranked item that has clear data
   there, so overlapping scenes fill each other's clouds and adjacent scenes join at their edges;
3. masks clouds: s2cloudless (its LightGBM model ships in the PyPI package) for L1C, the scene
   classification band (SCL: cloud shadow, medium and high probability cloud, cirrus) for L2A;
4. harmonises DNs to the pre-04.00 convention (the −1000 offset of processing baseline 04.00+, from
   the item's `raster:bands` metadata or its baseline) so every model sees the values it was trained on;
5. writes the bands (uint16, band descriptions B1…B12, 0 = nodata) with everything outside the
   polygon, cloudy or without imagery set to 0, and a true-colour RGB COG of the pixels used.

Cloud, missing and used pixels are counted inside the polygon, so statistics can say what share of
the area was cloud rather than guessing a class for it.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.io import DatasetReader
from rasterio.transform import Affine, from_origin
from rasterio.warp import reproject, transform_bounds, transform_geom
from rasterio.windows import Window, from_bounds

from .bands import S2_BANDS, canonical_band, file_band_names
from .outputs import GDAL_ENV, write_cog

RESOLUTION = 10.0          # metres: the mosaic's pixel
COARSE = 160.0             # metres: the grid on which candidates are ranked by clear pixels
CLOUD_RESOLUTION = 60.0    # metres: s2cloudless runs here (it was trained on 160 m; 60 m keeps small clouds)
BLOCK_ROWS = 1024          # rows of the mosaic built at a time (memory grows with width × this)
WARP_THREADS = os.cpu_count() or 1
SCL_CLOUD = (3, 8, 9, 10)  # cloud shadow, cloud medium / high probability, thin cirrus
SCL_NODATA = 0
S2CLOUDLESS_BANDS = ("B1", "B2", "B4", "B5", "B8", "B8A", "B9", "B10", "B11", "B12")
RGB = ("B4", "B3", "B2")
RGB_MAX_REFLECTANCE = 0.3  # true colour stretched 0–0.3 reflectance → 0–255
# GDAL's HTTP settings for reading COG windows: no directory listing on open, only raster suffixes,
# neighbouring ranges merged into one request, retries on 429/5xx, a cache of what was read.
HTTP_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
            "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES", "GDAL_HTTP_MULTIPLEX": "YES", "GDAL_HTTP_MAX_RETRY": "3",
            "GDAL_HTTP_RETRY_DELAY": "1", "GDAL_HTTP_TIMEOUT": "60", "VSI_CACHE": "TRUE",
            "GDAL_INGESTED_BYTES_AT_OPEN": "32768"}
# Common names of Sentinel-2 bands in STAC (Earth Search's asset keys) → our band names.
COMMON_NAMES = {"coastal": "B1", "blue": "B2", "green": "B3", "red": "B4", "rededge1": "B5", "rededge2": "B6",
                "rededge3": "B7", "nir": "B8", "nir08": "B8A", "nir09": "B9", "cirrus": "B10", "swir16": "B11",
                "swir22": "B12"}

Progress = Callable[[int, int], None]


class ImageryError(ValueError):
    """No usable imagery for the area, or an imagery source cannot be used; the message says why."""


@dataclass(frozen=True)
class BandAsset:
    """Where one band lies: a file path or http(s) URL, and the band's index in that file."""

    href: str
    index: int = 1


@dataclass
class Item:
    """One Sentinel-2 acquisition as a source offers it."""

    id: str
    source: str                       # which source found it ("stac: URL collection", "local")
    level: str                        # "L1C" or "L2A"
    datetime: datetime | None         # None: the source does not know (a local file without a date)
    cloud_cover: float | None         # % of the whole scene, as the provider says; None: unknown
    footprint: dict                   # GeoJSON geometry, lon/lat
    bands: dict[str, BandAsset]       # our band names (B1…B12, B8A) → assets
    scl: BandAsset | None = None      # the L2A scene classification band, if offered
    dn_offset: float = 0.0            # added to DNs to reach the pre-04.00 convention (−1000 from 04.00 on)
    properties: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """What a result says about this item."""
        return {"id": self.id, "source": self.source, "level": self.level,
                "datetime": self.datetime.isoformat() if self.datetime else None, "cloud_cover": self.cloud_cover,
                "dn_offset": self.dn_offset,
                "cloud_mask": "SCL" if self.scl else ("s2cloudless" if self.level == "L1C" else "none")}


@dataclass(frozen=True)
class Query:
    """What imagery is asked for: an area (GeoJSON Polygon or MultiPolygon, lon/lat) and a date range."""

    geometry: dict
    start: date | None = None
    end: date | None = None
    max_cloud: float = 100.0  # % of the scene, as the provider reports it

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """west, south, east, north of the area."""
        xs, ys = zip(*coordinates(self.geometry))
        return min(xs), min(ys), max(xs), max(ys)

    def accepts(self, item: Item) -> bool:
        """Whether an item's date and cloud cover fit the query (an unknown date or cloud cover fits)."""
        when = item.datetime.date() if item.datetime else None
        if when is not None and ((self.start and when < self.start) or (self.end and when > self.end)):
            return False
        return item.cloud_cover is None or item.cloud_cover <= self.max_cloud


class ImagerySource(Protocol):
    """Anything that finds Sentinel-2 items over an area."""

    name: str

    def search(self, query: Query) -> list[Item]:
        """Items whose footprint meets the area, within the dates and cloud cover asked."""
        ...


def coordinates(geometry: dict) -> Iterable[tuple[float, float]]:
    """Every (x, y) position of a GeoJSON Polygon or MultiPolygon."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    for polygon in polygons:
        for ring in polygon:
            for x, y, *_ in ring:
                yield float(x), float(y)


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

    def coarser(self, resolution: float) -> Grid:
        """The same extent on pixels of `resolution` (rounded up to cover it)."""
        factor = resolution / abs(self.transform.a)
        return Grid(self.crs, self.transform * Affine.scale(factor), max(1, math.ceil(self.width / factor)),
                    max(1, math.ceil(self.height / factor)))


def area_grid(geometry: dict, resolution: float = RESOLUTION) -> Grid:
    """The 10 m grid of the area's UTM zone covering the area, snapped to whole multiples of the pixel."""
    west, south, east, north = Query(geometry).bounds
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


class OpenItem:
    """An item's band files, opened once for the whole mosaic."""

    def __init__(self, item: Item, bands: Sequence[str], stack: ExitStack) -> None:
        """Open the files of `bands` (and of SCL) of `item`, each file once."""
        self.item = item
        files: dict[str, DatasetReader] = {}

        def open_href(href: str) -> DatasetReader:
            if href not in files:
                try:
                    files[href] = stack.enter_context(rasterio.open(href))
                except rasterio.errors.RasterioIOError as exc:
                    raise ImageryError(f"{item.id}: cannot read {href.rsplit('/', 1)[-1]} "
                                       f"({str(exc).splitlines()[0][:200]})") from None
            return files[href]

        self.bands = {b: (open_href(item.bands[b].href), item.bands[b].index) for b in bands}
        self.scl = (open_href(item.scl.href), item.scl.index) if item.scl else None

    def read(self, bands: Sequence[str], grid: Grid) -> np.ndarray:
        """(bands, rows, cols) DNs on `grid`, harmonised by the item's offset; 0 = nodata."""
        out = np.zeros((len(bands), grid.height, grid.width), np.float32)
        for i, band in enumerate(bands):
            src, index = self.bands[band]
            out[i] = read_band(src, index, grid, Resampling.bilinear)
        valid = np.all(out > 0, axis=0)
        if self.item.dn_offset:
            out = np.where(valid, np.maximum(out + self.item.dn_offset, 1), 0)
        out[:, ~valid] = 0
        return out

    def clouds(self, grid: Grid) -> np.ndarray:
        """Which pixels of `grid` are cloud or cloud shadow (False where the item has no mask)."""
        if self.scl is not None:
            scl = read_band(self.scl[0], self.scl[1], grid, Resampling.nearest)
            return np.isin(scl.astype(np.uint8), SCL_CLOUD)
        if self.item.level != "L1C" or not all(b in self.bands for b in S2CLOUDLESS_BANDS):
            return np.zeros((grid.height, grid.width), bool)
        coarse = grid.coarser(max(CLOUD_RESOLUTION, abs(grid.transform.a)))
        mask = s2cloudless_mask(self.read(S2CLOUDLESS_BANDS, coarse))
        full = np.zeros((grid.height, grid.width), np.uint8)
        reproject(mask.astype(np.uint8), full, src_transform=coarse.transform, src_crs=grid.crs,
                  dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.nearest)
        return full.astype(bool)


_detector: Any = None


def s2cloudless_mask(dns: np.ndarray) -> np.ndarray:
    """Cloud mask (rows, cols) of L1C DNs (10, rows, cols) in the band order of S2CLOUDLESS_BANDS, by
    s2cloudless at its documented settings for ~60–160 m pixels (threshold 0.4, average over 4, dilate 2)."""
    global _detector
    if _detector is None:
        # Imported here: LightGBM and OpenCV load only when an L1C scene needs a cloud mask.
        from s2cloudless import S2PixelCloudDetector
        _detector = S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=False)
    valid = np.all(dns > 0, axis=0)
    if not valid.any():
        return np.zeros(valid.shape, bool)
    reflectance = np.moveaxis(np.clip(dns / 10000.0, 0, 1), 0, -1)[None].astype(np.float32)
    return (_detector.get_cloud_masks(reflectance)[0] > 0) & valid


@dataclass
class AreaImagery:
    """The mosaic of an area: files written, the grid, and what each pixel of the area became."""

    path: Path                      # bands, uint16, 0 outside the area, cloud or without imagery
    rgb_path: Path                  # true colour of the pixels used (COG, uint8, masked elsewhere)
    grid: Grid
    bands: tuple[str, ...]
    area_pixels: int                # pixel centres inside the polygon
    clear_pixels: int               # … with clear imagery (the pixels mapped)
    cloud_pixels: int               # … with imagery, but cloud or shadow in every item
    missing_pixels: int             # … no item has data there
    items: list[dict]               # the items used, each with its share of the clear pixels

    def summary(self) -> dict:
        """JSON-ready: the counts, shares of the area and the items used."""
        def share(n: int) -> float:
            return round(100.0 * n / self.area_pixels, 4) if self.area_pixels else 0.0
        return {"crs": self.grid.crs.to_string(), "width": self.grid.width, "height": self.grid.height,
                "area_pixels": self.area_pixels, "clear_pixels": self.clear_pixels, "cloud_pixels": self.cloud_pixels,
                "missing_pixels": self.missing_pixels, "cloud_percent": share(self.cloud_pixels),
                "missing_percent": share(self.missing_pixels), "items": self.items}


def common_bands(items: Sequence[Item], wanted: Sequence[str] | None) -> tuple[str, ...]:
    """The bands to mosaic: `wanted` (else all 13) that every item has, in S2 order."""
    names = [b for b in S2_BANDS if (wanted is None or b in wanted) and all(b in i.bands for i in items)]
    if not names:
        raise ImageryError("the scenes found have no bands in common with what the model needs")
    return tuple(names)


def rank(items: Sequence[OpenItem], geometry: dict, grid: Grid, bands: Sequence[str]) -> list[tuple[OpenItem, float]]:
    """Items by the share of the area they show clear of clouds (on a 160 m grid), best first; ties by the
    provider's cloud cover, then the newest."""
    coarse = grid.coarser(COARSE)
    area = inside(geometry, coarse)
    total = max(1, int(area.sum()))
    scored = []
    for item in items:
        data = item.read(bands[:1], coarse)[0] > 0
        clear = data & ~item.clouds(coarse) & area
        scored.append((item, clear.sum() / total))
    scored.sort(key=lambda s: (-round(float(s[1]), 3), s[0].item.cloud_cover if s[0].item.cloud_cover is not None
                               else 100.0, -(s[0].item.datetime.timestamp() if s[0].item.datetime else 0)))
    return scored


def fetch_area(query: Query, items: Sequence[Item], out_dir: Path, *, bands: Sequence[str] | None = None,
               max_items: int = 6, progress: Progress | None = None) -> AreaImagery:
    """The area's mosaic from the best of `items` (see the module docstring) as `out_dir`/source.tif and
    `out_dir`/image.tif; ImageryError when no item shows any of it."""
    items = [i for i in items if query.accepts(i)]
    if not items:
        raise ImageryError("no Sentinel-2 scene covers this area within the dates and cloud cover asked; widen the "
                           "dates or raise the cloud limit")
    items = sorted(items, key=lambda i: i.cloud_cover if i.cloud_cover is not None else 100.0)[:max_items]
    names = common_bands(items, bands)
    rgb_names = [b for b in RGB if b in names]
    grid = area_grid(query.geometry)
    out_dir.mkdir(parents=True, exist_ok=True)
    path, rgb_tmp, rgb_path = out_dir / "source.tif", out_dir / ".image.tif", out_dir / "image.tif"
    counts = {"area": 0, "clear": 0, "cloud": 0}
    used: dict[int, int] = {}
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(**GDAL_ENV, **HTTP_ENV))
        opened = [OpenItem(i, names, stack) for i in items]
        ranked = rank(opened, query.geometry, grid, names)
        ranked = [(item, score) for item, score in ranked if score > 0] or ranked[:1]
        profile = {"driver": "GTiff", "crs": grid.crs, "transform": grid.transform, "width": grid.width,
                   "height": grid.height, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
                   "BIGTIFF": "IF_SAFER"}
        dst = stack.enter_context(rasterio.open(path, "w", **profile, count=len(names), dtype="uint16", nodata=0))
        rgb = stack.enter_context(rasterio.open(rgb_tmp, "w", **profile, count=3, dtype="uint8", nodata=None,
                                                photometric="RGB"))
        blocks = range(0, grid.height, BLOCK_ROWS)
        for k, y in enumerate(blocks):
            block = grid.rows(y, min(BLOCK_ROWS, grid.height - y))
            area = inside(query.geometry, block)
            mosaic = np.zeros((len(names), block.height, block.width), np.float32)
            filled = ~area                       # outside the polygon counts as done
            cloudy = np.zeros(area.shape, bool)  # seen, but cloud in every item so far
            for n, (item, _) in enumerate(ranked):
                if filled.all():
                    break
                data = item.read(names, block)
                has = data[0] > 0
                clouds = item.clouds(block) & has
                take = has & ~clouds & ~filled
                np.copyto(mosaic, data, where=take)
                filled |= take
                cloudy |= clouds
                used[n] = used.get(n, 0) + int(take.sum())
            clear = area & filled
            cloudy &= ~filled
            counts["area"] += int(area.sum())
            counts["clear"] += int(clear.sum())
            counts["cloud"] += int(cloudy.sum())
            np.copyto(mosaic, 0, where=~clear)
            window = Window(0, y, block.width, block.height)
            dst.write(np.clip(np.round(mosaic), 0, 65535).astype(np.uint16), window=window)
            if len(rgb_names) == 3:
                colour = np.clip(mosaic[[names.index(b) for b in rgb_names]] / 10000.0 / RGB_MAX_REFLECTANCE * 255,
                                 0, 255).astype(np.uint8)
                rgb.write(colour, window=window)
                rgb.write_mask(np.where(clear, 255, 0).astype(np.uint8), window=window)
            if progress:
                progress(k + 1, len(blocks))
        for i, band in enumerate(names, start=1):
            dst.set_band_description(i, band)
        dst.update_tags(SOURCE="; ".join(sorted({item.item.source for item, _ in ranked})),
                        ITEMS=",".join(item.item.id for item, _ in ranked))
    write_cog(rgb_tmp, rgb_path, nodata=None, resampling="average", mask=True)
    rgb_tmp.unlink()
    clear_total = max(1, counts["clear"])
    summaries = [{**item.item.summary(), "coverage_score": round(float(score), 4),
                  "pixels": used.get(n, 0), "percent_of_mapped": round(100.0 * used.get(n, 0) / clear_total, 4)}
                 for n, (item, score) in enumerate(ranked) if used.get(n, 0)]
    if not counts["clear"]:
        hint = "every scene found is cloudy there" if counts["cloud"] else "no scene found has pixels there"
        raise ImageryError(f"no clear imagery inside this area: {hint}; widen the dates or choose another area")
    return AreaImagery(path, rgb_path, grid, names, counts["area"], counts["clear"], counts["cloud"],
                       counts["area"] - counts["clear"] - counts["cloud"], summaries)


# ---------------------------------------------------------------------------------------------- sources

def baseline_offset(baseline: str | None) -> float:
    """The DN offset of processing baseline 04.00 and later (L1C and L2A): −1000; older: 0."""
    return -1000.0 if baseline and re.fullmatch(r"\d{2}\.\d{2}", baseline) and baseline >= "04.00" else 0.0


def band_of_asset(key: str, asset: dict) -> str | None:
    """Our band name for a STAC asset: its key (B04, B04_10m, red) or its eo:bands / bands name."""
    base = key.lower().split("_")[0]
    if base in COMMON_NAMES:
        return COMMON_NAMES[base]
    if re.fullmatch(r"b(0?\d|1[0-2]|8a)", base):
        return canonical_band(base.upper())
    described = asset.get("eo:bands", []) or asset.get("bands", [])
    if len(described) == 1 and base not in ("visual", "tci", "preview", "overview", "thumbnail"):
        return canonical_band(described[0].get("name", "") or "")  # one band: a key like "image" named by its metadata
    return None


def _is_raster(asset: dict) -> bool:
    media = asset.get("type", "")
    return "tiff" in media or asset.get("href", "").lower().split("?")[0].endswith((".tif", ".tiff"))


def item_from_stac(item: dict, source: str) -> Item:
    """Our Item of a STAC Sentinel-2 item (Earth Search, Planetary Computer or CDSE layouts); ImageryError
    when it is not a Sentinel-2 L1C/L2A item with GeoTIFF bands over http(s)."""
    props = item.get("properties", {})
    text = " ".join(str(v) for v in (item.get("collection", ""), props.get("s2:product_type", ""),
                                     props.get("processing:level", ""), props.get("product:type", ""))).upper()
    level = "L2A" if ("L2A" in text or "2A" in props.get("s2:product_type", "")) else "L1C" if (
        "L1C" in text or "1C" in props.get("s2:product_type", "")) else None
    if level is None:
        raise ImageryError(f"STAC item {item.get('id')}: not a Sentinel-2 L1C or L2A item")
    bands: dict[str, BandAsset] = {}
    scl = None
    offsets = []
    for key, asset in item.get("assets", {}).items():
        href = asset.get("href", "")
        if not _is_raster(asset) or not href.startswith(("http://", "https://")):
            continue
        if key.upper().split("_")[0] == "SCL":
            scl = BandAsset(href)
            continue
        band = band_of_asset(key, asset)
        if band and band not in bands:
            bands[band] = BandAsset(href)
            raster = (asset.get("raster:bands") or [{}])[0]
            if "offset" in raster and raster.get("scale"):
                offsets.append(raster["offset"] / raster["scale"])
    if props.get("earthsearch:boa_offset_applied"):
        offset = 0.0  # Earth Search has already subtracted it
    elif offsets:
        offset = float(round(offsets[0]))
    else:
        offset = baseline_offset(props.get("s2:processing_baseline") or props.get("processing:version"))
    when = props.get("datetime") or props.get("start_datetime")
    return Item(id=item.get("id", "?"), source=source, level=level,
                datetime=datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None,
                cloud_cover=props.get("eo:cloud_cover"), footprint=item.get("geometry") or {}, bands=bands, scl=scl,
                dn_offset=offset, properties={k: props[k] for k in ("s2:processing_baseline", "s2:mgrs_tile",
                                                                    "platform") if k in props})


class StacSource:
    """Sentinel-2 items of collections of a STAC API, found with pystac-client."""

    def __init__(self, url: str, collections: Sequence[str], *, limit: int = 50, timeout: float = 30) -> None:
        """`url`: the API's landing page; `collections`: Sentinel-2 L1C and/or L2A collection ids."""
        self.url = url.rstrip("/")
        self.collections = list(collections)
        self.limit = limit
        self.timeout = timeout
        self.name = f"stac: {self.url} ({', '.join(self.collections)})"

    def search(self, query: Query) -> list[Item]:
        """The items over the area within the dates (cloud cover filtered here: not every API has the query
        extension), best first by the provider's cloud cover."""
        # Imported here: pystac-client pulls in every pystac extension, needed only when a STAC API is searched.
        from pystac_client import Client
        from pystac_client.exceptions import APIError

        start = query.start.isoformat() if query.start else ".."
        end = query.end.isoformat() if query.end else ".."
        dates = None if start == end == ".." else f"{start}/{end}"  # "../.." is refused by the STAC API spec
        try:
            client = Client.open(self.url, timeout=self.timeout)
            search = client.search(collections=self.collections, intersects=query.geometry,
                                   datetime=dates, max_items=self.limit)
            found = list(search.items_as_dicts())
        except (APIError, OSError) as exc:
            raise ImageryError(f"the STAC API at {self.url} cannot be searched: {str(exc)[:300]}") from None
        items = []
        for raw in found:
            try:
                item = item_from_stac(raw, f"stac: {self.url} {raw.get('collection', '')}".strip())
            except ImageryError:
                continue
            if item.bands and query.accepts(item):
                items.append(item)
        return sorted(items, key=lambda i: i.cloud_cover if i.cloud_cover is not None else 100.0)


def local_item(path: Path, item_id: str | None = None) -> Item:
    """An Item of a multi-band GeoTIFF on this machine (band descriptions or a known layout; LEVEL or
    PROCESSING_LEVEL tag, default L1C; DATETIME, ACQUISITION or ACQUIRED tag if any; DN_OFFSET tag)."""
    with rasterio.open(path) as src:
        names = file_band_names(src.descriptions, src.count, path.name)
        tags = src.tags()
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    level = (tags.get("LEVEL") or tags.get("PROCESSING_LEVEL") or "L1C").upper()
    when = tags.get("DATETIME") or tags.get("ACQUISITION") or tags.get("ACQUIRED")
    stamp = None
    if when:
        stamp = datetime.fromisoformat(when.replace("Z", "+00:00"))
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    footprint = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                     [west, south]]]}
    return Item(id=item_id or path.stem, source="local", level="L2A" if "2A" in level else "L1C", datetime=stamp,
                cloud_cover=None, footprint=footprint,
                bands={b: BandAsset(str(path), i) for i, b in enumerate(names, start=1)},
                dn_offset=float(tags.get("DN_OFFSET", 0) or 0))


def _bbox_meets(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class LocalCatalogue:
    """Sentinel-2 GeoTIFFs on this machine, searchable like a STAC API (any window inside them)."""

    name = "local"

    def __init__(self, items: Sequence[Item]) -> None:
        """`items`: from `local_item`, one per file."""
        self.items = list(items)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> LocalCatalogue:
        """A catalogue of the readable GeoTIFFs among `paths` (others are skipped)."""
        items = []
        for path in paths:
            try:
                items.append(local_item(Path(path)))
            except (rasterio.errors.RasterioError, ValueError, OSError):
                continue
        return cls(items)

    def search(self, query: Query) -> list[Item]:
        """The files whose bounds meet the area's, within the dates asked (a file without a date fits any)."""
        bounds = query.bounds
        return [item for item in self.items
                if _bbox_meets(bounds, Query(item.footprint).bounds) and query.accepts(item)]


def search_all(sources: Sequence[ImagerySource], query: Query) -> list[Item]:
    """The items of every source, in the order the sources are given."""
    items: list[Item] = []
    for source in sources:
        items.extend(source.search(query))
    return items
