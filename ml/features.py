"""Per-pixel features for a classifier trained on a user's own labels (issue 27): what a small model reads where a
forester, an agronomist or an NGO has labelled points in classes of their own.

Encoders are a registry (`ENCODERS`), so a future foundation model shipped to the site slots in as one entry:

- "spectral": the 13 Sentinel-2 bands as reflectance (DN / 10000, DN offset applied) and five standard indices —
  NDVI (B8, B4), NDWI (McFeeters: B3, B8), NDMI (B8, B11), NDBI (B11, B8), NBR (B8, B12); no network, any imagery.
- "dynamicworld": Dynamic World's decoder embedding — the 2×-upsampled, L2-normalised features its 1×1 classifier
  reads, one vector per 10 m pixel — and its class probabilities, beside "spectral". The network is Dynamic World's
  own, run by ONNX Runtime from the ONNX the site's exporter makes of it (`ml.engines.export_onnx`), with the
  classifier's input added as a second output (`embedding_model`): the same forward pass gives both.

Every encoder takes an image as (H, W, 13) DNs in `S2_BANDS` order and returns (H, W, F) float32, with `names`
saying what each of the F features is.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bands import S2_BANDS
from .errors import PermanentError

INDICES = {"NDVI": ("B8", "B4"), "NDWI": ("B3", "B8"), "NDMI": ("B8", "B11"), "NDBI": ("B11", "B8"),
           "NBR": ("B8", "B12")}


class FeatureError(PermanentError):
    """An encoder cannot make features of this image or model."""


def spectral(image: np.ndarray, offset: float = 0.0, bands: Sequence[str] = S2_BANDS) -> np.ndarray:
    """The bands as reflectance and the five indices: (…, H, W, bands) DNs → (…, H, W, bands + 5)."""
    if image.ndim < 3 or image.shape[-1] != len(bands):
        raise FeatureError(f"an image of shape {image.shape}: (H, W, {len(bands)}) Sentinel-2 DNs expected")
    reflectance = np.clip((image.astype(np.float32) + offset) / 10000, 0, 1.5)
    band = {name: reflectance[..., k] for k, name in enumerate(bands)}
    with np.errstate(divide="ignore", invalid="ignore"):
        indices = [np.nan_to_num((band[a] - band[b]) / (band[a] + band[b]), nan=0.0, posinf=0.0, neginf=0.0)
                   for a, b in INDICES.values()]
    return np.concatenate([reflectance, np.stack(indices, axis=-1)], axis=-1).astype(np.float32)


def spectral_names(bands: Sequence[str] = S2_BANDS) -> list[str]:
    """What each of `spectral`'s features is."""
    return [*(f"{b} reflectance" for b in bands), *INDICES]


SPECTRAL_NAMES = spectral_names()
# The bands a legend model reads: every band L1C and L2A products both have (L2A has no B10, cirrus).
LEGEND_BANDS = tuple(b for b in S2_BANDS if b != "B10")


def embedding_model(onnx_path: Path) -> tuple[bytes, int]:
    """The network's ONNX with the input of its last convolution (a 1×1 classifier) as a second output; that
    input's channel count. FeatureError when the last convolution is not a 1×1 classifier."""
    import onnx  # only where a network encodes: the web process needs the registry, not onnx (half a second)
    from onnx import TensorProto, helper

    model = onnx.load(str(onnx_path))
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    if not convs:
        raise FeatureError(f"{Path(onnx_path).name} has no convolution whose input could serve as an embedding")
    classifier = convs[-1]
    weights = {t.name: t for t in model.graph.initializer}.get(classifier.input[1])
    if weights is None or list(weights.dims[2:]) != [1, 1]:
        raise FeatureError(f"{Path(onnx_path).name}: its last convolution is not a 1×1 classifier")
    model.graph.output.append(helper.make_tensor_value_info(classifier.input[0], TensorProto.FLOAT, None))
    return model.SerializeToString(), int(weights.dims[1])


class DynamicWorldEncoder:
    """Dynamic World's embedding and probabilities for every pixel of an image, in tiles of `tile` pixels."""

    def __init__(self, onnx_path: Path, normalise: Callable[[np.ndarray], np.ndarray], band_indexes: list[int],
                 tile: int = 512, threads: int | None = None):
        import onnxruntime as ort  # as in embedding_model: only where a network encodes

        data, self.channels = embedding_model(onnx_path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.normalise, self.band_indexes, self.tile = normalise, band_indexes, tile

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 13) DNs → (H, W, channels + classes): the embedding, then the probabilities."""
        h, w, _ = image.shape
        size = self.tile
        ph, pw = -(-h // 16) * 16, -(-w // 16) * 16  # the network halves four times
        padded = np.pad(image[..., self.band_indexes], ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect")
        out: np.ndarray | None = None
        for y in range(0, ph, size):
            for x in range(0, pw, size):
                block = self.normalise(padded[y:y + size, x:x + size])[None]
                probabilities, embedding = self.session.run(None, {self.input: block.astype(np.float32)})
                embedding = _channels_last(embedding, self.channels)
                features = np.concatenate([embedding[0], probabilities[0]], axis=-1)
                if out is None:
                    out = np.zeros((ph, pw, features.shape[-1]), np.float32)
                out[y:y + block.shape[1], x:x + block.shape[2]] = features
        assert out is not None
        return out[:h, :w]


def _channels_last(array: np.ndarray, channels: int) -> np.ndarray:
    if array.shape[-1] == channels:
        return array
    if array.shape[1] == channels:
        return np.moveaxis(array, 1, -1)
    raise FeatureError(f"the embedding has shape {array.shape}; none of its axes has {channels} channels")


@dataclass(frozen=True)
class Encoder:
    """One way to turn imagery into per-pixel features."""

    name: str
    title: str
    needs_model: bool  # reads a network's folder (its ONNX), or nothing


ENCODERS = {e.name: e for e in (
    Encoder("spectral", "The 13 bands as reflectance and NDVI, NDWI, NDMI, NDBI, NBR", needs_model=False),
    Encoder("dynamicworld", "Dynamic World's 10 m decoder embedding and class probabilities, and the spectral "
                            "features", needs_model=True),
)}


def encoder(name: str) -> Encoder:
    """The encoder called `name`; FeatureError naming those there are."""
    if name not in ENCODERS:
        raise FeatureError(f"unknown encoder {name!r}; one of {', '.join(ENCODERS)}")
    return ENCODERS[name]
