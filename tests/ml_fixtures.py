"""Small synthetic data and tiny trained models shared by the ml tests (built once per session)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synthetic_tree(tmp_path_factory):
    from ml.synthetic import make_sen12ms_tree

    return make_sen12ms_tree(tmp_path_factory.mktemp("sen12ms-synthetic"), scenes=6, grid=2, seed=11)


@pytest.fixture(scope="session")
def tiny_unet(synthetic_tree, tmp_path_factory):
    """A small U-Net trained for a few epochs through the real CLI."""
    from ml.train import main

    out = tmp_path_factory.mktemp("unet")
    assert main(["unet", "--dataset", "synthetic", "--data", str(synthetic_tree), "--out", str(out),
                 "--epochs", "8", "--base-filters", "8", "--depth", "3", "--batch-size", "4", "--lr", "0.01",
                 "--seed", "1"]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_boc(synthetic_tree, tmp_path_factory):
    from ml.train import main

    out = tmp_path_factory.mktemp("boc")
    assert main(["bagofcolours", "--dataset", "synthetic", "--data", str(synthetic_tree), "--out", str(out),
                 "--trees", "100", "--seed", "1"]) == 0
    return out
