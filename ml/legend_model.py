"""A legend model (issue 27): an encoder's per-pixel features and a linear head trained on a user's labels, saved
as a model folder that maps like any other (method "legend" in `ml.methods`), in the user's own classes.

Why a linear head for maps: gradient-boosted trees predicting every pixel of a map cost 26× Dynamic World's own
pass (docs/BENCHMARKS.md), far over the issue's "the head adds under 20 %". A multinomial logistic regression on
standardised features is the linear probe a pretrained embedding is made for (Dynamic World's own classifier is
one 1×1 convolution on it), and it folds into the network: its weights on the embedding and the probabilities
become one more 1×1 convolution appended to Dynamic World's ONNX graph (`head_graph`), so the 144-channel
embedding is never copied out of ONNX Runtime; the 18 spectral features' share is a small matrix product in
NumPy. Training reads the features through the same `Network.features` the map's pass is built from.

Inputs: the card's normalisation is reflectance, (DN + offset) / 10000 (clipped at 7, i.e. not at all for
uint16 DNs), of the 12 bands L1C and L2A products share (`ml.features.LEGEND_BANDS`: no B10); Dynamic World's
own log-sigmoid normalisation is applied inside to its 9 bands.
The head's weights are stored as plain arrays (head.npz, read with `allow_pickle=False`): loading a legend model
runs no code from its folder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from .bands import Normalisation, normalisation_from_dict
from .features import LEGEND_BANDS, FeatureError, embedding_model, encoder, spectral, spectral_names

if TYPE_CHECKING:  # for annotations only: scikit-learn costs a second to import where models are only loaded
    from sklearn.pipeline import Pipeline

HEAD_FILE = "head.npz"
GRAPH_FILE = "legend.onnx"
CLIP = 7.0  # reflectance clip of the card's normalisation: above any uint16 DN, so no pixel is clipped


SPECTRAL = spectral_names(LEGEND_BANDS)


def reflectance() -> Normalisation:
    """The normalisation every legend model's card holds: its bands (`LEGEND_BANDS`) as reflectance."""
    return Normalisation(LEGEND_BANDS, clip=CLIP)


@dataclass
class LinearHead:
    """Class scores = weights · features + bias (standardisation folded in); `classes`: the legend's codes."""

    weights: np.ndarray  # (classes, features) float32
    bias: np.ndarray     # (classes,) float32
    classes: np.ndarray  # (classes,) int

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> LinearHead:
        """The head of a fitted StandardScaler + LogisticRegression pipeline (`ml.legend.linear_classifier`)."""
        scaler, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        coef, intercept = np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64)
        if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row; softmax([0, z]) is its sigmoid(z)
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.array([0.0, intercept[0]])
        weights = coef / scaler.scale_
        bias = intercept - weights @ scaler.mean_
        return cls(weights.astype(np.float32), bias.astype(np.float32), np.asarray(model.classes_, np.int64))

    def save(self, folder: Path) -> str:
        """Write head.npz into `folder`; its name."""
        np.savez(Path(folder) / HEAD_FILE, weights=self.weights, bias=self.bias, classes=self.classes)
        return HEAD_FILE

    @classmethod
    def load(cls, folder: Path) -> LinearHead:
        """Read head.npz (plain arrays only)."""
        path = Path(folder) / HEAD_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{Path(folder).name}: the card says a legend model but {HEAD_FILE} is missing")
        with np.load(path, allow_pickle=False) as data:
            return cls(data["weights"], data["bias"], data["classes"])


