"""Scene inference: COG output, georeference, no seams, nodata, band matching, statistics, errors."""
import json
import shutil

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from ml.bands import LAYOUTS_BY_COUNT
from ml.classes import MODEL_CLASSES, index_to_dfc
from ml.modelio import load_model, read_card, write_card
from ml.predict import SceneError, blend_window, main, predict_scene, tile_starts
from ml.synthetic import make_scene


@pytest.fixture(scope="module")
def predictor(tiny_unet):
    return load_model(tiny_unet)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    # 530 × 700: not a multiple of the 256 tile in either direction.
    return make_scene(tmp_path_factory.mktemp("scene") / "scene.tif", 530, 700, bands=13, seed=5)


def test_tiles_cover_the_scene_evenly_and_end_at_the_edge():
    assert tile_starts(700, 256, 192) == [0, 148, 296, 444]  # overlaps 108 each, not 64, 64 and 196
    assert tile_starts(640, 256, 192) == [0, 192, 384]
    assert tile_starts(256, 256, 192) == [0] and tile_starts(100, 128, 96) == [0]
    w = blend_window(256, 64)
    assert w[64:192].min() == 1 and 0 < w[0] < 0.02 and w.min() > 0


def test_larger_tiles_give_the_same_map_up_to_tile_edges(scene, predictor, tmp_path):
    """A fully convolutional network reads tiles of any multiple of its size multiple: the same scene mapped
    with fewer, larger tiles (the default 512, against --tile 256), batches scaled to the same pixels per pass."""
    assert predictor.scene_tile == 512 and predictor.input_size < 512  # our U-Nets map scenes in 512-px tiles
    small = predict_scene(scene, tmp_path / "256.tif", predictor, tile=256)
    large = predict_scene(scene, tmp_path / "512.tif", predictor)
    assert large.tiles < small.tiles
    with rasterio.open(tmp_path / "256.tif") as a, rasterio.open(tmp_path / "512.tif") as b:
        assert (a.read(1) == b.read(1)).mean() > 0.95
    with pytest.raises(SceneError, match="multiple of"):
        predict_scene(scene, tmp_path / "bad.tif", predictor, tile=500)


def test_the_model_cards_scene_overlap_sets_the_tiles_unless_told(tiny_unet, tmp_path):
    """A card may say how much its scene tiles overlap (Dynamic World's: 32 px, measured); without, an eighth."""
    folder = tmp_path / "unet"
    shutil.copytree(tiny_unet, folder)
    card = read_card(folder)
    card["params"] = {**card.get("params", {}), "scene_tile": 256, "scene_overlap": 0}
    write_card(folder, card)
    scene = make_scene(tmp_path / "scene.tif", 500, 500, seed=7)
    no_overlap = load_model(folder)
    assert no_overlap.scene_overlap == 0
    assert predict_scene(scene, tmp_path / "a.tif", no_overlap).tiles == 4                # 0, 244 each way
    assert predict_scene(scene, tmp_path / "b.tif", no_overlap, overlap=32).tiles == 9    # the caller's
    del card["params"]["scene_overlap"]
    write_card(folder, card)
    assert predict_scene(scene, tmp_path / "c.tif", load_model(folder)).tiles == 9         # 256 // 8


def test_output_is_a_valid_cog_with_the_input_georeference(scene, predictor, tmp_path):
    out = tmp_path / "lc.tif"
    result = predict_scene(scene, out, predictor, probabilities=tmp_path / "p.tif")
    valid, errors, warnings = cog_validate(str(out))
    assert valid, errors
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform and dst.shape == src.shape
        assert dst.dtypes == ("uint8",) and dst.nodata == 0 and dst.overviews(1)
        assert dst.colormap(1)[1] == (0, 153, 0, 255) and dst.tags()["CLASS_10"] == "Water"
        classes = dst.read(1)
    assert set(np.unique(classes)) <= set(MODEL_CLASSES)
    assert result.tiles == 2 * 2 and result.valid_pixels == 530 * 700  # 512-px scene tiles
    with rasterio.open(tmp_path / "p.tif") as probs:  # 8 classes and the top-1 confidence (issue 12)
        assert probs.count == 9 and "confidence" in probs.descriptions[8]
        bands = probs.read().astype(int)
    assert abs(bands[:8].sum(axis=0).mean() - 255) < 4
    assert np.abs(bands[8] - bands[:8].max(axis=0)).max() <= 1
    assert cog_validate(str(tmp_path / "p.tif"))[0]


