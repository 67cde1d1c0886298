"""Class areas per unit (issue 24 #4, the counting): a layer of units that tiles a map sums to the map's own
statistics; each unit's counts are the pixels whose centres it holds; overlapping units are each counted whole;
units off or partly off the map count only what is on it."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from matplotlib.path import Path as Outline
from rasterio.transform import from_origin
from rasterio.warp import transform as warp

from ml.stats import class_statistics
from ml.zonal import unit_statistics

X0, Y0, SIZE = 400000.0, 4180000.0, 10.0  # UTM 18N, Delmarva
HEIGHT, WIDTH = 200, 300


@pytest.fixture(scope="module")
def landcover(tmp_path_factory):
    rng = np.random.default_rng(7)
    codes = rng.integers(1, 11, (HEIGHT, WIDTH), dtype=np.uint8)
    codes[:20, :40] = 0  # no data
    path = tmp_path_factory.mktemp("zonal") / "map.tif"
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32618", transform=from_origin(X0, Y0, SIZE, SIZE)) as dst:
        dst.write(codes, 1)
    return path, codes


def lonlat_polygon(ring_xy: list[tuple[float, float]]) -> dict:
    lons, lats = warp("EPSG:32618", "EPSG:4326", [x for x, _ in ring_xy], [y for _, y in ring_xy])
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in zip(lons, lats)]]}


def pixel_box(col0: int, row0: int, cols: int, rows: int) -> dict:
    x0, y0 = X0 + col0 * SIZE, Y0 - row0 * SIZE
    x1, y1 = x0 + cols * SIZE, y0 - rows * SIZE
    return lonlat_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])


def counts_of(row: dict) -> dict[int, int]:
    return {c["code"]: c["pixels"] for c in row["classes"] if c["pixels"]}


def test_a_layer_that_tiles_the_map_sums_to_the_maps_statistics(landcover):
    path, codes = landcover
    units = [pixel_box(c, r, 30, 20) for r in range(0, HEIGHT, 20) for c in range(0, WIDTH, 30)]  # 100 units
    rows = unit_statistics(path, units)
    assert len(rows) == 100
    for unit, row in zip([(c, r) for r in range(0, HEIGHT, 20) for c in range(0, WIDTH, 30)], rows):
        block = codes[unit[1]:unit[1] + 20, unit[0]:unit[0] + 30]
        expected = {int(k): int(v) for k, v in enumerate(np.bincount(block.ravel(), minlength=11)) if k and v}
        assert counts_of(row) == expected
        assert row["pixels"] == 600 and row["nodata_pixels"] == int((block == 0).sum())
    whole = {r["code"]: r for r in class_statistics(path)}
    for code in range(1, 11):
        assert sum(counts_of(r).get(code, 0) for r in rows) == whole[code]["pixels"]
        km2 = sum(next(c["area_km2"] for c in r["classes"] if c["code"] == code) for r in rows)
        assert km2 == pytest.approx(whole[code]["area_km2"], rel=1e-4)
    assert rows[0]["nodata_percent"] == 100.0  # the first unit lies in the no-data corner


def test_overlapping_units_are_each_counted_whole_and_off_the_map_counts_nothing(landcover):
    path, codes = landcover
    small = [pixel_box(30, 20, 30, 20), pixel_box(60, 20, 30, 20)]
    both, *parts = unit_statistics(path, [pixel_box(30, 20, 60, 20), *small])
    assert counts_of(both) == {k: counts_of(parts[0]).get(k, 0) + counts_of(parts[1]).get(k, 0)
                               for k in set(counts_of(parts[0])) | set(counts_of(parts[1]))}
    off, half = unit_statistics(path, [pixel_box(400, 0, 20, 20), pixel_box(290, 100, 20, 10)])
    assert off["pixels"] == 0 and off["mapped_km2"] == 0
    assert half["pixels"] == 10 * 10  # the half on the map


def test_a_units_pixels_are_those_whose_centres_it_holds(landcover):
    path, codes = landcover
    ring = [(X0 + 13 * SIZE, Y0 - 7 * SIZE), (X0 + 181.3 * SIZE, Y0 - 22.6 * SIZE), (X0 + 95.5 * SIZE, Y0 - 170.2 * SIZE),
            (X0 + 13 * SIZE, Y0 - 7 * SIZE)]
    (row,) = unit_statistics(path, [lonlat_polygon(ring)])
    cols, rows = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)
    centres = np.column_stack([X0 + cols.ravel() * SIZE, Y0 - rows.ravel() * SIZE])
    inside = Outline(ring).contains_points(centres).reshape(HEIGHT, WIDTH)
    expected = {int(k): int(v) for k, v in enumerate(np.bincount(codes[inside], minlength=11)) if k and v}
    found = counts_of(row)
    # The triangle's edges pass through some pixel centres' neighbourhoods: the lon/lat round trip moves them by
    # under a millimetre, so at most a handful of edge pixels may go either way.
    assert sum(abs(found.get(k, 0) - expected.get(k, 0)) for k in range(1, 11)) <= 4
    assert abs(row["pixels"] - int(inside.sum())) <= 4
