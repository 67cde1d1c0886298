"""What an area or region request asks for: the place (a point, a bounding box, a GeoJSON geometry, or an
uploaded GeoJSON / KML / zipped Shapefile, checked against a size limit) and the map's parameters (dates, cloud
limit, imagery source, model) and, for composites, the period. One parser for areas, regions and composites, so
all answer a bad request alike."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from django.conf import settings

from ml.composite import METHODS
from ml.periods import STEPS, PeriodError, period

from ..catalogue.imagery import SOURCES
from ..catalogue.registry import find_model
from ..errors import InvalidInput
from ..models import ModelVersion
from ..validation import areas as aoi
from .limits import count_area_file

AREA_PROPERTIES: dict[str, dict] = {
    "geometry": {"type": "object", "description": "GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection "
                                                  "(lon, lat)"},
    "point": {"type": "array", "items": {"type": "number"}, "description": "[lon, lat]: a square around it"},
    "size_m": {"type": "number", "description": "side of the square around `point`, metres (default "
                                                "HRMARS_AREA_POINT_SIZE_M)"},
    "bbox": {"type": "array", "items": {"type": "number"}, "description": "[west, south, east, north]"},
    "file": {"type": "string", "format": "binary", "description": "GeoJSON, KML or zipped Shapefile (multipart)"},
    "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
    "max_cloud": {"type": "number", "description": "largest scene cloud cover accepted, % (default 100)"},
    "model": {"type": "string"}, "source": {"type": "string", "enum": list(SOURCES)}}
AREA_REQUEST = {"type": "object", "properties": AREA_PROPERTIES}


def _date(data, field: str) -> date | None:
    value = data.get(field)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(field, f"{field} must be a date like 2024-06-30, got {str(value)[:30]!r}.") from None


def _json_field(data, field: str):
    """A field that multipart forms send as JSON text."""
    value = data.get(field)
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidInput(field, f"{field} is not readable: invalid JSON.") from None
    return value


def body_of(request):
    """The request's fields: a JSON object or a form; InvalidInput for anything else (a JSON array, a number)."""
    if not hasattr(request.data, "get"):
        raise InvalidInput("geometry", "Send the request as a JSON object (or a multipart form) with the area and "
                                       "its parameters.")
    return request.data


def area_from(request, max_km2: float):
    """The place of the request, checked: InvalidInput (400) for anything empty, invalid, larger than `max_km2` or
    unreadable."""
    data = body_of(request)
    given = [k for k in ("geometry", "point", "bbox") if data.get(k) not in (None, "")]
    upload = request.FILES.get("file") if hasattr(request, "FILES") else None
    if upload is not None:
        given.append("file")
    if len(given) != 1:
        raise InvalidInput("geometry", "Give the area one way: geometry (GeoJSON), point ([lon, lat]), bbox "
                                       "([west, south, east, north]) or file (GeoJSON, KML, zipped Shapefile).")
    kind = given[0]
    if upload is not None:
        count_area_file(request)  # reading a file is work for the web process: refused ones count too
        if upload.size > settings.AREA_MAX_FILE_KB * 1024:
            raise InvalidInput("file", f"The file is larger than {settings.AREA_MAX_FILE_KB:,} KB.")
        geometry = aoi.from_file(upload.name, upload.read())
    elif kind == "point":
        point = _json_field(data, "point")
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise InvalidInput("point", "Give the point as [lon, lat] in degrees.")
        geometry = aoi.from_point(point[0], point[1], data.get("size_m"))
    elif kind == "bbox":
        geometry = aoi.from_bbox(_json_field(data, "bbox"))
    else:
        geometry = aoi.from_geojson(_json_field(data, "geometry"))
    return aoi.checked(geometry, "file" if kind == "file" else kind, max_km2)


@dataclass(frozen=True)
class MapParameters:
    """How to map the place: dates, cloud limit, imagery source, model."""
    start: date | None
    end: date | None
    max_cloud: float
    source: str
    version: ModelVersion


