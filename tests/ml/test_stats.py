"""ml.stats: areas are ground areas on the WGS 84 ellipsoid, whatever projection the map is in."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from pyproj import Geod
from rasterio.transform import from_origin
from rasterio.warp import transform

from ml.stats import class_statistics


def geodesic_km2(crs: str, left: float, top: float, size: float) -> float:
    """The area of a projected square on the ellipsoid, from its edges densified every 10 m."""
    steps = np.linspace(0, size, int(size / 10) + 1)
    xs = np.concatenate([left + steps, np.full_like(steps, left + size), left + size - steps, np.full_like(steps, left)])
    ys = np.concatenate([np.full_like(steps, top - size), top - size + steps, np.full_like(steps, top), top - steps])
    lon, lat = transform(crs, "EPSG:4326", xs.tolist(), ys.tolist())
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)
    return abs(area) / 1e6


@pytest.mark.parametrize("left", [190_000.0, 495_000.0])  # 310 km from the central meridian, and on it
def test_utm_map_areas_are_true_areas(tmp_path, left):
    size, top = 10_000.0, 4_200_000.0
    path = tmp_path / "map.tif"
    with rasterio.open(path, "w", driver="GTiff", width=1000, height=1000, count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32618", transform=from_origin(left, top, 10, 10)) as dst:
        dst.write(np.ones((1, 1000, 1000), np.uint8))
    measured = sum(r["area_km2"] for r in class_statistics(path))
    truth = geodesic_km2("EPSG:32618", left, top, size)
    assert measured == pytest.approx(truth, rel=2e-5)
    assert abs(100.0 - truth) / 100 > 5e-4  # the nominal 100 km² would have been wrong by more than that
