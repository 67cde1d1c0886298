"""Where Sentinel-2 imagery comes from: a STAC API (pystac-client) or GeoTIFFs on this machine, both answering
a `Query` with `Item`s (`ml.imagery` builds the mosaic from them).

- `StacSource`: Sentinel-2 L1C or L2A collections of a STAC API. Asset hrefs must be http(s): a remote
  catalogue cannot make us open local files. The −1000 DN offset of processing baseline 04.00+ is taken from
  `raster:bands` or the baseline (Earth Search's `earthsearch:boa_offset_applied` is respected).
- `LocalCatalogue`: GeoTIFFs already here (the demo scene, the real catalogue patches); any window inside them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import rasterio
from rasterio.warp import transform_bounds

from .bands import canonical_band, file_band_names
from .imagery import BandAsset, ImageryError, ImagerySource, ImagerySourceDown, Item, Query

# Common names of Sentinel-2 bands in STAC (Earth Search's asset keys) → our band names.
COMMON_NAMES = {"coastal": "B1", "blue": "B2", "green": "B3", "red": "B4", "rededge1": "B5", "rededge2": "B6",
                "rededge3": "B7", "nir": "B8", "nir08": "B8A", "nir09": "B9", "cirrus": "B10", "swir16": "B11",
                "swir22": "B12"}


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
            raise ImagerySourceDown(f"the STAC API at {self.url} cannot be searched: {str(exc)[:300]}") from None
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
