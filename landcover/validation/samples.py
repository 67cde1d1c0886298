"""A legend's classes and labelled samples as users give them (issue 27): classes with names, colours and an
optional simplified-IGBP crosswalk; points or polygons with a class, from a CSV (lon, lat, class), GeoJSON,
GeoPackage or zipped Shapefile, or drawn on the map page (GeoJSON).

Why here: a legend model is only as good as its labels, and a silent skip hides a typo in a class name or a
swapped lon/lat; every unreadable sample is a 400 naming it and what is wrong. Files are sniffed by their bytes
and parsed from memory by one parser each: the csv and json modules, pyshp (`areas.shapefile_features`) and
Python's sqlite3 for GeoPackages (`ml.gpkg.read_features`: no GDAL in the web process). Limits (settings):
classes, samples per legend, file size, a polygon's area, the extent of all samples (one imagery read).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Point
from pyproj import CRS, Transformer

from ml.classes import DFC_NAMES
from ml.gpkg import GeoPackageError, read_features

from ..errors import InvalidInput
from .areas import Feature, from_geojson, geodesic_area_km2, shapefile_features
from .reference import CLASS_FIELDS, csv_points, lonlat

COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
HELD_OUT_FIELDS = ("held_out", "holdout", "assessment")
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class Sample:
    """One labelled point or polygon (lon/lat) and its class code in the legend."""

    geometry: GEOSGeometry
    code: int
    held_out: bool = False


def legend_classes(value: object) -> list[dict]:
    """A legend's classes, checked: 2 … HRMARS_LEGEND_MAX_CLASSES, each a distinct name (≤ 60 characters), a
    #rrggbb colour and optionally a crosswalk to one of our classes (a code 1–10 or its name); codes 1, 2, … in
    order unless given (distinct, 1–254)."""
    if not isinstance(value, list) or not 2 <= len(value) <= settings.LEGEND_MAX_CLASSES:
        raise InvalidInput("classes", f"Give the classes as a list of 2 to {settings.LEGEND_MAX_CLASSES} objects "
                                      "with name, colour (#rrggbb) and optionally crosswalk (one of our classes).")
    out, names, codes = [], set(), set()
    for n, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InvalidInput("classes", f"Class {n} must be an object with name and colour.")
        name = str(item.get("name") or "").strip()
        if not name or len(name) > 60 or name.isdigit():
            raise InvalidInput("classes", f"Class {n}: a name of 1 to 60 characters (not only digits) is needed.")
        if name.lower() in names:
            raise InvalidInput("classes", f"Class {n}: the name {name!r} is used twice (names ignore case).")
        colour = str(item.get("colour") or item.get("color") or "")
        if not COLOUR.fullmatch(colour):
            raise InvalidInput("classes", f"Class {n} ({name}): colour must be #rrggbb, got {colour[:20]!r}.")
        code = item.get("code", n)
        if not isinstance(code, int) or isinstance(code, bool) or not 1 <= code <= 254 or code in codes:
            raise InvalidInput("classes", f"Class {n} ({name}): code must be a whole number 1–254 used once.")
        crosswalk = item.get("crosswalk")
        if crosswalk not in (None, ""):
            crosswalk = _dfc_code(crosswalk, f"Class {n} ({name})")
        names.add(name.lower())
        codes.add(code)
        out.append({"code": code, "name": name, "colour": colour.lower(), "crosswalk": crosswalk or None})
    return out


def _dfc_code(value: object, where: str) -> int:
    text = str(value).strip()
    by_name = {name.lower(): code for code, name in DFC_NAMES.items()}
    if text.isdigit() and int(text) in DFC_NAMES:
        return int(text)
    if text.lower() in by_name:
        return by_name[text.lower()]
    raise InvalidInput("classes", f"{where}: crosswalk {text[:40]!r} is not one of our classes (1–10 or "
                                  f"{', '.join(DFC_NAMES.values())}).")


class Classes:
    """Finds a sample's class in a legend by its code or its name (any case)."""

    def __init__(self, classes: list[dict]) -> None:
        self.codes = {int(c["code"]) for c in classes}
        self.names = {c["name"].lower(): int(c["code"]) for c in classes}
        self.listing = ", ".join(f"{c['code']} {c['name']}" for c in classes)

    def code(self, value: object, where: str, field: str = "file") -> int:
        """The legend's code of a class given as a code or a name; InvalidInput naming the legend's classes."""
        text = str(value).strip()[:100] if value is not None else ""
        if text.isdigit() and len(text) <= 3 and int(text) in self.codes:
            return int(text)
        if text.lower() in self.names:
            return self.names[text.lower()]
        raise InvalidInput(field, f"{where}: class {text[:40]!r} is not in this legend ({self.listing}).")


