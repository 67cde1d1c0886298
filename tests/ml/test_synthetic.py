import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from ml.synthetic import SIGNATURES, SceneField, coarse_labels, make_scene
from tests.conftest import SHARED_DATA


def test_deterministic_by_seed():
    a, b, c = SceneField(256, 256, seed=4), SceneField(256, 256, seed=4), SceneField(256, 256, seed=5)
    w = Window(0, 0, 256, 256)
    assert (a.classes(w) == b.classes(w)).all() and (a.image(w) == b.image(w)).all()
    assert not (a.classes(w) == c.classes(w)).all()


def test_windows_agree_with_the_whole():
    field = SceneField(300, 300, seed=2)
    whole = field.classes(Window(0, 0, 300, 300))
    assert (field.classes(Window(100, 40, 120, 90)) == whole[40:130, 100:220]).all()


def test_regions_are_coherent_and_varied():
    classes = SceneField(512, 512, seed=1).classes(Window(0, 0, 512, 512))
    assert len(np.unique(classes)) >= 5
    same_as_right_neighbour = (classes[:, 1:] == classes[:, :-1]).mean()
    assert same_as_right_neighbour > 0.95  # spatially coherent, not salt-and-pepper


def test_coarse_labels_are_block_majorities():
    fine = np.ones((100, 100), np.uint8)
    fine[:50, :50] = 10
    fine[:10, :] = 4
    coarse = coarse_labels(fine, np.random.default_rng(0), block=50, label_noise=0.0)
    assert coarse[0, 0] == 10 and coarse[0, 99] == 1 and coarse[99, 0] == 1
    noisy = coarse_labels(np.ones((500, 500), np.uint8), np.random.default_rng(0), label_noise=0.3)
    assert 0.15 < (noisy != 1).mean() < 0.45


@pytest.mark.skipif(not (SHARED_DATA / "sen12ms").is_dir(), reason="real SEN12MS samples not found")
def test_signatures_are_calibrated_on_real_patches():
    with rasterio.open(SHARED_DATA / "sen12ms/ROIs1970_fall/s2_4/ROIs1970_fall_s2_4_p30.tif") as src:
        real_barren = src.read().reshape(13, -1).mean(axis=1)
    assert np.allclose(SIGNATURES[9], real_barren, rtol=0.05)


def test_scene_is_georeferenced_and_written_by_strips(tmp_path):
    path = make_scene(tmp_path / "s.tif", 300, 200, bands=4, seed=1, strip=128)
    with rasterio.open(path) as src:
        assert src.crs.is_projected and src.transform.a == 10 and src.count == 4
        assert src.descriptions == ("B2", "B3", "B4", "B8") and src.tags()["SYNTHETIC"] == "yes"
        data = src.read()
    assert data.min() > 0 and 300 < data.mean() < 6000
