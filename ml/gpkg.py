"""GeoPackage polygons written with Python's own sqlite3 module: no second GDAL, GEOS or SQLite in the process.

Why by hand: the GeoPackage export crashed the embedded site (SIGSEGV in gunicorn, a GEOSException outside
it). That process already holds Debian's SQLite and mod_spatialite, which SQLite loads RTLD_GLOBAL, with
Debian's GEOS and PROJ behind it; pyogrio's wheel then brought its own GDAL, SQLite and GEOS, and symbols of
one copy were bound to functions of the other. A GeoPackage is an SQLite database with three metadata tables
and a geometry column of standard WKB behind a small header (OGC 12-128r18), so the standard library writes
it exactly, in any process, with the SQLite that is already there.
"""
from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from rasterio.crs import CRS

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10300         # GeoPackage 1.3.0
OWN_SRS_ID = 100000          # a CRS without an EPSG code is stored under this id

Ring = Sequence[Sequence[float]]
Polygon = Sequence[Ring]  # exterior ring, then holes: GeoJSON's "coordinates" of a Polygon

SCHEMA = """
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
"""
UNDEFINED = [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
             ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system")]


def polygon_wkb(polygon: Polygon) -> bytes:
    """A polygon (exterior ring, then holes) as little-endian 2D WKB."""
    parts = [struct.pack("<BII", 1, 3, len(polygon))]
    for ring in polygon:
        parts.append(struct.pack("<I", len(ring)))
        parts.append(b"".join(struct.pack("<dd", float(p[0]), float(p[1])) for p in ring))
    return b"".join(parts)


def geometry_wkb(geometry: dict) -> bytes:
    """A GeoJSON Polygon or MultiPolygon as little-endian 2D WKB."""
    if geometry["type"] == "Polygon":
        return polygon_wkb(geometry["coordinates"])
    polygons = geometry["coordinates"]
    return struct.pack("<BI", 1, 6) + struct.pack("<I", len(polygons)) + b"".join(polygon_wkb(p) for p in polygons)


def geometry_blob(geometry: dict, srs_id: int) -> bytes:
    """A GeoPackage geometry: the 'GP' header with the envelope (minx, maxx, miny, maxy), then WKB."""
    rings = [geometry["coordinates"][0]] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
    xs = [float(p[0]) for ring in rings for p in ring]
    ys = [float(p[1]) for ring in rings for p in ring]
    flags = 0b0000_0011  # little endian, envelope [minx, maxx, miny, maxy], not empty, standard WKB
    header = struct.pack("<2sBBi4d", b"GP", 0, flags, srs_id, min(xs), max(xs), min(ys), max(ys))
    return header + geometry_wkb(geometry)


COLUMN_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT"}


def write_layer(out: Path, layer: str, crs: CRS, columns: Sequence[tuple[str, type]],
                rows: Iterable[tuple[dict, Sequence[object]]], geometry_type: str = "MULTIPOLYGON") -> int:
    """A GeoPackage at `out` (replaced if it exists) with one layer of (GeoJSON Polygon/MultiPolygon geometry,
    values) rows in `crs`, the values in `columns` (name, int/float/str); returns how many were written."""
    if not layer.isidentifier():
        raise ValueError(f"layer name {layer!r}: letters, digits and _ only")
    epsg = crs.to_epsg()
    srs_id = epsg if epsg else OWN_SRS_ID
    if out.exists():
        out.unlink()
    connection = sqlite3.connect(out)
    try:
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {USER_VERSION}")
        connection.executescript(SCHEMA)
        srs = [*UNDEFINED, ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt(), "longitude/latitude")]
        if srs_id != 4326:
            srs.append((crs.to_string() if epsg else "map CRS", srs_id, "EPSG" if epsg else "NONE", srs_id,
                        crs.to_wkt(), "the map's CRS"))
        connection.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", srs)
        quoted = ", ".join('"{}" {}'.format(name.replace('"', '""'), COLUMN_TYPES[kind]) for name, kind in columns)
        connection.execute(f'CREATE TABLE "{layer}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
                           f'geom {geometry_type}{", " + quoted if columns else ""})')
        names = ", ".join('"{}"'.format(name.replace('"', '""')) for name, _ in columns)
        insert = (f'INSERT INTO "{layer}" (geom{", " + names if columns else ""}) VALUES '
                  f'(?{", ?" * len(columns)})')
        bounds = [float("inf"), float("inf"), float("-inf"), float("-inf")]
        count = 0
        for geometry, values in rows:
            rings = [geometry["coordinates"][0]] if geometry["type"] == "Polygon" else \
                [p[0] for p in geometry["coordinates"]]
            for ring in rings:
                for x, y, *_ in ring:
                    bounds = [min(bounds[0], x), min(bounds[1], y), max(bounds[2], x), max(bounds[3], y)]
            connection.execute(insert, (geometry_blob(geometry, srs_id), *values))
            count += 1
        extent = bounds if count else [None] * 4
        connection.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x, max_y, "
                           "srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, ?)", (layer, layer, *extent, srs_id))
        connection.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                           (layer, geometry_type, srs_id))
        connection.commit()
    finally:
        connection.close()
    return count


