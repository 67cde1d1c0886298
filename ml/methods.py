"""The one registry of land-cover methods: name → how it trains, what it reads, how it is saved and loaded.

`ml.train`, `ml.modelio`, `ml.compare` and the site look methods up here; adding a method is
one entry (and its trainer in `ml.trainers`). Keras and TensorFlow are imported only when a
method trains, saves or loads a network, and a legend model's ONNX Runtime and onnx only when
one is loaded: importing them costs seconds and hundreds of MB, which processes that never do
(the web server, the catalogue commands) should not pay. That is the only reason for the
function-level imports below.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import sandbox
from .bands import Normalisation
from .config import TrainConfig
from .errors import PermanentError

# train(config, splits, normalisation) → (model, parameters for the model card)
Trainer = Callable[[TrainConfig, dict, Normalisation], tuple[Any, dict]]


@dataclass(frozen=True)
class Method:
    """One land-cover method."""

    name: str
    title: str
    family: str                # "unet", "gan", "forest" or "pretrained": which settings of TrainConfig apply
    reads: str                 # "image" (Sentinel-2 bands) or "coarse" (a coarse land-cover map to refine)
    labels: str | None         # labels it always trains on ("coarse", "fine"), None: the dataset's default
    train: Trainer
    save: Callable[[Any, Path], list[str]]          # writes the model's files, returns their names
    load: Callable[[Path, dict], Any]               # (folder, card) → the model, never running code from it
    predict: Callable[[Any, np.ndarray], np.ndarray]  # model, normalised batch → class probabilities
    fixed_input_size: int | None = None             # for methods whose input size is not a setting


def _train_unet(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    from .trainers import train_unet

    return train_unet(config, splits, norm)


def _train_lsr(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    from .trainers import train_unet

    return train_unet(config, splits, norm, super_resolution=True)


def _train_cgan(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    from .trainers import train_gan

    return train_gan(config, splits, norm, inputs="coarse")


def _train_pix2pix(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    from .trainers import train_gan

    return train_gan(config, splits, norm, inputs="image")


def _train_bagofcolours(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    from .trainers import train_bagofcolours

    return train_bagofcolours(config, splits, norm)


def _save_keras(model: Any, folder: Path) -> list[str]:
    model.save(Path(folder) / "model.keras")
    return ["model.keras"]


def _load_keras(folder: Path, card: dict) -> Any:
    import keras

    from .models import losses  # noqa: F401  (registers the serializable loss and metric names)

    path = Path(folder) / "model.keras"
    if not path.exists():
        raise FileNotFoundError(f"{folder}: model card says {card['method']} but model.keras is missing")
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _predict_keras(model: Any, batch: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch(batch), dtype=np.float32)


def _save_bagofcolours(model: Any, folder: Path) -> list[str]:
    files: list[str] = model.save(folder)
    return files


def _load_bagofcolours(folder: Path, card: dict) -> Any:
    from .models.bagofcolours import BagOfColours

    return BagOfColours.load(folder, card.get("params", {}).get("bagofcolours", {}))


def _predict_bagofcolours(model: Any, batch: np.ndarray) -> np.ndarray:
    probabilities: np.ndarray = model.predict_proba(batch)
    return probabilities


def _not_trainable(config: TrainConfig, splits: dict, norm: Normalisation) -> tuple[Any, dict]:
    raise ValueError("pretrained networks are imported (python -m ml.pretrained), not trained here")


def _not_saved(model: Any, folder: Path) -> list[str]:
    raise ValueError("pretrained networks are imported with their own files (python -m ml.pretrained)")


def _load_savedmodel(folder: Path, card: dict) -> Any:
    import keras

    path = Path(folder) / card.get("params", {}).get("savedmodel", "savedmodel")
    if not (path / "saved_model.pb").exists():
        raise FileNotFoundError(f"{Path(folder).name}: the card says a TensorFlow SavedModel but "
                                f"{path.name}/saved_model.pb is missing")
    return keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")


def _softmax(logits: np.ndarray) -> np.ndarray:
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))  # stable
    return probabilities / probabilities.sum(axis=-1, keepdims=True)


def _predict_logits(model: Any, batch: np.ndarray) -> np.ndarray:
    outputs = model(batch)
    return _softmax(np.asarray(next(iter(outputs.values())) if isinstance(outputs, dict) else outputs, np.float32))


def _load_sandboxed(folder: Path, card: dict) -> Any:
    path = Path(folder) / card.get("params", {}).get("onnx", "model.onnx")
    if not path.is_file():
        raise FileNotFoundError(f"{Path(folder).name}: the card says a competition entry but {path.name} is missing")
    threads = int(card.get("params", {}).get("threads") or os.cpu_count() or 1)
    return sandbox.Session(path, len(card["classes"]), sandbox.Limits(cpu_seconds=7 * 24 * 3600, wall_seconds=600,
                                                                      threads=threads, output_mb=1))


def _predict_scores(model: Any, batch: np.ndarray) -> np.ndarray:
    """Class probabilities from a model's scores: taken as they are when they already are probabilities (the
    exporters' softmax), else through a softmax (logits)."""
    scores = np.asarray(model(batch), np.float32)
    if scores.min() >= 0 and np.allclose(scores.sum(axis=-1), 1, atol=1e-3):
        return scores
    return _softmax(scores)


