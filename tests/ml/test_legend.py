"""ml.legend (issue 27): spatially blocked folds never split a block (a property, over random point sets and block
sizes), and they are honest — on labels that are pure spatial noise, features that only say where a pixel is give
random folds ~100 % and blocked folds chance; on labels the features really explain, blocked CV is high; scores lie
in [0, 1]; too few labels of a class, or too few blocks, are refused saying why."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.legend import LegendError, blocks, cross_validate, folds, train


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 400), block=st.floats(5.0, 500.0), k=st.integers(2, 6))
def test_a_block_is_never_on_both_sides(seed, n, block, k):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-2000, 2000, n), rng.uniform(500000, 504000, n)
    ids = blocks(x, y, block)
    if len(np.unique(ids)) < k:
        with pytest.raises(LegendError, match="spatial blocks"):
            folds(ids, k, seed)
        return
    fold = folds(ids, k, seed)
    for b in np.unique(ids):
        assert len(np.unique(fold[ids == b])) == 1  # the whole block in one fold
    assert set(np.unique(fold)) == set(range(k))  # no fold left empty


def noise_field(rng, cells: int = 20, cell_m: float = 100.0, per_cell: int = 12):
    """Points in `cells`² squares, each square's label random (pure spatial noise), features = position only."""
    cx, cy = np.meshgrid(np.arange(cells), np.arange(cells))
    labels_of_cell = rng.integers(1, 3, cx.size)
    x = (np.repeat(cx.ravel(), per_cell) + rng.random(cx.size * per_cell)) * cell_m
    y = (np.repeat(cy.ravel(), per_cell) + rng.random(cx.size * per_cell)) * cell_m
    return x, y, np.repeat(labels_of_cell, per_cell)


def test_blocked_folds_report_chance_where_random_folds_report_memory():
    rng = np.random.default_rng(7)
    x, y, labels = noise_field(rng)
    features = np.stack([x, y], axis=1)
    random_ids = np.arange(len(labels))  # every pixel its own block: a random k-fold
    # Trees: a model flexible enough to remember places (the linear head cannot, on coordinates alone).
    leaky = cross_validate(features, labels, random_ids, [1, 2], k=5, head_name="trees")
    honest = cross_validate(features, labels, blocks(x, y, 100.0), [1, 2], k=5, block_m=100.0, head_name="trees")
    assert leaky.assessment.overall > 0.9
    assert 0.3 < honest.assessment.overall < 0.7  # chance: the labels carry no information a new place could use


def test_labels_the_features_explain_are_learnt_and_scored_within_bounds():
    rng = np.random.default_rng(3)
    n = 1500
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    ndvi = rng.uniform(-0.2, 0.9, n)
    labels = np.select([ndvi > 0.5, ndvi > 0.1], [1, 4], 9)  # forest, grassland, barren by greenness
    features = np.stack([ndvi + rng.normal(0, 0.03, n), rng.random(n)], axis=1)
    cv = cross_validate(features, labels, blocks(x, y, 500.0), [1, 4, 9], k=5, block_m=500.0)
    assert cv.assessment.overall > 0.9
    result = cv.to_dict({1: "Forest", 4: "Grassland", 9: "Barren"})
    for row in result["classes"]:
        assert 0 <= row["users_accuracy"] <= 1 and 0 <= row["producers_accuracy"] <= 1 and 0 <= row["f1"] <= 1
    assert result["points"] == n and result["blocks"] == len(np.unique(blocks(x, y, 500.0)))
    assert np.array_equal(train(features, labels, [1, 4, 9]).predict(features[:5]), labels[:5])


def test_too_few_labels_or_blocks_are_refused():
    features, labels = np.zeros((12, 2)), np.array([1] * 9 + [2] * 3)
    with pytest.raises(LegendError, match="class 2 has 3"):
        cross_validate(features, labels, np.arange(12), [1, 2])
    with pytest.raises(LegendError, match="2 spatial blocks"):
        cross_validate(np.zeros((12, 2)), np.array([1] * 6 + [2] * 6), np.array([0] * 6 + [1] * 6), [1, 2], k=5)

