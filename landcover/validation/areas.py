"""Areas of interest as users give them: a clicked point (a square around it), a bounding box, a
GeoJSON geometry, or an uploaded GeoJSON, KML or zipped Shapefile. Every one becomes one valid
(Multi)Polygon in lon/lat, or an InvalidInput that says what is wrong with it. The same files read as
features (each polygon with its attributes) are the units of per-unit statistics (`features_from_file`).

Why here: the job and the imagery code trust the area they get. Each file is sniffed first (zip magic,
XML root, JSON) and then parsed only by the parser of that format, from memory: KML with defusedxml (no
entity expansion, no external references), Shapefiles with pyshp from the zip's members (no file
paths, member sizes checked before reading), GeoJSON with the json module. Limits (settings): vertices,
geodesic area on the WGS 84 ellipsoid, file size.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from defusedxml import ElementTree
from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Polygon
from pyproj import CRS, Geod, Transformer

from ..errors import InvalidInput
from .bbox import parse_bbox
from .zips import member_errors

GEOD = Geod(ellps="WGS84")
KML_NS = "{http://www.opengis.net/kml/2.2}"


def geodesic_area_km2(geometry: GEOSGeometry) -> float:
    """Area on the WGS 84 ellipsoid, km² (holes subtracted) of a MultiPolygon."""
    total = 0.0
    for polygon in geometry:  # type: ignore[attr-defined]  # a MultiPolygon iterates over its polygons
        for i, ring in enumerate(polygon):
            lons, lats = zip(*ring.coords)
            area, _ = GEOD.polygon_area_perimeter(lons, lats)
            total += abs(area) * (1 if i == 0 else -1)
    return total / 1e6


def checked(geometry: GEOSGeometry | None, field: str = "geometry",
            max_km2: float | None = None) -> tuple[GEOSGeometry, float]:
    """The area as a valid MultiPolygon in lon/lat and its geodesic km² (at most `max_km2`, by default an area's
    HRMARS_AREA_MAX_KM2), or InvalidInput saying why not."""
    if geometry is None or geometry.empty:
        raise InvalidInput(field, "The area is empty: draw or upload at least one polygon.")
    if geometry.geom_type == "Polygon":
        geometry = MultiPolygon(geometry, srid=4326)
    if geometry.geom_type != "MultiPolygon":
        raise InvalidInput(field, f"The area must be a polygon or multipolygon, not a {geometry.geom_type}.")
    geometry.srid = 4326
    vertices = geometry.num_coords
    if vertices > settings.AREA_MAX_VERTICES:
        raise InvalidInput(field, f"The area has {vertices:,} vertices; the most allowed is "
                                  f"{settings.AREA_MAX_VERTICES:,}. Simplify it first.")
    west, south, east, north = geometry.extent
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(field, "The area's coordinates must be longitude (−180…180) and latitude (−90…90), "
                                  "in that order (GeoJSON and KML are lon, lat).")
    if east - west > 180:
        raise InvalidInput(field, "The area crosses the antimeridian or spans over 180° of longitude; split it.")
    if not geometry.valid:
        raise InvalidInput(field, f"The area is not a valid polygon ({geometry.valid_reason}); a ring must not "
                                  "cross itself or another ring.")
    km2 = geodesic_area_km2(geometry)
    if km2 <= 0:
        raise InvalidInput(field, "The area has no surface.")
    limit = settings.AREA_MAX_KM2 if max_km2 is None else max_km2
    if km2 > limit:
        advice = ("map it as a region (POST /api/v1/regions/: many tiles, many workers), or draw a smaller area"
                  if limit < settings.REGION_MAX_KM2 else "split it")
        raise InvalidInput(field, f"The area is {km2:,.1f} km²; the most mapped at once here is {limit:,} km²: "
                                  f"{advice}.")
    return geometry, km2


def from_geojson(value: object, field: str = "geometry") -> GEOSGeometry:
    """A GeoJSON Polygon / MultiPolygon, Feature or FeatureCollection (its polygons together) as GEOS."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(field, "The area is not readable GeoJSON (invalid JSON).") from None
        except RecursionError:
            raise InvalidInput(field, "The area's GeoJSON is nested too deeply to be an area.") from None
    if not isinstance(value, dict):
        raise InvalidInput(field, "The area must be a GeoJSON object (Polygon, MultiPolygon, Feature or "
                                  "FeatureCollection).")
    kind = value.get("type")
    if kind == "FeatureCollection":
        return _union_of([f.geometry for f in _geojson_features(value, field, settings.AREA_MAX_FEATURES)], field)
    if kind == "Feature":
        return from_geojson(value.get("geometry"), field)
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(field, f"The area must be a Polygon or MultiPolygon, not {kind!r}.")
    if not _numbers_only(value.get("coordinates")):
        raise InvalidInput(field, f"The {kind}'s coordinates must be nested lists of numbers ([lon, lat] positions).")
    try:
        geometry = GEOSGeometry(json.dumps({"type": kind, "coordinates": value.get("coordinates")}), srid=4326)
    except (GEOSException, GDALException, ValueError, TypeError):
        raise InvalidInput(field, f"The {kind}'s coordinates are not readable (a ring needs at least four "
                                  "[lon, lat] positions, the last equal to the first).") from None
    return geometry


