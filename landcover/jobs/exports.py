"""Exports of a stored land-cover map as jobs: its vectors (polygons per class after a minimum mapping unit,
GeoJSON or GeoPackage) and stratified random samples to label (GeoJSON or CSV).

Reading a whole map is work for a worker, not for a web request: a map of up to HRMARS_INLINE_MAX_PIXELS
pixels is exported at once (the request waits a second or two), a larger one becomes an `Export` job and the
request answers 202 with its URL. Either way the result is an `Export` row plus a folder
EXPORTS_DIR/<token>/ holding the one file, found again by its key (the map, what, format and parameters), so
each variant is made once; exports are a product of the registry (downloads, detail, prune) with no map
of their own. An export of a private map belongs to that map's owner.

Statistics per unit (`units`) are exports too: the units (administrative units, farms, watersheds: a layer of
polygons with attributes, sent by the user) are stored as the export's input, and the job writes one row per
unit — its attributes, mapped and no-data area, and each class's hectares and share — as CSV, GeoJSON and
GeoPackage, from the stored map alone (`ml.zonal`: the model never runs again).
"""
from __future__ import annotations

import csv
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import rasterio
from django.conf import settings
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError

from ml.accuracy import draw_sample
from ml.gpkg import write_layer
from ml.rasterio_io import DataError
from ml.vectors import vectorise
from ml.zonal import unit_statistics

from .. import storage
from ..errors import Damaged, InvalidInput
from ..models import Export
from . import lifecycle, products
from .lifecycle import Progress
from .products import File, Product, StoredMap, stored_map

MEDIA = {"vectors.geojson": "application/geo+json", "vectors.gpkg": "application/geopackage+sqlite3",
         "sample.geojson": "application/geo+json", "sample.csv": "text/csv; charset=utf-8",
         "units.geojson": "application/geo+json", "units.csv": "text/csv; charset=utf-8",
         "units.gpkg": "application/geopackage+sqlite3"}
UNIT_FILES = ("units.csv", "units.geojson", "units.gpkg")  # one units export writes all three
MAX_ATTRIBUTES = 100  # attribute columns kept from a layer of units (the first seen)
SAMPLE_COLUMNS = ["id", "lon", "lat", "map_class", "map_name", "class"]


def pixels_of(path: str) -> int:
    """How many pixels a map has (from its header); Damaged when the header cannot be read."""
    try:
        with rasterio.open(path) as src:
            return src.width * src.height
    except (RasterioError, CRSError):
        raise Damaged("This map's stored file is damaged and cannot be read; an administrator has been told.") \
            from None


def write_vectors(source: str, target: Path, mmu: int, progress: Progress | None = None) -> None:
    """The polygons per class of a map into `target` (.geojson or .gpkg)."""
    vectorise(source, target, target.suffix.lstrip("."), mmu)