def _held_out(properties: dict) -> bool:
    value = next((properties[k] for k in HELD_OUT_FIELDS if k in properties), False)
    return str(value).strip().lower() in ("1", "true", "yes", "y", "t")


def _class_value(properties: dict) -> object:
    lowered = {str(k).strip().lower(): v for k, v in properties.items()}
    return next((lowered[k] for k in CLASS_FIELDS if k in lowered), None)


def _sample(geometry: GEOSGeometry, properties: dict, classes: Classes, where: str, field: str) -> Sample:
    value = _class_value(properties)
    if value is None:
        raise InvalidInput(field, f"{where}: no class (an attribute named {', '.join(CLASS_FIELDS)}).")
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        west, south, east, north = geometry.extent
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise InvalidInput(field, f"{where}: lies outside longitudes −180…180 and latitudes −90…90.")
        whole = geometry if geometry.geom_type == "MultiPolygon" else MultiPolygon(geometry, srid=4326)
        if geodesic_area_km2(whole) > settings.LEGEND_MAX_POLYGON_KM2:
            raise InvalidInput(field, f"{where}: a labelled polygon may be at most {settings.LEGEND_MAX_POLYGON_KM2} "
                                      "km² (HRMARS_LEGEND_MAX_POLYGON_KM2): label fields and stands, not regions.")
    elif geometry.geom_type != "Point":
        raise InvalidInput(field, f"{where}: a {geometry.geom_type}; samples are Points or Polygons.")
    return Sample(geometry, classes.code(value, where, field), _held_out(properties))


def _feature_geometry(value: object, where: str, field: str) -> GEOSGeometry:
    if isinstance(value, dict) and value.get("type") == "Point":
        coordinates = value.get("coordinates")
        if not isinstance(coordinates, list) or len(coordinates) < 2:
            raise InvalidInput(field, f"{where}: a Point needs [lon, lat].")
        return Point(*lonlat(coordinates[0], coordinates[1], where, field), srid=4326)
    try:
        return from_geojson(value, field)
    except InvalidInput as exc:
        raise InvalidInput(field, f"{where}: {exc.message}") from None


def from_geojson_samples(value: object, classes: Classes, field: str = "file") -> list[Sample]:
    """The samples of a GeoJSON FeatureCollection of Points and Polygons, each with its class attribute."""
    features = value.get("features") if isinstance(value, dict) and value.get("type") == "FeatureCollection" else None
    if not isinstance(features, list):
        raise InvalidInput(field, "Give the samples as a GeoJSON FeatureCollection of Point or Polygon features.")
    _check_count(len(features), field)
    samples = []
    for n, feature in enumerate(features, start=1):
        where = f"feature {n}"
        if not isinstance(feature, dict):
            raise InvalidInput(field, f"{where}: not a GeoJSON Feature.")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise InvalidInput(field, f"{where}: properties must be an object.")
        samples.append(_sample(_feature_geometry(feature.get("geometry"), where, field), properties, classes, where,
                               field))
    return samples


def _check_count(count: int, field: str) -> None:
    if count > settings.LEGEND_MAX_SAMPLES:
        raise InvalidInput(field, f"{count:,} samples; a legend holds at most {settings.LEGEND_MAX_SAMPLES:,} "
                                  "(HRMARS_LEGEND_MAX_SAMPLES).")