def write_polygons(out: Path, layer: str, crs: CRS, rows: Iterable[tuple[Polygon, int, str, float]]) -> int:
    """A GeoPackage at `out` (replaced if it exists) with one polygon layer of (geometry, code, name, area_ha)
    rows in `crs`; returns how many were written."""
    return write_layer(out, layer, crs, [("code", int), ("name", str), ("area_ha", float)],
                       (({"type": "Polygon", "coordinates": polygon}, (int(code), name, float(area_ha)))
                        for polygon, code, name, area_ha in rows), geometry_type="POLYGON")


class GeoPackageError(ValueError):
    """A file that is not a readable GeoPackage of features; the message says why."""


ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}  # by the header's envelope indicator (OGC 12-128r18 §2.1.3)


def read_features(data: bytes, max_features: int) -> tuple[list[tuple[bytes, dict]], str | None]:
    """The features of a GeoPackage's first features table, read from memory with Python's sqlite3 (no GDAL):
    (standard WKB, attributes) each, and the table's CRS as "EPSG:n" or WKT (None: undefined)."""
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(data)
        row = con.execute("SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c JOIN "
                          "gpkg_geometry_columns g ON g.table_name = c.table_name WHERE c.data_type = 'features' "
                          "ORDER BY c.table_name LIMIT 1").fetchone()
        if row is None:
            raise GeoPackageError("the GeoPackage has no features table")
        table, column, srs_id = row
        srs = con.execute("SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
                          "WHERE srs_id = ?", (srs_id,)).fetchone()
        quoted = '"' + str(table).replace('"', '""') + '"'
        count = con.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # a quoted identifier
        if count > max_features:
            raise GeoPackageError(f"the GeoPackage holds {count:,} features; at most {max_features:,} are read")
        cursor = con.execute(f"SELECT * FROM {quoted}")  # a quoted identifier
        names = [d[0] for d in cursor.description]
        features = []
        for values in cursor:
            record = dict(zip(names, values))
            blob = record.pop(column, None)
            features.append((_wkb_of(blob), {k: v for k, v in record.items() if isinstance(v, (int, float, str))}))
    except sqlite3.Error as exc:
        raise GeoPackageError(f"not a readable GeoPackage ({exc})") from None
    finally:
        con.close()
    crs = None
    if srs is not None and srs[0] and str(srs[0]).upper() == "EPSG" and int(srs[1]) > 0:
        crs = f"EPSG:{int(srs[1])}"
    elif srs is not None and srs[2] and srs[2] != "undefined":
        crs = str(srs[2])
    return features, crs


def _wkb_of(blob: object) -> bytes:
    if not isinstance(blob, bytes) or len(blob) < 8 or blob[:2] != b"GP":
        raise GeoPackageError("a feature's geometry is not a GeoPackage geometry blob")
    flags = blob[3]
    envelope = ENVELOPE_BYTES.get((flags >> 1) & 7)
    if envelope is None or flags & 0x10:
        raise GeoPackageError("a feature's geometry is empty or has an unknown envelope")
    return blob[8 + envelope:]