@dataclass
class Feature:
    """One polygon of a file with its attributes (a unit of per-unit statistics)."""
    geometry: GEOSGeometry
    properties: dict


def _geojson_features(value: dict, field: str, max_features: int) -> list[Feature]:
    features = value.get("features")
    if not isinstance(features, list):
        raise InvalidInput(field, "A FeatureCollection's features must be a list of Features.")
    _check_features(len(features), field, max_features)
    found = []
    for n, feature in enumerate(features, start=1):
        if not isinstance(feature, dict):
            raise InvalidInput(field, f"Feature {n} is not a GeoJSON Feature object.")
        properties = feature.get("properties")
        found.append(Feature(from_geojson(feature.get("geometry"), field),
                             properties if isinstance(properties, dict) else {}))
    return found


def unit_geometry(geometry: GEOSGeometry, n: int) -> GEOSGeometry:
    """A unit's polygon, refused (naming the unit) unless it lies within longitudes −180…180, latitudes −90…90."""
    west, south, east, north = geometry.extent
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput("file", f"Unit {n} lies outside longitudes −180…180 and latitudes −90…90: give the layer "
                                   "in WGS 84 longitude/latitude (or a Shapefile with its .prj).")
    return geometry


def _check_features(count: int, field: str, max_features: int) -> None:
    """Refuse a file of more polygons than allowed before reading them (each costs the web process time)."""
    if count > max_features:
        what = ("an area is at most" if max_features == settings.AREA_MAX_FEATURES else
                "a layer of units is at most")
        raise InvalidInput(field, f"The file holds {count:,} features; {what} {max_features:,} "
                                  "(HRMARS_AREA_MAX_FEATURES, HRMARS_UNITS_MAX_FEATURES). Statistics for many units "
                                  "come from a map of their whole region (POST its units/).")


def _numbers_only(value: object, depth: int = 0) -> bool:
    """Whether GeoJSON coordinates are nested lists (at most four deep: a MultiPolygon's) of finite numbers (an
    empty list is left to the check that says the area is empty)."""
    if isinstance(value, (list, tuple)):
        return depth < 4 and all(_numbers_only(v, depth + 1) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _union_of(parts: Iterable[GEOSGeometry], field: str) -> GEOSGeometry:
    polygons: list[GEOSGeometry] = []
    for part in parts:
        polygons.extend([part] if part.geom_type == "Polygon" else list(part))  # type: ignore[call-overload]
    if not polygons:
        raise InvalidInput(field, "The file holds no polygon.")
    return MultiPolygon(*polygons, srid=4326)


def square_around(lon: float, lat: float, side_m: float) -> Polygon:
    """A square of `side_m` metres around a point (its corners at geodesic distances)."""
    half = side_m / 2
    _, north, _ = GEOD.fwd(lon, lat, 0, half)
    _, south, _ = GEOD.fwd(lon, lat, 180, half)
    east, _, _ = GEOD.fwd(lon, lat, 90, half)
    west, _, _ = GEOD.fwd(lon, lat, 270, half)
    return Polygon.from_bbox((west, south, east, north))


def from_point(lon: object, lat: object, size_m: object = None) -> GEOSGeometry:
    """The square around a clicked point."""
    try:
        x, y = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput("point", "Give the point as [lon, lat] in degrees.") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -85 <= y <= 85):
        raise InvalidInput("point", "The point must be lon −180…180, lat −85…85.")
    side = settings.AREA_POINT_SIZE_M if size_m in (None, "") else size_m
    try:
        side = float(side)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput("size_m", "size_m must be a number of metres.") from None
    if not 100 <= side <= 50_000:
        raise InvalidInput("size_m", "size_m must be 100–50,000 m.")
    return square_around(x, y, side)