def write_sample(source: str, target: Path, per_class: int, seed: int, counts: dict[int, int]) -> None:
    """A stratified random sample of a map into `target` (.geojson or .csv), the map's class counts given (so
    it is read once)."""
    sample = draw_sample(source, per_class, seed, counts=counts)
    if target.suffix == ".csv":
        with open(target, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(SAMPLE_COLUMNS)
            writer.writerows([i, p["lon"], p["lat"], p["map_class"], p["map_name"], ""]
                             for i, p in enumerate(sample, 1))
        return
    features = [{"type": "Feature", "id": i, "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                 "properties": {"map_class": p["map_class"], "map_name": p["map_name"], "class": None}}
                for i, p in enumerate(sample, 1)]
    target.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def units_input(key: str) -> Path:
    """Where a units export's layer (normalised GeoJSON) waits for its job."""
    return Path(settings.EXPORTS_DIR) / ".inputs" / f"{key}.geojson"


def slug(name: str) -> str:
    """A class name as a column name: 'Snow/Ice' → 'snow_ice'."""
    return "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def write_units(stored: StoredMap, layer: dict, folder: Path) -> None:
    """Per-unit statistics of a stored map: units.csv, units.geojson and units.gpkg in `folder`."""
    features = layer["features"]
    statistics = unit_statistics(stored.path, [f["geometry"] for f in features],
                                 classes=[row["code"] for row in stored.statistics])
    attributes: list[str] = []
    for feature in features:
        for key in feature["properties"]:
            if key not in attributes and len(attributes) < MAX_ATTRIBUTES:
                attributes.append(key)
    columns = ["unit", *attributes, "lc_mapped_ha", "lc_nodata_ha", "lc_nodata_percent"]
    for row in stored.statistics:
        columns += [f"lc_{slug(row['name'])}_ha", f"lc_{slug(row['name'])}_percent"]
    records = []
    for n, (feature, unit) in enumerate(zip(features, statistics), start=1):
        nodata_ha = unit["mapped_km2"] * 100 * unit["nodata_pixels"] / unit["mapped_pixels"] \
            if unit["mapped_pixels"] else 0.0
        record: dict[str, Any] = {"unit": n, **{key: feature["properties"].get(key) for key in attributes},
                                  "lc_mapped_ha": round(unit["mapped_km2"] * 100, 4),
                                  "lc_nodata_ha": round(nodata_ha, 4), "lc_nodata_percent": unit["nodata_percent"]}
        for row in unit["classes"]:
            record[f"lc_{slug(row['name'])}_ha"] = round(row["area_km2"] * 100, 4)
            record[f"lc_{slug(row['name'])}_percent"] = row["percent"]
        records.append(record)
    with open(folder / "units.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(records)
    (folder / "units.geojson").write_text(json.dumps(
        {"type": "FeatureCollection", "features": [{"type": "Feature", "id": r["unit"], "geometry": f["geometry"],
                                                    "properties": r} for f, r in zip(features, records)]},
        separators=(",", ":")))
    types = {column: _column_type([r[column] for r in records]) for column in columns}
    write_layer(folder / "units.gpkg", "units", CRS.from_epsg(4326), [(c, types[c]) for c in columns],
                ((_multi(f["geometry"]), [_cell(r[c], types[c]) for c in columns]) for f, r in zip(features, records)))


def _column_type(values: list) -> type:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return int
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return float
    return str


def _cell(value: Any, kind: type) -> Any:
    return None if value is None else value if kind is not str else str(value)


def _multi(geometry: dict) -> dict:
    if geometry["type"] == "MultiPolygon":
        return geometry
    return {"type": "MultiPolygon", "coordinates": [geometry["coordinates"]]}


def write(stored: StoredMap, what: str, params: dict[str, Any], target: Path, progress: Progress | None = None) -> None:
    """One export of a stored map into `target` (a units export writes its three files beside it)."""
    if what == "units":
        write_units(stored, json.loads(storage.read_bytes(units_input(params["units"]))), target.parent)
    elif what == "vectors":
        write_vectors(stored.path, target, params["mmu"], progress)
    else:
        counts = {row["code"]: row["pixels"] for row in stored.statistics}
        write_sample(stored.path, target, params["per_class"], params["seed"], counts)


def build(export: Export, work: Path, progress: Progress) -> dict:
    """The export's file in `work`; a map that cannot be read fails the export at once, saying so."""
    stored = stored_map(export.map_kind, export.map_id, check_access=False)
    try:
        write(stored, export.what, export.params, work / export.filename, progress)
    except FileNotFoundError:
        if export.what == "units":  # the input went with an earlier success: nothing to do again
            raise DataError("the units sent for this export are no longer here; send them again") from None
        raise
    except (RasterioError, CRSError, OSError) as exc:
        raise DataError(f"the stored map cannot be read: it is damaged ({str(exc).splitlines()[0][:200]})") from None
    if export.what == "units":
        storage.remove_file(units_input(export.params["units"]))
    return {}


class ExportProduct(Product):
    """An export of a stored map: one file, its owner's when the map is somebody's."""

    kind, prefix, noun, root_setting = "export", "exports", "export", "EXPORTS_DIR"
    collection = None
    files = tuple(File(name, media, name, ("data",), "",
                       name.replace(".", "_") if name in UNIT_FILES else "download") for name, media in MEDIA.items())
    layers = ()
    land_cover = False
    owner_field = "owner"
    kept_by = ("requested_by",)

    def offers(self, row, name: str) -> bool:
        return name in UNIT_FILES if row.what == "units" else name == row.filename

    def bounds(self, row) -> tuple[float, float, float, float]:
        west, south, east, north = row.bounds
        return west, south, east, north

    def label(self, row) -> str:
        return f"export {row.pk} ({row.filename} of {row.map_kind} {row.map_id})"

    def download_name(self, row, name: str) -> str:
        if row.what == "units":
            return f"{row.download_name}{products.download_suffix(name)}"
        return row.download_name


EXPORT_JOB = lifecycle.queued_kind(
    "export", "landcover.compute_export", Export, build, staging=lambda export: EXPORT_PRODUCT.root() / ".tmp",
    destination=lambda export: EXPORT_PRODUCT.folder(export))
EXPORT_PRODUCT: ExportProduct = products.register(ExportProduct(EXPORT_JOB))


def request_export(stored: StoredMap, what: str, fmt: str, params: dict[str, Any], download_name: str, user,
                   pixels: int, before_new=None) -> tuple[Export, bool]:
    """The export of a stored map (access checked by the caller) of `pixels` pixels (`pixels_of`): made at once
    for a map of up to HRMARS_INLINE_MAX_PIXELS pixels (in this process, returned done), else queued as a job;
    (row, created now). The same map, export and parameters give the same row."""
    filename = f"{what}.{fmt}"
    if filename not in MEDIA:
        raise InvalidInput("format", f"No export {filename!r}; there are {', '.join(MEDIA)}.")
    text = f"{stored.kind}:{stored.pk}|{filename}|{json.dumps(params, sort_keys=True)}"
    owner = user if stored.owner_id is not None else None
    requester = user if getattr(user, "is_authenticated", False) else None
    row, created = lifecycle.find_or_queue(
        EXPORT_JOB, {"key": hashlib.sha256(text.encode()).hexdigest()},
        {"token": secrets.token_urlsafe(24), "map_kind": stored.kind, "map_id": stored.pk, "what": what,
         "filename": filename, "params": params, "download_name": download_name, "bounds": list(stored.bounds),
         "owner": owner, "requested_by": requester},
        settings.MAP_STALE_SECONDS, before_new, run_here=pixels <= settings.INLINE_MAX_PIXELS)
    return row, created


def request_units(stored: StoredMap, layer: dict, user, before_new=None) -> tuple[Export, bool]:
    """The per-unit statistics of a stored map (access checked by the caller) for a layer of units (a GeoJSON
    FeatureCollection in lon/lat, checked): always a job, as it reads the map once per unit; (row, created now).
    The same map and units give the same row."""
    text = json.dumps(layer, sort_keys=True, separators=(",", ":"))
    units = hashlib.sha256(text.encode()).hexdigest()
    key = hashlib.sha256(f"{stored.kind}:{stored.pk}|units|{units}".encode()).hexdigest()
    staged = units_input(units)
    if not storage.exists(staged):  # what the job reads (on any machine); written whole or not at all
        storage.write_bytes(staged, text.encode())
    owner = user if stored.owner_id is not None else None
    requester = user if getattr(user, "is_authenticated", False) else None
    return lifecycle.find_or_queue(
        EXPORT_JOB, {"key": key},
        {"token": secrets.token_urlsafe(24), "map_kind": stored.kind, "map_id": stored.pk, "what": "units",
         "filename": "units.geojson", "params": {"units": units, "count": len(layer["features"])},
         "download_name": f"{stored.kind}-{stored.pk}", "bounds": list(stored.bounds), "owner": owner,
         "requested_by": requester},
        settings.MAP_STALE_SECONDS, before_new)
