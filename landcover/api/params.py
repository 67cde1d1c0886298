"""Request parameters of the API, parsed in one place: each bad value is an `InvalidInput` (a 400 whose body
names the parameter and says what to send, in the one shape of `api/errors.py`), never a 500."""
from __future__ import annotations

import math
import re

from django.contrib.gis.geos import Point
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from ..errors import InvalidInput
from ..urlconverters import MAX_ID
from ..validation.bbox import parse_bbox

BBOX_PARAM = OpenApiParameter(
    "bbox", str, description="min_lon,min_lat,max_lon,max_lat in degrees (EPSG:4326); min_lon > max_lon crosses "
                             "the antimeridian. Example: 11.4,48.0,11.8,48.3")
LAT = OpenApiParameter("lat", float, description="latitude, degrees north (−90…90)")
LON = OpenApiParameter("lon", float, description="longitude, degrees east (−180…180)")
PATCH = OpenApiParameter("patch", int, description="a patch id (instead of lat/lon)")
MODEL = OpenApiParameter("model", str, description="model name (default: the site's default model); see /api/v1/models/")
DATASET = OpenApiParameter("dataset", str, description="only this dataset (id or name)")
SEASON = OpenApiParameter("season", str, description="only patches of this season (SEN12MS: spring, summer, fall, "
                                                     "winter)")
MIN_CONFIDENCE = OpenApiParameter(
    "min_confidence", float, description="0–1: count only pixels whose top-1 class probability is at least this; "
                                         "the rest are reported apart as 'uncertain' (model maps only)")


def filter_bbox(queryset, field: str, value: str | None):
    """Rows whose `field` overlaps the bbox parameter's box (either half across the antimeridian)."""
    if not value:
        return queryset
    box = parse_bbox(value)
    if isinstance(box, tuple):
        return queryset.filter(**{f"{field}__bboverlaps": box[0]}) | queryset.filter(**{f"{field}__bboverlaps": box[1]})
    return queryset.filter(**{f"{field}__bboverlaps": box})


DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes "²"


def parse_id(value: str) -> int | None:
    """A database id from a parameter: ASCII digits within the database's range, else None."""
    if not DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def dataset_param(value: str | None) -> int | str | None:
    """The dataset parameter: an id (a whole number) or a name; None when not given."""
    if not value:
        return None
    if value.strip().isdigit() or DIGITS.fullmatch(value):
        number = parse_id(value)
        if number is None:
            raise InvalidInput("dataset", f"dataset must be a dataset id (1 to {MAX_ID}) or a name, got "
                                          f"{value[:50]!r}.")
        return number
    return value


class PointQuery(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, error_messages={
        "required": "Give the latitude as lat=<degrees north>, e.g. lat=48.14.",
        "invalid": "lat must be a number of degrees, e.g. lat=48.14.",
        "min_value": "lat must be between -90 and 90 degrees.", "max_value": "lat must be between -90 and 90 degrees."})
    lon = serializers.FloatField(min_value=-180, max_value=180, error_messages={
        "required": "Give the longitude as lon=<degrees east>, e.g. lon=11.58.",
        "invalid": "lon must be a number of degrees, e.g. lon=11.58.",
        "min_value": "lon must be between -180 and 180 degrees.",
        "max_value": "lon must be between -180 and 180 degrees."})


def point_from(request) -> Point:
    """The lat/lon parameters as a point (lon, lat) in EPSG:4326."""
    query = PointQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    return Point(query.validated_data["lon"], query.validated_data["lat"], srid=4326)


def patch_id(value: str) -> int:
    """The patch parameter as an id."""
    number = parse_id(value)
    if number is None:
        raise InvalidInput("patch", f"patch must be a patch id (a whole number from 1 to {MAX_ID}), got "
                                    f"{value[:50]!r}.")
    return number


def check_tile(z: int, x: int, y: int) -> None:
    """An XYZ tile address that exists (zoom up to 24)."""
    if z > 24 or x >= 2 ** z or y >= 2 ** z:
        raise InvalidInput("tile", f"No tile {z}/{x}/{y}: zoom goes up to 24 and x, y below 2^zoom.")


def probability(value, field: str = "min_confidence") -> float | None:
    """A probability from 0 to 1 (a query's text or a JSON body's number), None when not given; the one rule
    for min_confidence wherever it is taken (0 counts every pixel as sure enough)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (0 <= number <= 1):  # also refuses NaN and infinities
        raise InvalidInput(field, f"{field} must be a number from 0 to 1 (a probability), e.g. {field}=0.6; got "
                                  f"{str(value)[:50]!r}.")
    return number


def min_confidence(request) -> float | None:
    """The min_confidence query parameter (0–1), None when not given."""
    return probability(request.query_params.get("min_confidence"))


def int_param(request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter from `low` to `high` (`default` when not given)."""
    value = request.query_params.get(name, str(default))
    if not DIGITS.fullmatch(value.lstrip("-")) or not low <= int(value) <= high:
        raise InvalidInput(name, f"{name} must be a whole number from {low} to {high}.")
    return int(value)