def _load_legend(folder: Path, card: dict) -> Any:
    from .legend_model import load  # ONNX Runtime and onnx: only where a legend model is loaded

    return load(folder, card)


def _predict_legend(model: Any, batch: np.ndarray) -> np.ndarray:
    probabilities: np.ndarray = model(batch)
    return probabilities


def _keras_method(name: str, title: str, family: str, reads: str, labels: str | None, train: Trainer) -> Method:
    return Method(name, title, family, reads, labels, train, save=_save_keras, load=_load_keras, predict=_predict_keras)


METHODS: dict[str, Method] = {m.name: m for m in (
    _keras_method("unet", "U-Net", "unet", reads="image", labels=None, train=_train_unet),
    _keras_method("lsr", "Label super-resolution", "unet", reads="image", labels="coarse", train=_train_lsr),
    _keras_method("cgan", "CGAN low → high", "gan", reads="coarse", labels="fine", train=_train_cgan),
    _keras_method("pix2pix", "Pix2Pix", "gan", reads="image", labels="fine", train=_train_pix2pix),
    Method("bagofcolours", "Bag of colours + RF", "forest", reads="image", labels=None, train=_train_bagofcolours,
           save=_save_bagofcolours, load=_load_bagofcolours, predict=_predict_bagofcolours, fixed_input_size=256),
    # A network trained elsewhere (Dynamic World): imported by ml.pretrained, loaded as a SavedModel.
    Method("pretrained", "Pretrained network", "pretrained", reads="image", labels=None, train=_not_trainable,
           save=_not_saved, load=_load_savedmodel, predict=_predict_logits),
    # A competition entry promoted to a site model: its ONNX file run only inside the sandbox (ml.sandbox.Session).
    Method("submission", "Competition entry (sandboxed ONNX)", "pretrained", reads="image", labels=None,
           train=_not_trainable, save=_not_saved, load=_load_sandboxed, predict=_predict_scores),
    # A user's own legend (issue 27): an encoder's features and a linear head, trained by the site on their labels.
    Method("legend", "A legend of one's own (encoder features + linear head)", "pretrained", reads="image",
           labels=None, train=_not_trainable, save=_not_saved, load=_load_legend, predict=_predict_legend),
)}


class UnknownMethod(PermanentError):
    """No method of that name is registered."""


def get(name: str) -> Method:
    """The method called `name`, or UnknownMethod naming the ones there are."""
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethod(f"unknown method {name!r}; one of {sorted(METHODS)}") from None