def head_graph(embedding_onnx: bytes, weights: np.ndarray, bias: np.ndarray) -> bytes:
    """Dynamic World's graph (with its embedding as a second output) ending in the head's scores on the embedding
    and the probabilities: Conv 1×1 (embedding) + Conv 1×1 (Transpose(probabilities)) → one output (N, classes, H,
    W). Two convolutions added, not one on a concatenation: the 153-channel copy a Concat makes of every pixel cost
    more than both convolutions (bench/bench_legend.py). `weights`: (classes, embedding + probabilities)."""
    model = onnx.load_from_string(embedding_onnx)
    probabilities, embedding = model.graph.output[0].name, model.graph.output[1].name
    k = weights.shape[0]
    channels = _conv_inputs(model)
    on_embedding = weights[:, :channels].reshape(k, channels, 1, 1).astype(np.float32)
    on_probabilities = weights[:, channels:].reshape(k, -1, 1, 1).astype(np.float32)
    model.graph.initializer.extend([
        numpy_helper.from_array(on_embedding, "legend_head_embedding"),
        numpy_helper.from_array(on_probabilities, "legend_head_probabilities"),
        numpy_helper.from_array(bias.astype(np.float32), "legend_head_bias")])
    model.graph.node.extend([
        helper.make_node("Transpose", [probabilities], ["legend_probabilities"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", [embedding, "legend_head_embedding", "legend_head_bias"], ["legend_on_embedding"]),
        helper.make_node("Conv", ["legend_probabilities", "legend_head_probabilities"], ["legend_on_probabilities"]),
        helper.make_node("Add", ["legend_on_embedding", "legend_on_probabilities"], ["legend_scores"]),
    ])
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("legend_scores", TensorProto.FLOAT, ["N", k, "H", "W"]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _session(data: bytes, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class Network:
    """An encoder's features of prepared (reflectance) batches, and with a head, class probabilities.

    `encoder_name`: an `ml.features` encoder; for "dynamicworld", `onnx_bytes` is its network with the embedding
    as a second output (`ml.features.embedding_model`) and `dw` its normalisation (its own bands)."""

    def __init__(self, encoder_name: str, onnx_bytes: bytes | None = None, dw: Normalisation | None = None,
                 head: LinearHead | None = None, threads: int | None = None) -> None:
        self.encoder = encoder(encoder_name)
        self.head = head
        self.dw, self.session, self.channels = dw, None, 0
        if self.encoder.needs_model:
            if onnx_bytes is None or dw is None:
                raise FeatureError(f"the {encoder_name} encoder needs its network and normalisation")
            self.indexes = [LEGEND_BANDS.index(b) for b in dw.bands]
            model = onnx.load_from_string(onnx_bytes)
            self.session = _session(onnx_bytes, threads)
            self.channels = int(_conv_inputs(model))
            self.classes_dw = int(model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value or 0)
            if head is not None:  # the map's pass: the head's network part inside the graph
                n_net = head.weights.shape[1] - len(SPECTRAL)
                self.session = _session(head_graph(onnx_bytes, head.weights[:, :n_net], head.bias), threads)
        self.input = self.session.get_inputs()[0].name if self.session is not None else ""

    def names(self, dw_classes: Sequence[str] = ()) -> list[str]:
        """What each feature is."""
        if not self.encoder.needs_model:
            return list(SPECTRAL)
        return [*(f"embedding {i}" for i in range(self.channels)), *(f"P({c})" for c in dw_classes),
                *SPECTRAL]

    def _dn(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(batch, np.float32) * 10000.0

    def features(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, bands) reflectance → (N, H, W, F): [embedding, probabilities,] spectral."""
        dn = self._dn(batch)
        out = [spectral(dn, bands=LEGEND_BANDS)]
        if self.session is not None and self.head is None:
            assert self.dw is not None
            x = self.dw.apply(dn[..., self.indexes], offset=0.0)
            probabilities, embedding = self.session.run(None, {self.input: x})
            out = [_channels_last(embedding, self.channels), probabilities, *out]
        elif self.session is not None:
            raise FeatureError("a network with a head gives probabilities, not features")
        return np.concatenate(out, axis=-1).astype(np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, bands) reflectance → (N, H, W, classes) probabilities of the legend's classes."""
        if self.head is None:
            raise FeatureError("this network has no head: train one first")
        dn = self._dn(batch)
        spectral_weights = self.head.weights[:, -len(SPECTRAL):]
        scores = spectral(dn, bands=LEGEND_BANDS) @ spectral_weights.T
        if self.session is not None:
            assert self.dw is not None
            x = self.dw.apply(dn[..., self.indexes], offset=0.0)
            scores += np.moveaxis(self.session.run(None, {self.input: x})[0], 1, -1)
        else:
            scores += self.head.bias
        return softmax(scores)


def _conv_inputs(model: onnx.ModelProto) -> int:
    weights = {t.name: t for t in model.graph.initializer}
    last = [n for n in model.graph.node if n.op_type == "Conv"][-1]
    return int(weights[last.input[1]].dims[1])


def _channels_last(array: np.ndarray, channels: int) -> np.ndarray:
    return array if array.shape[-1] == channels else np.moveaxis(array, 1, -1)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (stable)."""
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def encoder_network(encoder_name: str, dw_onnx: Path | None = None, dw_normalisation: dict | None = None,
                    threads: int | None = None) -> tuple[Network, bytes | None]:
    """The feature network of an encoder (no head) and, for a network encoder, its ONNX with the embedding output
    (saved with the model once trained)."""
    if not encoder(encoder_name).needs_model:
        return Network(encoder_name, threads=threads), None
    if dw_onnx is None or dw_normalisation is None:
        raise FeatureError(f"the {encoder_name} encoder needs Dynamic World's ONNX and normalisation")
    data, _ = embedding_model(dw_onnx)
    return Network(encoder_name, data, normalisation_from_dict(dw_normalisation), threads=threads), data


def save(folder: Path, head: LinearHead, encoder_onnx: bytes | None) -> list[str]:
    """head.npz and, for a network encoder, its ONNX (with the embedding output) in `folder`; the names."""
    files = [head.save(folder)]
    if encoder_onnx is not None:
        (Path(folder) / GRAPH_FILE).write_bytes(encoder_onnx)
        files.append(GRAPH_FILE)
    return files


def load(folder: Path, card: dict) -> Network:
    """A legend model folder's network with its head (method "legend" of `ml.methods`)."""
    folder = Path(folder)
    head = LinearHead.load(folder)
    spec = card.get("encoder", {})
    name = spec.get("name", "spectral")
    data = None
    if encoder(name).needs_model:
        path = folder / GRAPH_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{folder.name}: the card says encoder {name} but {GRAPH_FILE} is missing")
        data = path.read_bytes()
    dw = normalisation_from_dict(spec["normalisation"]) if "normalisation" in spec else None
    return Network(name, data, dw, head=head, threads=card.get("params", {}).get("threads"))