def from_bbox(value: object) -> GEOSGeometry:
    """[west, south, east, north] in degrees (or the same as text), read by the one bbox parser; an area across
    the antimeridian (west > east) is refused, as for every other way of giving an area."""
    box = parse_bbox(value)
    if isinstance(box, tuple):
        raise InvalidInput("bbox", "The area crosses the antimeridian (west > east); split it.")
    return box


# ------------------------------------------------------------------------------------------------ files

def from_file(name: str, data: bytes) -> GEOSGeometry:
    """An uploaded area file (its polygons together), by what its bytes are (`features_from_file`)."""
    features = features_from_file(name, data, settings.AREA_MAX_FEATURES, settings.AREA_MAX_FILE_KB)
    return _union_of([f.geometry for f in features], "file")


def features_from_file(name: str, data: bytes, max_features: int, max_kb: int) -> list[Feature]:
    """The polygons of an uploaded file with their attributes, by what its bytes are: zip (a Shapefile), XML
    (KML) or JSON (GeoJSON); the name's suffix must agree."""
    limit = max_kb * 1024
    if len(data) > limit:
        raise InvalidInput("file", f"The file is {len(data) / 1024:,.0f} KB; this file may be at most "
                                   f"{max_kb:,} KB.")
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    head = data.lstrip()[:100]
    if data[:4] == b"PK\x03\x04":
        kind = "zip"
    elif head.startswith((b"<?xml", b"<kml")):
        kind = "kml"
    elif head.startswith(b"{"):
        kind = "geojson"
    else:
        raise InvalidInput("file", "The file is neither GeoJSON, KML nor a zipped Shapefile.")
    expected = {"zip": ("zip",), "kml": ("kml",), "geojson": ("geojson", "json")}[kind]
    if suffix not in expected:
        raise InvalidInput("file", f"The file's contents are {kind.upper()} but its name ends in .{suffix or '?'}; "
                                   f"name it .{expected[0]}.")
    if kind == "zip":
        return shapefile_features(data, max_features, max_kb)
    if kind == "kml":
        return kml_features(data, max_features)
    return geojson_features(data, max_features)


