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


def geometry_blob(polygon: Polygon, srs_id: int) -> bytes:
    """A GeoPackage geometry: the 'GP' header with the polygon's envelope (minx, maxx, miny, maxy), then WKB."""
    xs = [float(p[0]) for p in polygon[0]]
    ys = [float(p[1]) for p in polygon[0]]
    flags = 0b0000_0011  # little endian, envelope [minx, maxx, miny, maxy], not empty, standard WKB
    header = struct.pack("<2sBBi4d", b"GP", 0, flags, srs_id, min(xs), max(xs), min(ys), max(ys))
    return header + polygon_wkb(polygon)


def write_polygons(out: Path, layer: str, crs: CRS, rows: Iterable[tuple[Polygon, int, str, float]]) -> int:
    """A GeoPackage at `out` (replaced if it exists) with one polygon layer of (geometry, code, name, area_ha)
    rows in `crs`; returns how many were written."""
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
        connection.execute(f'CREATE TABLE "{layer}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom POLYGON, '
                           "code INTEGER, name TEXT, area_ha REAL)")
        bounds = [float("inf"), float("inf"), float("-inf"), float("-inf")]
        count = 0
        for polygon, code, name, area_ha in rows:
            for x, y, *_ in polygon[0]:
                bounds = [min(bounds[0], x), min(bounds[1], y), max(bounds[2], x), max(bounds[3], y)]
            connection.execute(f'INSERT INTO "{layer}" (geom, code, name, area_ha) VALUES (?, ?, ?, ?)',
                               (geometry_blob(polygon, srs_id), int(code), name, float(area_ha)))
            count += 1
        extent = bounds if count else [None] * 4
        connection.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x, max_y, "
                           "srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, ?)", (layer, layer, *extent, srs_id))
        connection.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'POLYGON', ?, 0, 0)", (layer, srs_id))
        connection.commit()
    finally:
        connection.close()
    return count