def map_parameters(request) -> MapParameters:
    """The request's dates, cloud limit, source and model, checked."""
    data = body_of(request)
    start, end, max_cloud, source = imagery_parameters(data)
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidInput("model", "model must be a model's name (see /api/v1/models/).")
    return MapParameters(start, end, max_cloud, source, find_model(model, user=request.user))


def imagery_parameters(data) -> tuple[date | None, date | None, float, str]:
    """Which imagery a request asks for: its dates, cloud limit and source, checked (areas, regions, composites,
    legend trainings)."""
    start, end = _date(data, "start"), _date(data, "end")
    if start and end and start > end:
        raise InvalidInput("end", "end must not be before start.")
    try:
        max_cloud = float(data.get("max_cloud", 100) or 100)
    except (TypeError, ValueError):
        max_cloud = -1
    if not 0 <= max_cloud <= 100:
        raise InvalidInput("max_cloud", "max_cloud must be a percentage from 0 to 100.")
    source = data.get("source") or "auto"
    if source not in SOURCES:
        raise InvalidInput("source", f"source must be one of {', '.join(SOURCES)}.")
    return start, end, max_cloud, source


@dataclass(frozen=True)
class PeriodParameters:
    """A composite's or series' time: its first and last day, its name when asked by name, and how to combine."""

    start: date
    end: date
    name: str
    method: str


COMPOSITE_PROPERTIES: dict[str, dict] = {**AREA_PROPERTIES,
    "period": {"type": "string", "description": "a year (2024), a month (2024-06) or a meteorological season "
                                                "(2024-DJF, 2024-MAM, 2024-JJA, 2024-SON); else start and end"},
    "method": {"type": "string", "enum": list(METHODS), "description": "mode of the scenes' labels (default) or "
                                                                        "mean of their probabilities"}}
COMPOSITE_REQUEST = {"type": "object", "properties": COMPOSITE_PROPERTIES}


def period_parameters(request, asked: MapParameters, max_days: int | None = None) -> PeriodParameters:
    """The request's period (by name, or its start and end: one of the two; at most `max_days` long, by default
    HRMARS_COMPOSITE_MAX_DAYS) and method, checked."""
    data = body_of(request)
    name = data.get("period")
    method = data.get("method") or "mode"
    if method not in METHODS:
        raise InvalidInput("method", f"method must be one of {', '.join(METHODS)}.")
    if name not in (None, ""):
        if asked.start or asked.end:
            raise InvalidInput("period", "Give a period by name or by start and end, not both.")
        try:
            found = period(str(name))
        except PeriodError as exc:
            raise InvalidInput("period", str(exc)) from None
        return PeriodParameters(found.start, found.end, found.name, method)
    if asked.start is None or asked.end is None:
        raise InvalidInput("period", "Give the period: by name (2024, 2024-06, 2024-JJA) or by start and end.")
    longest = settings.COMPOSITE_MAX_DAYS if max_days is None else max_days
    if (asked.end - asked.start).days > longest:
        raise InvalidInput("end", f"A period is at most {longest} days long.")
    return PeriodParameters(asked.start, asked.end, "", method)


SERIES_REQUEST = {"type": "object", "properties": {
    **COMPOSITE_PROPERTIES,
    "period": {"type": "string", "description": "the range by name (2024: its months, seasons…); else start and end"},
    "step": {"type": "string", "enum": list(STEPS), "description": "one composite per month (default), season or "
                                                                   "year of the range"}}}


def series_parameters(request, asked: MapParameters) -> tuple[PeriodParameters, str]:
    """A time series' range (by name, or start and end), method and step, checked."""
    step = body_of(request).get("step") or "month"
    if step not in STEPS:
        raise InvalidInput("step", f"step must be one of {', '.join(STEPS)}.")
    return period_parameters(request, asked, max_days=366 * 50), step