def geojson_features(data: bytes, max_features: int) -> list[Feature]:
    """The features of a GeoJSON file: a FeatureCollection's, or one Feature or geometry."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("file", "The file is not readable GeoJSON (invalid JSON).") from None
    except RecursionError:
        raise InvalidInput("file", "The file's GeoJSON is nested too deeply.") from None
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        return _geojson_features(value, "file", max_features)
    properties = value.get("properties") if isinstance(value, dict) and value.get("type") == "Feature" else None
    return [Feature(from_geojson(value, "file"), properties if isinstance(properties, dict) else {})]


def _kml_ring(element) -> list[tuple[float, float]]:
    text = (element.text or "").split() if element is not None else []
    try:
        return [(float(p.split(",")[0]), float(p.split(",")[1])) for p in text]
    except (ValueError, IndexError):
        raise InvalidInput("file", "A KML ring has coordinates that are not lon,lat[,alt] numbers.") from None


def from_kml(data: bytes) -> GEOSGeometry:
    """The polygons of a KML document (every Placemark's Polygon, MultiGeometry included), together."""
    return _union_of([f.geometry for f in kml_features(data, settings.AREA_MAX_FEATURES)], "file")


def kml_features(data: bytes, max_features: int) -> list[Feature]:
    """Every Placemark of a KML document that holds polygons, with its name and ExtendedData values."""
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except Exception as exc:
        raise InvalidInput("file", f"The KML is not readable XML ({type(exc).__name__}).") from None
    ns = KML_NS if root.tag.startswith(KML_NS) else ""
    placemarks = list(root.iter(f"{ns}Placemark")) or [root]
    _check_features(len(placemarks), "file", max_features)
    features = []
    for placemark in placemarks:
        polygons = []
        for polygon in placemark.iter(f"{ns}Polygon"):
            outer = polygon.find(f"{ns}outerBoundaryIs/{ns}LinearRing/{ns}coordinates")
            rings = [_kml_ring(outer)] + [_kml_ring(inner) for inner in
                                          polygon.findall(f"{ns}innerBoundaryIs/{ns}LinearRing/{ns}coordinates")]
            try:
                polygons.append(Polygon(*rings, srid=4326))
            except (GEOSException, ValueError, TypeError):
                raise InvalidInput("file", "A KML polygon's ring needs at least four positions, the last equal to "
                                           "the first.") from None
        if not polygons:
            continue
        properties = {"name": (placemark.findtext(f"{ns}name") or "").strip()} if placemark is not root else {}
        for item in placemark.iter(f"{ns}Data"):
            properties[item.get("name") or ""] = (item.findtext(f"{ns}value") or "").strip()
        features.append(Feature(MultiPolygon(*polygons, srid=4326), properties))
    if not features:
        raise InvalidInput("file", "The file holds no polygon.")
    return features


def from_shapefile_zip(data: bytes) -> GEOSGeometry:
    """The polygons of the one Shapefile in a zip (.shp, .shx, .dbf; .prj for its CRS, else WGS 84), together."""
    features = shapefile_features(data, settings.AREA_MAX_FEATURES, settings.AREA_MAX_FILE_KB)
    return _union_of([f.geometry for f in features], "file")


def shapefile_features(data: bytes, max_features: int, max_kb: int, points: bool = False) -> list[Feature]:
    """The polygons (and with `points`, points) of the one Shapefile in a zip, each with its .dbf record."""
    import shapefile  # pyshp, needed only for this format

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = {info.filename.lower(): info for info in archive.infolist() if not info.is_dir()}
    except zipfile.BadZipFile:
        raise InvalidInput("file", "The zip file is damaged.") from None
    shps = [n for n in members if n.endswith(".shp") and not n.startswith("__macosx/")]
    if len(shps) != 1:
        raise InvalidInput("file", f"The zip must hold exactly one .shp file (it holds {len(shps)}).")
    stem = shps[0][:-4]
    if any(f"{stem}{ext}" not in members for ext in (".shx", ".dbf")):
        raise InvalidInput("file", "The Shapefile's .shx and .dbf must be in the zip beside its .shp.")
    limit = max_kb * 1024 * 4
    if sum(members[f"{stem}{ext}"].file_size for ext in (".shp", ".shx", ".dbf", ".prj") if f"{stem}{ext}" in members
           ) > limit:
        raise InvalidInput("file", "The Shapefile is too large once unzipped.")

    def member(ext: str) -> io.BytesIO:
        with member_errors(lambda reason: InvalidInput("file", reason)):
            return io.BytesIO(archive.read(members[f"{stem}{ext}"]))

    transform = None
    if f"{stem}.prj" in members:
        try:
            crs = CRS.from_wkt(member(".prj").read().decode("utf-8", "replace"))
        except Exception:
            raise InvalidInput("file", "The Shapefile's .prj is not a readable coordinate system.") from None
        if not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            transform = Transformer.from_crs(crs, 4326, always_xy=True)
    try:
        reader = shapefile.Reader(shp=member(".shp"), shx=member(".shx"), dbf=member(".dbf"))
        _check_features(len(reader), "file", max_features)
        shapes = list(reader.shapes())
        records = [record.as_dict() for record in reader.records()]
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput("file", f"The Shapefile is not readable ({type(exc).__name__}).") from None
    features = []
    point_types = (shapefile.POINT, shapefile.POINTZ, shapefile.POINTM) if points else ()
    for shape, record in zip(shapes, records):
        if shape.shapeType not in (shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM, *point_types):
            raise InvalidInput("file", "The Shapefile must hold " + ("points or polygons." if points else "polygons."))
        geo = shape.__geo_interface__
        if transform is not None:
            geo = _transformed(geo, transform)
        properties = {k: v if isinstance(v, (int, float, str)) or v is None else str(v) for k, v in record.items()}
        geometry = (GEOSGeometry(json.dumps({"type": "Point", "coordinates": geo["coordinates"][:2]}), srid=4326)
                    if shape.shapeType in point_types else from_geojson(geo, "file"))
        features.append(Feature(geometry, properties))
    if not features:
        raise InvalidInput("file", "The file holds no polygon.")
    return features


def _transformed(geo: dict, transform: Transformer) -> dict:
    def ring(r):
        xs, ys = zip(*[(p[0], p[1]) for p in r])
        lon, lat = transform.transform(xs, ys)
        return list(zip(lon, lat))
    if geo["type"] == "Point":
        return {"type": "Point", "coordinates": list(ring([geo["coordinates"]])[0])}
    if geo["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r) for r in geo["coordinates"]]}
    return {"type": "MultiPolygon", "coordinates": [[ring(r) for r in p] for p in geo["coordinates"]]}
