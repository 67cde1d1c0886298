"""Benchmarks' files (issue 26, item 1): `manage.py add_benchmark` copies the catalogue's labelled patches (IGBP
converted to our codes) or a folder of image/label pairs under BENCHMARKS_DIR, splits them by a hash of their names
(the same split every time), and refuses a pair whose label does not match its image before anything is written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.conf import settings
from django.core.management import CommandError, call_command

from landcover.models import Benchmark

pytestmark = pytest.mark.django_db


def test_a_benchmark_from_the_catalogues_labelled_patches(catalogue):
    call_command("add_benchmark", "demo", "--dataset", "Synthetic SEN12MS", "--layer", "lc", "--limit", "8",
                 "--publish", "--title", "Demo")
    benchmark = Benchmark.objects.get(slug="demo")
    rows = list(benchmark.images.all())
    assert benchmark.published and len(rows) == 8 and sorted({r.split for r in rows}) == ["private", "public"]
    assert sum(r.split == "private" for r in rows) == 4
    for row in rows:
        image, label = Path(settings.BENCHMARKS_DIR) / row.image, Path(settings.BENCHMARKS_DIR) / row.label
        assert row.name not in str(image)  # the files are named by a hash, not by the patch
        with rasterio.open(image) as src, rasterio.open(label) as lab:
            assert (src.width, src.height) == (lab.width, lab.height) == (row.width, row.height)
            assert set(np.unique(lab.read(1)).tolist()) <= set(range(0, 11))
    before = {r.name: r.split for r in rows}
    call_command("add_benchmark", "demo", "--dataset", "Synthetic SEN12MS", "--layer", "lc", "--limit", "8")
    assert {r.name: r.split for r in benchmark.images.all()} == before


def test_a_label_of_another_grid_is_refused_and_nothing_is_written(tmp_path, synthetic_tree):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    (images / "a.tif").write_bytes(next(Path(synthetic_tree).rglob("*_s2_*.tif")).read_bytes())
    with rasterio.open(labels / "a.tif", "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8",
                       crs="EPSG:32632", transform=rasterio.transform.from_origin(0, 0, 10, 10)) as dst:
        dst.write(np.ones((1, 10, 10), np.uint8))
    with pytest.raises(CommandError, match="a: the label's grid differs"):
        call_command("add_benchmark", "bad", "--images", str(images), "--labels", str(labels))
    assert not Benchmark.objects.filter(slug="bad").exists()
    assert not (Path(settings.BENCHMARKS_DIR) / "bad").exists()
