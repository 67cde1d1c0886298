"""Both methods train on small synthetic data and beat their untrained selves; the model format is safe."""
import json
import shutil

import numpy as np
import pytest

from ml.bands import BAND_SETS, Normalisation
from ml.classes import N_MODEL_CLASSES
from ml.datasets import scan_sen12ms, split_by_scene
from ml.evaluate import evaluate_predictor
from ml.modelio import ModelFormatError, Predictor, load_model, read_card


def held_out(tree):
    return split_by_scene(scan_sen12ms(tree), seed=1)["test"]


def untrained_unet_miou(tree, card_folder) -> float:
    from ml.models.unet import build_unet

    card = read_card(card_folder)
    model = build_unet(bands=4, base_filters=8, depth=3)
    predictor = Predictor(card_folder, card, model)
    return evaluate_predictor(predictor, held_out(tree))[0].scores().mean_iou


def test_unet_learns(tiny_unet, synthetic_tree):
    trained = evaluate_predictor(load_model(tiny_unet), held_out(synthetic_tree))[0].scores().mean_iou
    untrained = untrained_unet_miou(synthetic_tree, tiny_unet)
    assert trained > untrained + 0.2, (trained, untrained)
    card = json.loads((tiny_unet / "model.json").read_text())
    assert card["metrics"]["mIoU"] == pytest.approx(trained, abs=1e-6)
    assert (tiny_unet / "learning_curve.png").exists() and (tiny_unet / "checkpoint.keras").exists()


def test_bag_of_colours_learns(tiny_boc, synthetic_tree):
    from ml.models.bagofcolours import BagOfColours

    trained = evaluate_predictor(load_model(tiny_boc), held_out(synthetic_tree))[0].scores().mean_iou
    # "Untrained": same pipeline, but the forest learnt from shuffled segment labels.
    predictor = load_model(tiny_boc)
    norm = predictor.normalisation
    from ml.datasets import load_arrays

    images, labels = load_arrays(split_by_scene(scan_sen12ms(synthetic_tree), seed=1)["train"], norm, "fine")
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(labels.reshape(-1)).reshape(labels.shape)
    predictor.model = BagOfColours(trees=50, seed=0).fit(images, shuffled)
    baseline = evaluate_predictor(predictor, held_out(synthetic_tree))[0].scores().mean_iou
    assert trained > baseline + 0.2, (trained, baseline)


def test_bag_of_colours_paints_segments(tiny_boc, synthetic_tree):
    predictor = load_model(tiny_boc)
    images = np.stack([predictor.normalisation.apply(held_out(synthetic_tree)[0].image(predictor.bands))])
    proba = predictor.predict_proba(images)
    assert proba.shape == (1, 256, 256, N_MODEL_CLASSES)
    assert len(np.unique(proba.reshape(-1, N_MODEL_CLASSES), axis=0)) <= 20  # one distribution per segment


def test_model_card_contents(tiny_unet):
    card = read_card(tiny_unet)
    assert card["method"] == "unet" and card["bands"] == list(BAND_SETS["rgbn"]) and card["input_size"] == 256
    assert card["training"]["synthetic"] is True and card["training"]["patches"]["train"] > 0
    assert {"python", "numpy", "keras", "scikit-learn"} <= set(card["versions"])
    assert len(card["normalisation"]["mean"]) == 4 and card["files"] == ["model.keras"]
    assert [c["name"] for c in card["classes"]][:2] == ["Forest", "Shrubland"]


def test_broken_model_folders_are_refused(tiny_unet, tmp_path):
    with pytest.raises(ModelFormatError, match="not a model folder"):
        load_model(tmp_path)
    folder = tmp_path / "m"
    shutil.copytree(tiny_unet, folder)
    card = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**card, "method": "magic"}))
    with pytest.raises(ModelFormatError, match="unknown method 'magic'"):
        load_model(folder)
    (folder / "model.json").write_text(json.dumps(card))
    (folder / "model.keras").unlink()
    with pytest.raises(ModelFormatError, match="model.keras is missing"):
        load_model(folder)


def test_keras_loading_is_in_safe_mode(tiny_unet, tmp_path):
    """A Lambda layer (arbitrary code) in a model file is refused."""
    import keras

    inputs = keras.Input((None, None, 4))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    evil = tmp_path / "evil"
    shutil.copytree(tiny_unet, evil)
    keras.Model(inputs, outputs).save(evil / "model.keras")
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|safe_mode"):
        load_model(evil)


def test_forest_file_with_unexpected_types_is_refused(tiny_boc, tmp_path):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path / "boc"
    shutil.copytree(tiny_boc, folder)
    sio.dump(Pipeline([("f", FunctionTransformer(np.exp))]), folder / "forest.skops")
    with pytest.raises(ValueError, match="holds a Pipeline, not a random forest"):
        load_model(folder)


def test_normalisation_round_trip():
    norm = Normalisation.fit(("B2", "B3"), np.array([[1000, 2000], [3000, 4000]], np.uint16))
    again = Normalisation.from_dict(norm.to_dict())
    x = again.apply(np.array([[2000, 3000]], np.uint16))
    assert x == pytest.approx(np.zeros((1, 2)), abs=1e-3)
    assert norm.apply(np.array([[1000, 1000]]), offset=-1000)[0, 0] < norm.apply(np.array([[1000, 1000]]))[0, 0]
