"""ml.vectors: polygons per class whose areas match the raster's (exactly without an MMU, within what the MMU
merged with one), neighbours sharing borders (no gaps, no overlaps), GeoJSON in lon/lat and GeoPackage read
back by GDAL."""
from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.ops import unary_union

from ml.vectors import vectorise


@pytest.fixture
def class_map(tmp_path):
    rng = np.random.default_rng(5)
    codes = np.ones((120, 160), np.uint8)           # forest
    codes[:, 80:] = 6                                # croplands
    codes[40:80, 30:60] = 10                         # a lake
    codes[100:, 100:140] = 7                         # a town
    specks = rng.random(codes.shape) < 0.01          # single-pixel specks of grassland
    codes[specks] = 4
    codes[:5, :5] = 0                                # a nodata corner
    path = tmp_path / "map.tif"
    with rasterio.open(path, "w", driver="GTiff", width=160, height=120, count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32631", transform=from_origin(400_000, 5_300_000, 10, 10)) as dst:
        dst.write(codes[None])
    return path, codes


def test_without_mmu_polygon_areas_are_the_raster_areas(class_map, tmp_path):
    path, codes = class_map
    result = vectorise(path, tmp_path / "out.geojson", "geojson", mmu_pixels=0)
    for code, ha in result.raster_ha.items():
        assert result.class_ha[code] == pytest.approx(ha, rel=1e-4)  # per-polygon vs per-row areal scale
    features = json.loads((tmp_path / "out.geojson").read_text())["features"]
    assert len(features) == result.polygons and {f["properties"]["name"] for f in features} >= {"Forest", "Water"}
    lon, lat = features[0]["geometry"]["coordinates"][0][0]
    assert 0 < lon < 3 and 47 < lat < 48  # RFC 7946: lon/lat


def test_mmu_merges_small_patches_and_borders_stay_shared(class_map, tmp_path):
    path, codes = class_map
    result = vectorise(path, tmp_path / "out.gpkg", "gpkg", mmu_pixels=9)
    assert 4 not in result.class_ha  # every grassland speck (1 pixel) was below the MMU
    merged_ha = sum(abs(result.class_ha.get(c, 0) - ha) for c, ha in result.raster_ha.items())
    speck_ha = result.raster_ha[4]
    assert merged_ha == pytest.approx(2 * speck_ha, rel=1e-3)  # the specks moved to their neighbours, nothing else
    from pyogrio.raw import read  # GDAL reads it back
    from shapely import from_wkb

    meta, _, geometries, fields = read(str(tmp_path / "out.gpkg"))
    polygons = [from_wkb(g) for g in geometries]
    assert meta["crs"].endswith("32631") and len(polygons) == result.polygons
    union = unary_union(polygons)
    total_m2 = sum(p.area for p in polygons)
    assert union.area == pytest.approx(total_m2, rel=1e-9)  # no overlaps
    assert total_m2 == pytest.approx((codes > 0).sum() * 100, rel=1e-9)  # no gaps: every data pixel is covered
