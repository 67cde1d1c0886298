"""ml.composite: the mode and the mean of dated maps, checked pixel by pixel against a plain computation of the
rule, and the clear-observation counts; ml.periods: periods by name and the steps of a range."""
from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from ml.composite import CompositeError, combine
from ml.modelio import load_model
from ml.periods import PeriodError, period, periods

GRID = {"crs": "EPSG:32618", "transform": from_origin(435730, 4179460, 10, 10)}


def scene_files(path, probabilities: np.ndarray, labels: np.ndarray, clear: np.ndarray) -> tuple[str, str]:
    """A scene's map (class codes, 0 where not clear) and probabilities file (a band per class ×255, the confidence
    last, masked) as a job stores them."""
    h, w, n = probabilities.shape
    data = np.round(probabilities * 255).astype(np.uint8)
    with rasterio.open(f"{path}-p.tif", "w", driver="GTiff", width=w, height=h, count=n + 1, dtype="uint8",
                       **GRID) as dst:
        dst.write(np.moveaxis(data, -1, 0), indexes=list(range(1, n + 1)))
        dst.write(data.max(axis=-1), n + 1)
        dst.write_mask(np.where(clear, 255, 0).astype(np.uint8))
    with rasterio.open(f"{path}-m.tif", "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", nodata=0,
                       **GRID) as dst:
        dst.write(np.where(clear, labels, 0).astype(np.uint8), 1)
    return f"{path}-m.tif", f"{path}-p.tif"


@pytest.fixture(scope="module")
def predictor(tiny_unet):
    return load_model(tiny_unet)


@pytest.fixture
def scenes(tmp_path, predictor):
    rng = np.random.default_rng(3)
    n = len(predictor.class_codes)
    probs = np.round(rng.dirichlet(np.full(n, 0.3), size=(4, 30, 40)) * 255) / 255  # what the files hold
    clears = rng.random((4, 30, 40)) > 0.35
    clears[:, :5, :5] = False  # never seen clear
    # Each scene's own labels: mostly its likeliest class, some not (a model's map is its own word, not only argmax)
    labels = predictor.class_codes[probs.argmax(axis=-1)]
    other = rng.random((4, 30, 40)) < 0.3
    labels[other] = rng.choice(predictor.class_codes, size=int(other.sum()))
    files = [scene_files(tmp_path / f"s{k}", probs[k], labels[k], clears[k]) for k in range(4)]
    return files, probs, labels, clears


def test_mode_and_mean_follow_their_rules_pixel_by_pixel_and_count_clear_observations(tmp_path, predictor, scenes):
    files, probs, labels, clears = scenes
    codes = predictor.class_codes
    mode = combine(files, tmp_path / "mode", predictor, "mode")
    mean = combine(files, tmp_path / "mean", predictor, "mean")
    with rasterio.open(tmp_path / "mode" / "map.tif") as a, rasterio.open(tmp_path / "mean" / "map.tif") as b, \
            rasterio.open(tmp_path / "mean" / "observations.tif") as c, \
            rasterio.open(tmp_path / "mean" / "probabilities.tif") as d:
        mode_map, mean_map, seen, mean_probs = a.read(1), b.read(1), c.read(1), d.read()
    for y in range(30):
        for x in range(40):
            clear = [k for k in range(4) if clears[k, y, x]]
            assert seen[y, x] == len(clear)
            if not clear:
                assert mode_map[y, x] == mean_map[y, x] == 0  # never seen clear: no data
                continue
            average = probs[clear, y, x].mean(axis=0)
            assert np.abs(mean_probs[:-1, y, x] - np.round(average * 255)).max() <= 1
            assert mean_map[y, x] == codes[int(np.argmax(average))]
            votes = Counter(int(labels[k, y, x]) for k in clear)
            most = max(votes.values())
            tied = sorted(c for c, v in votes.items() if v == most)
            of_code = {c: sum(average[b] for b in range(len(codes)) if codes[b] == c) for c in tied}
            assert mode_map[y, x] == max(tied, key=lambda c: of_code[c])  # then the lower code
    assert mode.observations == {k: int((clears.sum(axis=0) == k).sum()) for k in range(5)
                                 if (clears.sum(axis=0) == k).any()}
    assert mode.valid_pixels == mean.valid_pixels == int(clears.any(axis=0).sum())
    assert (mode_map != mean_map).any()  # the two rules differ somewhere on random data


def test_scenes_not_on_one_grid_or_of_another_model_are_refused(tmp_path, predictor, scenes):
    files, probs, labels, clears = scenes
    other = tmp_path / "other.tif"
    with rasterio.open(files[0][1]) as src:
        profile = {**src.profile, "transform": from_origin(435740, 4179460, 10, 10)}
        with rasterio.open(other, "w", **profile) as dst:
            dst.write(src.read())
    with pytest.raises(CompositeError, match="not on the grid"):
        combine([files[0], (files[1][0], str(other))], tmp_path / "out", predictor)
    with pytest.raises(CompositeError, match="method"):
        combine(files, tmp_path / "out", predictor, "median")
    with pytest.raises(CompositeError, match="no scene"):
        combine([], tmp_path / "out", predictor)


def test_periods_by_name_and_by_step():
    assert period("2024") == period(" 2024 ") and (period("2024").start, period("2024").end) == (
        date(2024, 1, 1), date(2024, 12, 31))
    assert (period("2024-02").start, period("2024-02").end) == (date(2024, 2, 1), date(2024, 2, 29))
    assert (period("2024-djf").start, period("2024-DJF").end) == (date(2023, 12, 1), date(2024, 2, 29))
    assert (period("2023-SON").start, period("2023-SON").end) == (date(2023, 9, 1), date(2023, 11, 30))
    for bad in ("24", "2024-13", "2024-W12", "summer"):
        with pytest.raises(PeriodError):
            period(bad)
    assert [p.name for p in periods(date(2023, 11, 15), date(2024, 9, 1), "season")] == [
        "2023-SON", "2024-DJF", "2024-MAM", "2024-JJA", "2024-SON"]
    assert [p.name for p in periods(date(2023, 11, 15), date(2024, 2, 1), "month")] == [
        "2023-11", "2023-12", "2024-01", "2024-02"]
    assert [p.name for p in periods(date(2022, 11, 15), date(2024, 2, 1), "year")] == ["2022", "2023", "2024"]
    with pytest.raises(PeriodError):
        periods(date(2024, 2, 1), date(2024, 1, 1), "month")