def _from_csv(text: str, classes: Classes) -> list[Sample]:
    samples: list[Sample] = []
    for where, lon, lat, value, row in csv_points(text, "(optionally held_out)"):
        _check_count(len(samples) + 1, "file")
        samples.append(Sample(Point(lon, lat, srid=4326), classes.code(value, where), _held_out(row)))
    return samples


def _from_geopackage(data: bytes, classes: Classes) -> list[Sample]:
    try:
        rows, crs = read_features(data, settings.LEGEND_MAX_SAMPLES)
    except GeoPackageError as exc:
        raise InvalidInput("file", f"The GeoPackage: {exc}.") from None
    transform = None
    if crs is not None:
        try:
            source = CRS.from_user_input(crs)
        except Exception:
            raise InvalidInput("file", "The GeoPackage's coordinate system is not readable.") from None
        if not source.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            transform = Transformer.from_crs(source, 4326, always_xy=True)
    samples = []
    for n, (wkb, properties) in enumerate(rows, start=1):
        where = f"feature {n}"
        try:
            geometry = GEOSGeometry(memoryview(wkb))
        except (GEOSException, GDALException, ValueError, TypeError):
            raise InvalidInput("file", f"{where}: its geometry is not readable WKB.") from None
        geo = json.loads(geometry.json)
        if transform is not None:
            geo = _projected(geo, transform)
        samples.append(_sample(_feature_geometry(geo, where, "file"), properties, classes, where, "file"))
    return samples


def _projected(geo: dict, transform: Transformer) -> dict:
    def positions(value):
        if value and isinstance(value[0], (int, float)):
            return list(transform.transform(value[0], value[1]))
        return [positions(v) for v in value]
    return {"type": geo["type"], "coordinates": positions(geo["coordinates"])}


def read_samples(name: str, data: bytes, classes: Classes) -> list[Sample]:
    """The labelled samples of an uploaded file, by what its bytes are: a zipped Shapefile, a GeoPackage, GeoJSON
    or CSV; InvalidInput (400) naming the first thing wrong."""
    if len(data) > settings.AREA_MAX_FILE_KB * 1024:
        raise InvalidInput("file", f"The file is larger than {settings.AREA_MAX_FILE_KB:,} KB.")
    if not data.strip():
        raise InvalidInput("file", "The file is empty.")
    if data[:4] == b"PK\x03\x04":
        features: list[Feature] = shapefile_features(data, settings.LEGEND_MAX_SAMPLES, settings.AREA_MAX_FILE_KB,
                                                     points=True)
        samples = [_sample(f.geometry, f.properties, classes, f"record {n}", "file")
                   for n, f in enumerate(features, start=1)]
    elif data[:16] == SQLITE_MAGIC:
        samples = _from_geopackage(data, classes)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("file", "The file is neither a zipped Shapefile, a GeoPackage nor UTF-8 text "
                                       "(GeoJSON, CSV).") from None
        if text.lstrip().startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise InvalidInput("file", "The GeoJSON is not readable (invalid JSON).") from None
            except RecursionError:
                raise InvalidInput("file", "The GeoJSON is nested too deeply.") from None
            samples = from_geojson_samples(value, classes)
        else:
            samples = _from_csv(text, classes)
    if not samples:
        raise InvalidInput("file", f"{name[:100]} holds no labelled sample.")
    return samples


def unique(samples: list[Sample], existing: list[tuple[str, int]], field: str = "file") -> list[Sample]:
    """`samples` checked against each other and the legend's `existing` (WKT, code): the same geometry twice is
    refused, naming whether its classes agree (a duplicate) or not (a conflict)."""
    seen = {wkt: code for wkt, code in existing}
    for n, sample in enumerate(samples, start=1):
        key = sample.geometry.wkt
        if key in seen:
            what = "is labelled twice" if seen[key] == sample.code else "has two different classes"
            raise InvalidInput(field, f"Sample {n} ({key[:60]}) {what}; each place is labelled once.")
        seen[key] = sample.code
    return samples
