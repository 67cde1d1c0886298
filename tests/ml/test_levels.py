"""Processing levels (issue 23 #2): the level read from an image's tags, name or bands; a model given another
level than its card's says so; an engine whose fidelity was measured on one level gives way to float32 on the
other, in the library and on the command line."""
from __future__ import annotations

import shutil

import pytest
import rasterio

from ml.engines import quantise
from ml.levels import file_level, fit_to_level, image_level, level_from_text, measured_levels
from ml.modelio import load_model, read_card, write_card
from ml.predict import main as predict_main
from ml.synthetic import make_scene

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize(("text", "level"), [
    ("L2A", "L2A"), ("Level-2A", "L2A"), ("2A", "L2A"), ("S2B_MSIL1C_20200801T100559_N0209", "L1C"),
    ("S2A_MSIL2A_20171221T112501_56_35", "L2A"), ("delmarva_l1c.tif", "L1C"), ("S2A_tile.tif", None),
    ("s2_summer_p30.tif", None), ("L1C and L2A", None), ("", None)])
def test_the_level_a_name_or_tag_gives(text, level):
    assert level_from_text(text) == level


def test_the_level_of_an_image_from_tags_then_name_then_bands():
    thirteen = [f"B{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, "8A", 9, 10, 11, 12)]
    twelve = [b for b in thirteen if b != "B10"]
    assert image_level({"PROCESSING_LEVEL": "Level-2A"}, thirteen, 13, "x.tif") == "L2A"  # the tag wins
    assert image_level({}, [None] * 13, 13, "S2A_MSIL2A_x.tif") == "L2A"                  # then the name
    assert image_level({}, thirteen, 13, "x.tif") == "L1C"                                # B10 is L1C's alone
    assert image_level({}, twelve, 12, "x.tif") == "L2A"
    assert image_level({}, [None] * 4, 4, "x.tif") is None                                # four bands say nothing


def test_an_engine_measured_on_one_level_gives_way_to_float32_on_the_other(tiny_unet, tmp_path, capsys):
    folder = tmp_path / "unet"
    shutil.copytree(tiny_unet, folder)
    l1c = make_scene(tmp_path / "held-out.tif", 96, 96, seed=4)
    with rasterio.open(l1c, "r+") as dst:
        dst.update_tags(PROCESSING_LEVEL="L1C")
    quantise(folder, [l1c], [l1c], tiles=2, min_agreement=0.0)
    card = read_card(folder)
    assert card["engines"]["int8"]["levels"] == ["L1C"] and measured_levels(card, "int8") == {"L1C"}
    card["level"] = "L1C"
    write_card(folder, card)
    l2a = make_scene(tmp_path / "S2A_MSIL2A_scene.tif", 96, 96, seed=5)
    assert file_level(l1c) == "L1C" and file_level(l2a) == "L2A"

    fast = load_model(folder, "int8")
    same, warnings = fit_to_level(fast, "L1C", lambda engine: load_model(folder, engine))
    assert same is fast and warnings == []
    exact, warnings = fit_to_level(fast, "L2A", lambda engine: load_model(folder, engine))
    assert exact.engine == "float32"
    assert "trained on L1C" in warnings[0] and "measured on L1C images only, not L2A" in warnings[1]
    assert fit_to_level(fast, None, lambda engine: load_model(folder, engine)) == (fast, [])

    # The command line says the same and maps in float32 (the COG's ENGINE tag).
    assert predict_main([str(l2a), str(tmp_path / "map.tif"), "--model", str(folder), "--engine", "int8"]) == 0
    err = capsys.readouterr().err
    assert "warning: This image is Sentinel-2 L2A" in err and "made in float32" in err
    with rasterio.open(tmp_path / "map.tif") as cog:
        assert cog.tags()["ENGINE"] == "float32"
    assert predict_main([str(l1c), str(tmp_path / "map1.tif"), "--model", str(folder), "--engine", "int8"]) == 0
    assert "warning" not in capsys.readouterr().err
    with rasterio.open(tmp_path / "map1.tif") as cog:
        assert cog.tags()["ENGINE"] == "int8"


def test_an_engine_without_recorded_levels_counts_as_measured_on_its_models_level():
    card = {"level": "L1C", "engines": {"bf16": {"measured_on": ["s2_summer_p30.tif"]}}}
    assert measured_levels(card, "bf16") == {"L1C"}
    card["engines"]["bf16"]["measured_on"] = ["delmarva_l1c.tif", "S2A_MSIL2A_x.tif"]
    assert measured_levels(card, "bf16") == {"L1C", "L2A"}
    assert measured_levels({"level": "any", "engines": {"int8": {"measured_on": ["x.tif"]}}}, "int8") is None
