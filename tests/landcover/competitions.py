"""A small benchmark for the competition tests (issue 26): six 48² four-band images whose B8 says forest or water,
labels that disagree in a known block per image, and the threshold model that reads B8; the sandbox's limits
tightened for tests."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rasterio.transform import from_origin

from landcover.catalogue.benchmarks import Pair, add_images
from landcover.jobs import submissions
from landcover.models import Benchmark, Submission
from tests.conftest import skip_or_fail
from tests.ml.test_submissions import CARD, segmenter

# Class 1 (forest) where B8 is above its mean in the card (DN 1000), else 10 (water).
THRESHOLD = [[0, 0, 0, 1], [0, 0, 0, -1]]
pytestmark = pytest.mark.django_db
LIMITS = {"SANDBOX_CPU_SECONDS": 20, "SANDBOX_WALL_SECONDS": 30, "SANDBOX_MEMORY_MB": 1024}


@pytest.fixture
def sandbox_limits(settings):
    """bubblewrap, and limits that end a runaway test model in seconds."""
    if shutil.which("bwrap") is None:
        skip_or_fail("bubblewrap is not installed (apt-get install bubblewrap)")
    for name, value in LIMITS.items():
        setattr(settings, name, value)


def geotiff(path: Path, data: np.ndarray, dtype: str) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[-1], height=data.shape[-2], count=data.shape[0],
                       dtype=dtype, crs="EPSG:32632", transform=from_origin(500000, 5300000, 10, 10)) as dst:
        dst.write(data.astype(dtype))
    return path


def scene(rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Four bands whose B8 is high (forest) in a random half and low (water) elsewhere; the truth of that."""
    forest = rng.random((size, size)) < 0.5
    bands = rng.integers(300, 900, (4, size, size))
    bands[3] = np.where(forest, 2500, 400)
    return bands, np.where(forest, 1, 10)


@pytest.fixture
def benchmark(db, tmp_path, sandbox_limits):
    """Six 48² images with labels that agree with the threshold model except for a known block per image (and an
    unlabelled strip); three public, three private."""
    rng = np.random.default_rng(26)
    bench = Benchmark.objects.create(slug="forest-water", title="Forest or water", published=True,
                                     phase_ends=timezone.now() + timedelta(days=30), per_day=5)
    pairs, truth = [], {}
    for k in range(6):
        bands, codes = scene(rng, 48)
        label = codes.copy()
        label[: 4 + k, :10] = 10  # wrong for the model where it says forest
        label[-2:, :] = 0          # unlabelled
        name = f"secret-tile-{k}"
        pairs.append(Pair(name, geotiff(tmp_path / f"{name}.tif", bands, "uint16"),
                          geotiff(tmp_path / f"{name}-label.tif", label[None], "uint8")))
        truth[name] = (codes, label)
    add_images(bench, pairs, private_share=0.5)
    bench.truth = truth
    return bench


def enter(benchmark, user, model=None, card=CARD, name="threshold") -> Submission:
    model = SimpleUploadedFile("model.onnx", (model or segmenter(weights=THRESHOLD)).SerializeToString())
    return submissions.accept(benchmark, user, model, json.dumps(card), name)


