"""Readers on the real SEN12MS patches (when ../shared/data is present) and on synthetic trees."""
import shutil

import numpy as np
import pytest
import rasterio

from ml.bands import BAND_SETS, Normalisation
from ml.datasets import scan_dfc2020, scan_sen12ms, split_by_scene
from ml.datasets.common import augment
from ml.datasets.sen12ms import read_holdout_scenes
from ml.datasets.training import PatchDataset
from ml.rasterio_io import DataError
from ml.synthetic import make_dfc2020_tree
from tests.conftest import SHARED_DATA

REAL = SHARED_DATA / "sen12ms"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real SEN12MS samples not found at {REAL}")


@needs_real
def test_real_sen12ms_patches_are_read():
    samples = {s.scene: s for s in scan_sen12ms(REAL)}
    desert, texas = samples["ROIs1970_fall/4"], samples["ROIs2017_winter/27"]
    assert desert.patch == 30 and desert.lc is not None and desert.dfc is None
    assert set(np.unique(desert.labels("coarse"))) == {6}  # IGBP 16 Barren → DFC 9 → model index 6
    texas_labels = set(np.unique(texas.labels("coarse")))
    assert texas_labels == {1, 2, 4}  # IGBP 7, 10, 12 → Shrubland, Grassland, Croplands
    image = texas.image(BAND_SETS["rgbn"])
    assert image.shape == (256, 256, 4) and image.dtype == np.uint16
    assert 1800 < image[..., 2].mean() < 2000  # B4 (red) of a winter Texas field, L1C DN: 1909


@needs_real
def test_real_hold_out_list_is_parsed():
    scenes = read_holdout_scenes(SHARED_DATA / "sen12ms_holdout_scenes.txt")
    assert "ROIs1158_spring/63" in scenes and len(scenes) > 20


def test_split_is_by_scene(synthetic_tree):
    samples = scan_sen12ms(synthetic_tree)
    splits = split_by_scene(samples, seed=3)
    scenes = {k: {s.scene for s in v} for k, v in splits.items()}
    assert not (scenes["train"] & scenes["val"]) and not (scenes["train"] & scenes["test"])
    assert sum(len(v) for v in splits.values()) == len(samples) == 24
    holdout = split_by_scene(samples, holdout={"ROIs1158_spring/1"})
    assert {s.scene for s in holdout["test"]} == {"ROIs1158_spring/1"}


def test_streaming_batches_and_augmentation(synthetic_tree):
    samples = scan_sen12ms(synthetic_tree)
    norm = Normalisation(BAND_SETS["rgbn"])
    data = PatchDataset(samples, norm, "fine", batch_size=5, augment=True, shuffle=True)
    assert len(data) == 5
    images, labels = data[0]
    assert images.shape == (5, 256, 256, 4) and images.dtype == np.float32 and labels.shape == (5, 256, 256)
    assert data[4][0].shape[0] == 4  # last, short batch
    rng = np.random.default_rng(0)
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    aug_image, aug_label = augment(image, image[..., 0].astype(np.int32), rng)
    assert (aug_image[..., 0] == aug_label).all()


def test_dfc2020_layout(tmp_path):
    make_dfc2020_tree(tmp_path, patches=3, split="validation")
    samples = scan_dfc2020(tmp_path, "validation")
    assert [s.patch for s in samples] == [1, 2, 3] and all(s.dfc and s.lc for s in samples)
    fine = samples[0].labels("fine")
    assert fine.shape == (256, 256) and fine.max() < 8
    with pytest.raises(DataError, match="ROIs0000_test: DFC2020 folder not found"):
        scan_dfc2020(tmp_path, "test")


def test_truncated_file_error_names_the_file(synthetic_tree, tmp_path):
    sample = scan_sen12ms(synthetic_tree)[0]
    broken = tmp_path / "broken.tif"
    broken.write_bytes(sample.s2.read_bytes()[:5000])
    bad = type(sample)(s2=broken, lc=sample.lc, scene=sample.scene)
    with pytest.raises(DataError, match=r"broken\.tif"):
        bad.image(BAND_SETS["rgbn"])


def test_wrong_band_count_error_names_the_file(synthetic_tree, tmp_path):
    sample = scan_sen12ms(synthetic_tree)[0]
    four = tmp_path / "four_bands.tif"
    with rasterio.open(sample.s2) as src:
        profile = {**src.profile, "count": 4}
        data = src.read([1, 2, 3, 4])
    with rasterio.open(four, "w", **profile) as dst:
        dst.write(data)
    bad = type(sample)(s2=four, scene=sample.scene)
    with pytest.raises(DataError, match=r"four_bands\.tif: has 4 band\(s\), expected 13"):
        bad.image(BAND_SETS["rgbn"])


def test_missing_label_file_is_named(synthetic_tree, tmp_path):
    copy = tmp_path / "tree"
    shutil.copytree(synthetic_tree, copy)
    sample = scan_sen12ms(copy)[0]
    sample.lc.unlink()
    with pytest.raises(DataError, match=r"lc_1_p1\.tif: file not found"):
        sample.labels("coarse")
