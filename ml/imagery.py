"""Sentinel-2 pixels of any area of interest: imagery sources behind one interface, scene choice,
cloud masks, and one 10 m mosaic on the area's UTM grid that any model of ours can map.

Why: the site could only map the patches it had catalogued. A user asks for an area (a polygon in
lon/lat) and dates; this module answers with a GeoTIFF of that area's pixels, whatever holds them. The
module holds what every imagery source shares (`Item`, `Query`, the errors) and the mosaic; the sources
are in `ml.sources` (a STAC API, GeoTIFFs here), the grid and windowed reads in `ml.grid`, the cloud masks
in `ml.clouds`. Only the area's window of each band is read from the assets' COGs, over HTTP range
requests (GDAL's /vsicurl/, settings in `HTTP_ENV`).

Sources return `Item`s (one acquisition: its bands, its scene classification band if any, its DN offset,
its cloud cover as the provider says). `fetch_area` then

1. ranks the candidates by how much of the area each shows clear of clouds, measured on a coarse
   grid (160 m, about the resolution s2cloudless was trained at; COG overviews make this cheap);
2. builds the mosaic block by block at 10 m: each pixel from the best-ranked item that has clear data
   there, so overlapping scenes fill each other's clouds and adjacent scenes join at their edges;
3. masks clouds: s2cloudless (its LightGBM model ships in the PyPI package) for L1C, the scene
   classification band (SCL: cloud shadow, medium and high probability cloud, cirrus) for L2A;
4. harmonises DNs to the pre-04.00 convention (the −1000 offset of processing baseline 04.00+, from
   the item's `raster:bands` metadata or its baseline) so every model sees the values it was trained on;
5. writes the bands (uint16, band descriptions B1…B12, 0 = no imagery) over the area and a margin
   around it as wide as the model's context, with real pixels everywhere, cloudy ones and those outside
   the polygon included: a model must see the same neighbourhood around a pixel whatever polygon was
   drawn (zeros there changed 5 % of the classes of a small area); what is kept — inside the polygon
   and clear — is a mask applied to the map after the model runs; and a true-colour RGB COG of the
   pixels used.

Cloud, missing and used pixels are counted inside the polygon, so statistics can say what share of
the area was cloud rather than guessing a class for it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.warp import reproject
from rasterio.windows import Window

from .bands import S2_BANDS
from .clouds import CLOUD_RESOLUTION, S2CLOUDLESS_BANDS, SCL_CLOUD, s2cloudless_mask
from .errors import PermanentError, TransientError
from .grid import Grid, area_grid, geometry_bounds, inside, read_band
from .outputs import GDAL_ENV, write_cog

COARSE = 160.0             # metres: the grid on which candidates are ranked by clear pixels
BLOCK_ROWS = 1024          # rows of the mosaic built at a time (memory grows with width × this)
RGB = ("B4", "B3", "B2")
RGB_MAX_REFLECTANCE = 0.3  # true colour stretched 0–0.3 reflectance → 0–255
# GDAL's HTTP settings for reading COG windows: no directory listing on open, only raster suffixes,
# neighbouring ranges merged into one request, retries on 429/5xx, a cache of what was read.
HTTP_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
            "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES", "GDAL_HTTP_MULTIPLEX": "YES", "GDAL_HTTP_MAX_RETRY": "3",
            "GDAL_HTTP_RETRY_DELAY": "1", "GDAL_HTTP_TIMEOUT": "60", "VSI_CACHE": "TRUE",
            "GDAL_INGESTED_BYTES_AT_OPEN": "32768"}

Progress = Callable[[int, int], None]


class ImageryError(PermanentError):
    """No usable imagery for the area, or an imagery source cannot be used; the message says why."""


class NoImagery(ImageryError):
    """Nothing to map here: no scene covers the place in the dates asked, or every one is cloudy there (a
    region's tile at sea or beyond the imagery is empty, not failed)."""


class ImagerySourceDown(ImageryError, TransientError):
    """A remote imagery source did not answer (network, server error): the same request may work later."""


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
        return geometry_bounds(self.geometry)

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


@dataclass
class AreaImagery:
    """The mosaic of an area: files written, the grids, and what each pixel of the area became."""

    path: Path                      # bands on `read_grid`, uint16: real pixels everywhere imagery exists
    rgb_path: Path                  # true colour of the pixels used (COG, uint8, masked elsewhere), on `grid`
    grid: Grid                      # the area's grid: what is mapped and kept
    read_grid: Grid                 # `grid` and `margin` pixels around it: what the model reads
    margin: int
    keep: np.ndarray                # on `grid`: inside the polygon and clear of clouds (the pixels mapped)
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
                "margin": self.margin, "area_pixels": self.area_pixels, "clear_pixels": self.clear_pixels,
                "cloud_pixels": self.cloud_pixels, "missing_pixels": self.missing_pixels,
                "cloud_percent": share(self.cloud_pixels), "missing_percent": share(self.missing_pixels),
                "items": self.items}


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
               max_items: int = 6, margin: int = 0, grid: Grid | None = None,
               progress: Progress | None = None) -> AreaImagery:
    """The area's mosaic from the best of `items` (see the module docstring) as `out_dir`/source.tif and
    `out_dir`/image.tif; ImageryError when no item shows any of it.

    source.tif covers the area and `margin` pixels around it with real pixels wherever an item has data:
    the clearest item's where one is clear, else the best-ranked item's cloudy pixels. Nothing is zeroed
    outside the polygon or under clouds, so a model reading it sees the same neighbourhood around a pixel
    whatever polygon was drawn around it (zeros there changed the classes of pixels near the edge and near
    clouds). What to keep of the map — inside the polygon and clear — is `keep`, applied after the model."""
    items = [i for i in items if query.accepts(i)]
    if not items:
        raise NoImagery("no Sentinel-2 scene covers this area within the dates and cloud cover asked; widen the "
                        "dates or raise the cloud limit")
    items = sorted(items, key=lambda i: i.cloud_cover if i.cloud_cover is not None else 100.0)[:max_items]
    names = common_bands(items, bands)
    rgb_names = [b for b in RGB if b in names]
    grid = grid or area_grid(query.geometry)
    read = grid.expanded(margin)
    out_dir.mkdir(parents=True, exist_ok=True)
    path, rgb_tmp, rgb_path = out_dir / "source.tif", out_dir / ".image.tif", out_dir / "image.tif"
    counts = {"area": 0, "clear": 0, "cloud": 0}
    used: dict[int, int] = {}
    keep = np.zeros((grid.height, grid.width), bool)
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(**GDAL_ENV, **HTTP_ENV))
        opened = [OpenItem(i, names, stack) for i in items]
        ranked = rank(opened, query.geometry, grid, names)
        ranked = [(item, score) for item, score in ranked if score > 0] or ranked[:1]
        profile = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate", "BIGTIFF": "IF_SAFER",
                   "driver": "GTiff"}
        dst = stack.enter_context(rasterio.open(
            path, "w", **profile, crs=read.crs, transform=read.transform, width=read.width, height=read.height,
            count=len(names), dtype="uint16", nodata=0))
        rgb = stack.enter_context(rasterio.open(
            rgb_tmp, "w", **profile, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
            count=3, dtype="uint8", nodata=None, photometric="RGB"))
        blocks = range(0, read.height, BLOCK_ROWS)
        for k, y in enumerate(blocks):
            block = read.rows(y, min(BLOCK_ROWS, read.height - y))
            area = inside(query.geometry, block)
            mosaic = np.zeros((len(names), block.height, block.width), np.float32)
            filled = np.zeros(area.shape, bool)  # clear data taken
            seen = np.zeros(area.shape, bool)    # some item has data here (cloudy or not)
            cloudy = np.zeros(area.shape, bool)  # seen, but cloud in every item so far
            for n, (item, _) in enumerate(ranked):
                if filled.all():
                    break
                data = item.read(names, block)
                has = data[0] > 0
                clouds = item.clouds(block) & has
                take = has & ~clouds & ~filled
                np.copyto(mosaic, data, where=(take | (has & ~seen & ~filled))[None])  # cloudy pixels until clear
                filled |= take
                seen |= has
                cloudy |= clouds
                used[n] = used.get(n, 0) + int((take & area).sum())
            clear = area & filled
            cloudy &= area & ~filled
            counts["area"] += int(area.sum())
            counts["clear"] += int(clear.sum())
            counts["cloud"] += int(cloudy.sum())
            dst.write(np.clip(np.round(mosaic), 0, 65535).astype(np.uint16), window=Window(0, y, block.width,
                                                                                          block.height))
            # The area's own rows and columns of this block: what is kept, and the true-colour image.
            top, bottom = max(y, margin), min(y + block.height, margin + grid.height)
            if bottom > top:
                rows, cols = slice(top - y, bottom - y), slice(margin, margin + grid.width)
                keep[top - margin:bottom - margin] = clear[rows, cols]
                window = Window(0, top - margin, grid.width, bottom - top)
                if len(rgb_names) == 3:
                    colour = mosaic[[names.index(b) for b in rgb_names]][:, rows, cols]
                    colour = np.clip(colour / 10000.0 / RGB_MAX_REFLECTANCE * 255, 0, 255).astype(np.uint8)
                    rgb.write(colour, window=window)
                    rgb.write_mask(np.where(clear[rows, cols], 255, 0).astype(np.uint8), window=window)
            if progress:
                progress(k + 1, len(blocks))
        for i, band in enumerate(names, start=1):
            dst.set_band_description(i, band)
        # The processing level, when every scene shares one: the mapping checks it against the model (ml.levels).
        levels = {item.item.level for item, _ in ranked}
        dst.update_tags(SOURCE="; ".join(sorted({item.item.source for item, _ in ranked})),
                        ITEMS=",".join(item.item.id for item, _ in ranked), MARGIN=str(margin),
                        PROCESSING_LEVEL=levels.pop() if len(levels) == 1 else "mixed")
    write_cog(rgb_tmp, rgb_path, nodata=None, resampling="average", mask=True)
    rgb_tmp.unlink()
    clear_total = max(1, counts["clear"])
    summaries = [{**item.item.summary(), "coverage_score": round(float(score), 4),
                  "pixels": used.get(n, 0), "percent_of_mapped": round(100.0 * used.get(n, 0) / clear_total, 4)}
                 for n, (item, score) in enumerate(ranked) if used.get(n, 0)]
    if not counts["clear"]:
        hint = "every scene found is cloudy there" if counts["cloud"] else "no scene found has pixels there"
        raise NoImagery(f"no clear imagery inside this area: {hint}; widen the dates or choose another area")
    return AreaImagery(path, rgb_path, grid, read, margin, keep, names, counts["area"], counts["clear"],
                       counts["cloud"], counts["area"] - counts["clear"] - counts["cloud"], summaries)


