"""Reference data users send to assess a map: points with the class they really are, as GeoJSON (Point
features) or CSV (lon, lat, class). A class is one of our codes (1–10) or its name in any case.

Why here: the accuracy numbers are only as good as the points; every unreadable row is a 400 naming the
row and what is wrong, never a silent skip. Files are sniffed (JSON or text) and parsed from memory by
the json and csv modules only.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator

from django.conf import settings

from ml.classes import DFC_NAMES

from ..errors import InvalidInput

CLASS_FIELDS = ("class", "reference", "label", "code")
NAMES = {name.lower(): code for code, name in DFC_NAMES.items()}


def class_code(value: object, where: str) -> int:
    """Our code of a class given as a code or a name."""
    text = str(value).strip()[:100]  # no code or name is longer; int() of 5,000 digits is refused by Python itself
    if text.isdigit() and len(text) <= 3 and int(text) in DFC_NAMES:
        return int(text)
    if text.lower() in NAMES:
        return NAMES[text.lower()]
    raise InvalidInput("file", f"{where}: class {text[:40]!r} is not one of ours (codes 1–10 or names: "
                               f"{', '.join(DFC_NAMES.values())}).")


def lonlat(lon: object, lat: object, where: str, field: str = "file") -> tuple[float, float]:
    """A point's lon and lat as numbers in range; InvalidInput naming `where` otherwise."""
    try:
        x, y = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(field, f"{where}: lon and lat must be numbers.") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(field, f"{where}: lon must be −180…180 and lat −90…90.")
    return x, y


def read_reference(name: str, data: bytes) -> list[tuple[float, float, int]]:
    """(lon, lat, class code) of every reference point in a GeoJSON or CSV file."""
    if len(data) > settings.AREA_MAX_FILE_KB * 1024:
        raise InvalidInput("file", f"The file is larger than {settings.AREA_MAX_FILE_KB:,} KB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file", "The reference file must be UTF-8 text (GeoJSON or CSV).") from None
    points = _from_geojson(text) if text.lstrip().startswith("{") else _from_csv(text)
    if not points:
        raise InvalidInput("file", "The file holds no reference points.")
    if len(points) > settings.REFERENCE_MAX_POINTS:
        raise InvalidInput("file", f"The file holds {len(points):,} points; at most "
                                   f"{settings.REFERENCE_MAX_POINTS:,} are assessed at once.")
    return points


def _from_geojson(text: str) -> list[tuple[float, float, int]]:
    try:
        doc = json.loads(text)
    except ValueError:
        raise InvalidInput("file", "The GeoJSON is not readable (invalid JSON).") from None
    except RecursionError:
        raise InvalidInput("file", "The GeoJSON is nested too deeply to be reference points.") from None
    features = doc.get("features") if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else None
    if not isinstance(features, list):
        raise InvalidInput("file", "The GeoJSON must be a FeatureCollection of Point features.")
    points = []
    for i, feature in enumerate(features, start=1):
        where = f"feature {i}"
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            raise InvalidInput("file", f"{where}: not a Point feature.")
        coordinates = geometry.get("coordinates") or []
        if not isinstance(coordinates, list) or len(coordinates) < 2:
            raise InvalidInput("file", f"{where}: a Point needs [lon, lat].")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise InvalidInput("file", f"{where}: properties must be an object.")
        value = next((properties[k] for k in CLASS_FIELDS if k in properties), None)
        if value is None:
            raise InvalidInput("file", f"{where}: no class (a property named {', '.join(CLASS_FIELDS)}).")
        points.append((*lonlat(coordinates[0], coordinates[1], where), class_code(value, where)))
    return points


def _from_csv(text: str) -> list[tuple[float, float, int]]:
    return [(lon, lat, class_code(value, where)) for where, lon, lat, value, _ in
            csv_points(text, "(GeoJSON also works)")]


def csv_points(text: str, hint: str) -> Iterator[tuple[str, float, float, str | None, dict]]:
    """Each row of a CSV of points: (where, lon, lat, its class column's value, the row by lower-case column name);
    InvalidInput without lon, lat and class columns (`hint` says what else the file may be or hold) or for an
    unreadable row."""
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    lon = fields.get("lon") or fields.get("longitude") or fields.get("x")
    lat = fields.get("lat") or fields.get("latitude") or fields.get("y")
    cls = next((fields[k] for k in CLASS_FIELDS if k in fields), None)
    if not (lon and lat and cls):
        raise InvalidInput("file", f"The CSV needs a header with lon, lat and class columns {hint}.")
    try:
        for i, row in enumerate(reader, start=2):
            where = f"line {i}"
            yield (where, *lonlat(row.get(lon), row.get(lat), where), row.get(cls),
                   {name: row.get(column) for name, column in fields.items()})
    except csv.Error as exc:  # a field over the csv module's 128 KB limit, a NUL byte, a broken quote
        raise InvalidInput("file", f"line {reader.line_num}: not readable as CSV ({exc}).") from None