def test_probabilities_mask_nodata_and_the_confidence_histogram_adds_up(predictor, tmp_path):
    path = make_scene(tmp_path / "holes.tif", 300, 260, bands=13, seed=3)
    with rasterio.open(path, "r+") as src:
        data = src.read()
        data[:, :40, :70] = 0  # a corner without data
        src.write(data)
    result = predict_scene(path, tmp_path / "lc.tif", predictor, probabilities=tmp_path / "p.tif")
    with rasterio.open(tmp_path / "p.tif") as probs, rasterio.open(tmp_path / "lc.tif") as lc:
        mask, confidence, classes = probs.dataset_mask(), probs.read(probs.count), lc.read(1)
        assert probs.tags()["CLASS_1"].endswith("(1)")
    assert (mask[:40, :70] == 0).all() and (mask[40:] == 255).all()
    assert (confidence[:40, :70] == 0).all() and confidence[40:].min() >= 255 // 8
    histogram = result.confidence["classes"]
    for row in result.statistics:
        counted = sum(histogram.get(str(row["code"]), {"pixels": [0]})["pixels"])
        assert counted == row["pixels"] == int((classes == row["code"]).sum())
    for code, hist in histogram.items():  # the histogram counts each pixel at its own confidence level
        levels = confidence[classes == int(code)]
        assert hist["pixels"] == np.bincount(levels, minlength=256).tolist()


def test_interior_equals_a_whole_patch_prediction(scene, predictor, tmp_path):
    out = tmp_path / "lc.tif"
    predict_scene(scene, out, predictor, overlap=64, tile=256)  # tiles of the size it was trained on
    with rasterio.open(scene) as src:
        patch = np.moveaxis(src.read(window=Window(0, 0, 256, 256)), 0, -1)
    names = LAYOUTS_BY_COUNT[13]
    x = predictor.normalisation.apply(patch[..., [names.index(b) for b in predictor.bands]])
    direct = index_to_dfc(predictor.predict_index(x[None])[0])
    with rasterio.open(out) as dst:
        mapped = dst.read(1, window=Window(0, 0, 256, 256))
    # Up to the second tile's start (tiles spread evenly) the first tile covers the pixels alone.
    rows, cols = tile_starts(530, 256, 192)[1], tile_starts(700, 256, 192)[1]
    assert (rows, cols) == (137, 148) and (mapped[:rows, :cols] == direct[:rows, :cols]).all()
    # Across overlaps the blend stays close to each tile's own prediction (no seams).
    assert (mapped == direct).mean() > 0.9


@pytest.mark.parametrize("count", [4, 10, 12])
def test_band_layouts_are_matched_by_count_and_description(predictor, tmp_path, count):
    full = make_scene(tmp_path / "full.tif", 200, 260, bands=13, seed=9)
    sub = make_scene(tmp_path / f"b{count}.tif", 200, 260, bands=count, seed=9, describe=False)
    a = predict_scene(full, tmp_path / "a.tif", predictor)
    b = predict_scene(sub, tmp_path / "b.tif", predictor)
    with rasterio.open(tmp_path / "a.tif") as fa, rasterio.open(tmp_path / "b.tif") as fb:
        assert (fa.read(1) == fb.read(1)).all()
    assert a.statistics == b.statistics


def test_nodata_is_kept_and_statistics_add_up(predictor, tmp_path):
    path = make_scene(tmp_path / "s.tif", 300, 300, bands=4, seed=2)
    with rasterio.open(path, "r+") as ds:
        ds.write(np.zeros((4, 100, 300), np.uint16), window=Window(0, 0, 300, 100))
    result = predict_scene(path, tmp_path / "o.tif", predictor)
    with rasterio.open(tmp_path / "o.tif") as dst:
        out = dst.read(1)
    assert (out[:100] == 0).all() and (out[100:] > 0).all()
    assert result.valid_pixels == 200 * 300 == sum(r["pixels"] for r in result.statistics)
    assert sum(r["percent"] for r in result.statistics) == pytest.approx(100, abs=0.01)
    # 100 m² pixels on the grid; on the ground within UTM's scale factor (ml.stats takes it out)
    assert sum(r["area_km2"] for r in result.statistics) == pytest.approx(200 * 300 * 100 / 1e6, rel=2e-3)


def test_geographic_scene_area_is_computed_on_the_sphere(predictor, tmp_path):
    path = tmp_path / "geo.tif"
    profile = dict(driver="GTiff", width=128, height=128, count=4, dtype="uint16", crs="EPSG:4326",
                   transform=from_origin(10.0, 60.0, 0.0001, 0.0001))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((4, 128, 128), 1500, np.uint16))
    result = predict_scene(path, tmp_path / "o.tif", predictor)
    area = sum(r["area_km2"] for r in result.statistics)
    expected = (128 * 0.0001 * 111.195) ** 2 * np.cos(np.radians(60 - 0.0064))
    assert area == pytest.approx(expected, rel=0.01)


