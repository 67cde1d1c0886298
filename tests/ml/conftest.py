"""Fixtures of the ml tests, which need no Django: small synthetic trees made on the fly (the tiny
trained models shared with the site's tests are in tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ml.synthetic import make_sen12ms_tree


@pytest.fixture(scope="session")
def small_tree(tmp_path_factory) -> Path:
    """5 scenes × 2 × 2 patches of 128 px (2 × 2 MODIS blocks of 50 px each)."""
    return make_sen12ms_tree(tmp_path_factory.mktemp("small"), scenes=5, grid=2, patch_size=128, seed=5)
