"""The one bounding-box parser: the catalogue's `bbox` filter, the STAC API's search and an area given as a
box all read a box the same way, with one rule for the antimeridian (west > east crosses it)."""
from __future__ import annotations

import math

from django.contrib.gis.geos import Polygon

from ..errors import InvalidInput


def parse_bbox(value, field: str = "bbox") -> Polygon | tuple[Polygon, Polygon]:
    """A bounding box — 'min_lon,min_lat,max_lon,max_lat' text or a list of four numbers (six: a 3D box, whose
    heights are dropped) — as a polygon in EPSG:4326. The one rule for the antimeridian, everywhere: min_lon >
    max_lon crosses it, and gives two polygons. InvalidInput(`field`) says what is wrong."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        if not isinstance(parts, (list, tuple)) or len(parts) not in (4, 6):
            raise ValueError
        numbers = [float(p) for p in parts if not isinstance(p, bool)]
        if len(numbers) != len(parts) or not all(math.isfinite(v) for v in numbers):
            raise ValueError
        x0, y0, x1, y1 = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    except (TypeError, ValueError):
        raise InvalidInput(field, f"{field} must be four numbers min_lon,min_lat,max_lon,max_lat in degrees, "
                                  f"e.g. {field}=11.4,48.0,11.8,48.3 (got {str(value)[:100]!r}).") from None
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180):
        raise InvalidInput(field, f"{field} longitudes must be between -180 and 180.")
    if not (-90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InvalidInput(field, f"{field} latitudes must be between -90 and 90 (is the order lon,lat,lon,lat?).")
    if y0 >= y1:
        raise InvalidInput(field, f"{field} min_lat must be less than max_lat (order: min_lon,min_lat,max_lon,max_lat).")
    if x0 == x1:
        raise InvalidInput(field, f"{field} has zero width (min_lon equals max_lon).")
    if x0 > x1:  # across the antimeridian
        east, west = Polygon.from_bbox((x0, y0, 180, y1)), Polygon.from_bbox((-180, y0, x1, y1))
        east.srid = west.srid = 4326
        return east, west
    box = Polygon.from_bbox((x0, y0, x1, y1))
    box.srid = 4326
    return box