def test_missing_crs_is_a_clear_error(predictor, tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=4, dtype="uint16") as dst:
        dst.write(np.ones((4, 64, 64), np.uint16))
    with pytest.raises(SceneError, match="has no coordinate reference system"):
        predict_scene(path, tmp_path / "o.tif", predictor)
    assert not (tmp_path / "o.tif").exists()


def test_unsupported_band_count_is_a_clear_error(predictor, tmp_path):
    path = tmp_path / "three.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000, 5000000, 10, 10)) as dst:
        dst.write(np.ones((3, 64, 64), np.uint16))
    with pytest.raises(SceneError, match="3 band\\(s\\) without Sentinel-2 band descriptions"):
        predict_scene(path, tmp_path / "o.tif", predictor)


def test_cli(scene, tiny_unet, tmp_path, capsys):
    assert main([str(scene), str(tmp_path / "o.tif"), "--model", str(tiny_unet),
                 "--stats-json", str(tmp_path / "s.json")]) == 0
    assert "Forest" in capsys.readouterr().out
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["valid_pixels"] == 530 * 700 and len(stats["classes"]) == 8
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    assert main([str(tmp_path / "junk.tif"), str(tmp_path / "o2.tif"), "--model", str(tiny_unet)]) == 2
    assert "cannot be read as a GeoTIFF" in capsys.readouterr().err


# --- Hostile or unusual inputs (issue 11).

def float_copy(scene, path, *, scale: float = 1.0, nan_rows: int = 0):
    """The scene as float32 (values × scale), its first `nan_rows` rows NaN in every band."""
    with rasterio.open(scene) as src:
        data = src.read().astype("float32") * scale
        profile = {**src.profile, "dtype": "float32", "nodata": float("nan")}
        descriptions = src.descriptions
    data[:, :nan_rows] = np.nan
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = descriptions
    return path


def test_nan_pixels_are_nodata_not_a_class(scene, predictor, tmp_path):
    """Finding 6: a float image that was 60 % NaN came back 100 % Forest."""
    nan_rows = 318  # 60 % of 530 rows
    result = predict_scene(float_copy(scene, tmp_path / "nan.tif", nan_rows=nan_rows), tmp_path / "o.tif", predictor)
    with rasterio.open(tmp_path / "o.tif") as out:
        codes = out.read(1)
    assert (codes[:nan_rows] == 0).all() and (codes[nan_rows:] != 0).all()
    assert result.valid_pixels == (530 - nan_rows) * 700 == sum(r["pixels"] for r in result.statistics)


def test_float_reflectances_are_mapped_as_their_digital_numbers(scene, predictor, tmp_path):
    as_dn = predict_scene(scene, tmp_path / "dn.tif", predictor)
    as_reflectance = predict_scene(float_copy(scene, tmp_path / "r.tif", scale=1e-4), tmp_path / "r-out.tif",
                                   predictor)
    assert [r["pixels"] for r in as_reflectance.statistics] == [r["pixels"] for r in as_dn.statistics]


def test_area_of_a_rotated_grid_is_the_pixels_true_area(predictor, tmp_path):
    """Finding 9: |a·e| is 25 % short of a pixel's area on a grid turned by 30°; the determinant is right."""
    from ml.stats import class_statistics

    angle = np.radians(30)
    transform = rasterio.Affine(10 * np.cos(angle), -10 * np.sin(angle), 500000,
                                -10 * np.sin(angle), -10 * np.cos(angle), 5300000)
    path = tmp_path / "rotated.tif"
    with rasterio.open(path, "w", driver="GTiff", width=50, height=40, count=1, dtype="uint8", crs="EPSG:32632",
                       transform=transform) as dst:
        dst.write(np.full((1, 40, 50), 6, np.uint8))
    croplands = next(r for r in class_statistics(path) if r["code"] == 6)
    assert croplands["area_km2"] == pytest.approx(50 * 40 * 100 / 1e6, rel=2e-3)  # rotated pixels are still 100 m²


def test_damaged_pixel_data_is_a_clear_permanent_error(scene, predictor, tmp_path):
    """Finding 9: a strip whose compressed bytes are garbage failed four retries as 'Read failed'."""
    damaged = tmp_path / "damaged.tif"
    with rasterio.open(scene) as src:
        profile = {**src.profile, "compress": "deflate", "tiled": False, "blockysize": 16}
        with rasterio.open(damaged, "w", **profile) as dst:
            dst.write(src.read())
    with rasterio.open(damaged) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_20", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_20", "TIFF", bidx=1))
    with open(damaged, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    with pytest.raises(SceneError, match="cannot be read; the file is damaged") as error:
        predict_scene(damaged, tmp_path / "o.tif", predictor)
    assert str(tmp_path) not in str(error.value)
