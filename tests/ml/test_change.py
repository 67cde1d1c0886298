"""ml.change: a transition matrix computed by hand from two small rasters on different grids; nodata,
cloud, the part outside the second map and uncertain pixels are counted apart, never compared."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from ml.change import change_code, change_map

BEFORE = np.array([[1, 1, 6, 6, 0],
                   [1, 1, 6, 6, 10],
                   [4, 4, 6, 6, 10],
                   [4, 4, 7, 7, 10]], np.uint8)
AFTER = np.array([[1, 6, 6, 6, 0],
                  [1, 6, 7, 7, 10],
                  [0, 4, 6, 6, 10]], np.uint8)  # three rows: the fourth row of BEFORE is outside it


def write(path, codes, left=500_000.0, top=5_000_000.0, size=100.0):
    with rasterio.open(path, "w", driver="GTiff", width=codes.shape[1], height=codes.shape[0], count=1,
                       dtype="uint8", nodata=0, crs="EPSG:32633", transform=from_origin(left, top, size, size)) as dst:
        dst.write(codes[None])
    return path


def test_transition_matrix_by_hand(tmp_path):
    before = write(tmp_path / "before.tif", BEFORE)
    # The second map on another grid: 50 m pixels (each of ours is 2 × 2 of them), same corner.
    after = write(tmp_path / "after.tif", np.repeat(np.repeat(AFTER, 2, axis=0), 2, axis=1), size=50.0)
    result = change_map(before, after, tmp_path / "change.tif")
    expected = {(1, 1): 2, (1, 6): 2, (6, 6): 4, (6, 7): 2, (10, 10): 2, (4, 4): 1}
    assert {(a, b): int(result.pixels[a, b]) for a, b in zip(*np.nonzero(result.pixels))} == expected
    assert result.excluded["nodata_or_cloud_before"]["pixels"] == 1
    assert result.excluded["nodata_or_cloud_after"]["pixels"] == 1
    assert result.excluded["outside_after"]["pixels"] == 5
    assert result.excluded["uncertain"]["pixels"] == 0
    summary = result.to_dict()
    ha = {(t["from"], t["to"]): t["ha"] for t in summary["transitions"]}
    assert ha[(1, 6)] == pytest.approx(2.0, rel=2e-3)  # 100 m pixels: 1 ha each (ground areas, UTM scale out)
    assert sum(t["percent"] for t in summary["transitions"]) == pytest.approx(100)
    net = {c["name"]: c["net_change_ha"] for c in summary["classes"]}
    assert net["Forest"] == pytest.approx(-2, rel=2e-3) and net["Urban/Built-up"] == pytest.approx(2, rel=2e-3)
    assert net["Croplands"] == pytest.approx(0, abs=1e-9)
    assert summary["biggest_changes"][0] in ("Forest → Croplands: 2.0 ha", "Croplands → Urban/Built-up: 2.0 ha")
    assert summary["changed_percent"] == pytest.approx(100 * 4 / 13, rel=1e-3)
    with rasterio.open(tmp_path / "change.tif") as src:
        codes = src.read(1)
        assert codes[0, 1] == change_code(1, 6) == 6 and codes[1, 2] == change_code(6, 7) == 57
        assert codes[0, 0] == 1 and (codes[3] == 0).all() and codes[0, 4] == 0 and codes[2, 0] == 0
        assert src.tags()["CHANGE_57"] == "Croplands → Urban/Built-up"
        assert src.colormap(1)[1] == (255, 255, 255, 255)  # unchanged: white, unlike Urban's grey


def test_uncertain_pixels_are_left_out(tmp_path):
    before = write(tmp_path / "before.tif", BEFORE)
    after = write(tmp_path / "after.tif", AFTER)
    confidence = np.full((2, 4, 5), 250, np.uint8)  # one class band (unused here) and the confidence band
    confidence[1, 0, 1] = 100  # the 1 → 6 pixel at row 0 is unsure before
    with rasterio.open(tmp_path / "p.tif", "w", driver="GTiff", width=5, height=4, count=2, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500_000.0, 5_000_000.0, 100, 100)) as dst:
        dst.write(confidence)
    result = change_map(before, after, tmp_path / "change.tif", before_confidence=tmp_path / "p.tif",
                        min_confidence=0.5)
    assert result.pixels[1, 6] == 1 and result.excluded["uncertain"]["pixels"] == 1
    assert result.excluded["uncertain"]["min_confidence"] == 0.5
