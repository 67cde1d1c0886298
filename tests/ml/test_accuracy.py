"""ml.accuracy: the stratified estimator reproduces Olofsson et al. (2014)'s worked example to the precision
it was published at, and the stratified sample is stratified, reproducible by seed and inside its classes."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from ml.accuracy import assess, confusion_counts, draw_sample

# Olofsson, Foody, Herold, Stehman, Woodcock, Wulder (2014), Remote Sensing of Environment 148, 42–57,
# section 5 (the worked example): strata deforestation, forest gain, stable forest, stable non-forest;
# sample counts (rows: map class, columns: reference class) and mapped areas in 30 m Landsat pixels.
COUNTS = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
MAPPED_PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]
PIXEL_HA = 0.09


def test_the_worked_example_of_olofsson_2014():
    a = assess(COUNTS, [1, 2, 3, 4], MAPPED_PIXELS, PIXEL_HA)
    # Estimated areas and 95 % confidence intervals, hectares, as published
    assert [round(x) for x in a.areas] == [21_158, 11_686, 285_770, 581_386]
    assert [round(x) for x in a.areas_ci] == [6_158, 3_756, 15_510, 16_282]
    # Accuracies, published to two decimals
    assert (round(a.overall, 2), round(a.overall_ci, 2)) == (0.95, 0.02)
    assert [round(x, 2) for x in a.users] == [0.88, 0.73, 0.93, 0.96]
    assert [round(x, 2) for x in a.users_ci] == [0.07, 0.10, 0.04, 0.02]
    assert [round(x, 2) for x in a.producers] == [0.75, 0.85, 0.93, 0.96]
    assert round(a.producers_ci[0], 2) == 0.21 and round(a.producers_ci[2], 2) == 0.03
    # The error matrix in area proportions sums to one; mapped areas are the strata's
    assert a.proportions.sum() == pytest.approx(1.0)
    assert a.mapped_areas == pytest.approx([18_000, 13_500, 288_000, 580_500])


def test_without_a_design_only_counts_and_point_accuracies():
    a = assess(COUNTS, [1, 2, 3, 4])
    out = a.to_dict()
    assert out["stratified"] is False and "estimated_area" not in out["classes"][0]
    assert out["overall_accuracy"] == pytest.approx((66 + 55 + 153 + 313) / 640)
    assert out["classes"][0]["producers_accuracy"] == pytest.approx(66 / 69)  # of the points, not of the map


def test_confusion_counts_ignore_codes_outside_the_classes():
    counts = confusion_counts([1, 1, 2, 0, 7], [1, 2, 2, 1, 1], [1, 2])
    assert counts.tolist() == [[1, 1], [0, 1]]


@pytest.fixture
def class_map(tmp_path):
    rng = np.random.default_rng(3)
    codes = rng.choice([1, 4, 6, 10], size=(300, 400), p=[0.5, 0.3, 0.19, 0.01]).astype(np.uint8)
    codes[:20] = 0  # nodata is never sampled
    path = tmp_path / "map.tif"
    with rasterio.open(path, "w", driver="GTiff", width=400, height=300, count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32632", transform=from_origin(600_000, 5_200_000, 10, 10)) as dst:
        dst.write(codes[None])
    return path, codes


def test_the_sample_is_stratified_reproducible_and_in_its_class(class_map):
    path, codes = class_map
    first = draw_sample(path, 30, seed=7, strip_rows=64)
    again = draw_sample(path, 30, seed=7, strip_rows=128)  # the strips do not change the draw
    other = draw_sample(path, 30, seed=8)
    assert first == again and first != other
    per_class = {c: sum(1 for p in first if p["map_class"] == c) for c in (1, 4, 6, 10)}
    assert per_class == {1: 30, 4: 30, 6: 30, 10: min(30, int((codes == 10).sum()))}
    assert all(codes[p["row"], p["col"]] == p["map_class"] for p in first)
    assert len({(p["row"], p["col"]) for p in first}) == len(first)  # without replacement
    with rasterio.open(path) as src:
        lon, lat = first[0]["lon"], first[0]["lat"]
        assert 8 < lon < 11 and 46 < lat < 47.5 and src.crs.to_epsg() == 32632
    assert draw_sample(path, {10: 2}, seed=1) and {p["map_class"] for p in draw_sample(path, {10: 2}, seed=1)} == {10}
