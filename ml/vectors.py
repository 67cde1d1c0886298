"""Land-cover maps as vector polygons, for GIS work that wants shapes rather than pixels.

How: patches smaller than the minimum mapping unit (MMU, in pixels) are first merged into their largest
neighbour (GDAL's sieve, 8-connected, nodata left alone); every remaining patch becomes one polygon
(GDAL's polygonize on pixel edges, so neighbours share their borders exactly); the polygons are then
simplified only by dropping vertices that lie on a straight line between their neighbours — a lossless
simplification, so no border moves and no gap or overlap can appear between neighbours. Each polygon
carries its class code and name and its ground area (ha, on the ellipsoid, as `ml.stats` counts pixels).

Formats: GeoJSON (RFC 7946: lon/lat, written with the json module) and GeoPackage (in the map's own CRS,
written with Python's sqlite3 by `ml.gpkg`: no second GDAL in the web process, whose clash crashed it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.features import shapes, sieve
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape

from .classes import DFC_NAMES, NODATA
from .gpkg import write_polygons
from .stats import ClassAreas, areal_scale

FORMATS = ("geojson", "gpkg")


@dataclass
class VectorResult:
    """What was written: polygons per class, and each class's area before and after the MMU."""

    path: Path
    polygons: int
    class_ha: dict[int, float]          # after the MMU, from the polygons
    raster_ha: dict[int, float]         # before the MMU, from the pixels
    mmu_pixels: int


def vectorise(map_path: Path | str, out: Path, fmt: str = "geojson", mmu_pixels: int = 0) -> VectorResult:
    """Polygons of a class map (see the module docstring) into `out` as GeoJSON or GeoPackage."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    with rasterio.open(map_path) as src:
        codes = src.read(1)
        transform, crs = src.transform, src.crs
        pixels = ClassAreas(src)  # the raster's ground areas per class, as every map's statistics count them
        pixels.add(codes, 0)
    valid = codes != NODATA
    raster_ha = {code: float(pixels.areas[code]) * 100 for code in range(1, 256) if pixels.counts[code]}
    sieved = sieve(codes, size=mmu_pixels, mask=valid, connectivity=8) if mmu_pixels > 1 else codes
    features: list[tuple[dict, int, float]] = []
    class_ha: dict[int, float] = {}
    for geometry, value in shapes(sieved, mask=sieved != NODATA, transform=transform, connectivity=4):
        polygon = shape(geometry).simplify(0)  # drops only vertices on a straight line: borders do not move
        centre = polygon.representative_point()
        scale = float(areal_scale(crs, np.array([centre.x]), np.array([centre.y]))[0]) if crs.is_projected else 1.0
        ha = polygon.area * crs.linear_units_factor[1] ** 2 / scale / 1e4 if crs.is_projected else float("nan")
        code = int(value)
        class_ha[code] = class_ha.get(code, 0.0) + ha
        features.append((mapping(polygon), code, ha))
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "geojson":
        collection = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": i, "geometry": transform_geom(crs, "EPSG:4326", g),
             "properties": {"code": code, "name": DFC_NAMES.get(code, ""), "area_ha": round(ha, 4)}}
            for i, (g, code, ha) in enumerate(features, start=1)]}
        out.write_text(json.dumps(collection, separators=(",", ":")))
    else:
        _write_gpkg(out, features, crs)
    return VectorResult(out, len(features), class_ha, raster_ha, mmu_pixels)


def _write_gpkg(out: Path, features: list[tuple[dict, int, float]], crs: CRS) -> None:
    write_polygons(out, "landcover", crs, ((g["coordinates"], code, DFC_NAMES.get(code, ""), round(ha, 4))
                                          for g, code, ha in features))
