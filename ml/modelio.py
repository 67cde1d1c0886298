"""The model folder format.

One folder per model:
    model.json       the model card (format 2): method, the model's own classes and the simplified-IGBP
                     (DFC2020) code each maps to, bands, normalisation (ours, or Dynamic World's
                     log-sigmoid), input level (L1C, L2A or any), input size, licence, citation and
                     required attribution, training data, metrics, library versions, files.
                     Format-1 cards (the 8 DFC2020 training classes, our normalisation) still load.
    model.keras      Keras weights and architecture (U-Net family), loaded with safe_mode=True
    vocabulary.npy + forest.skops   bag of colours (NumPy without pickle; skops, pickle-free,
                     loading only the scikit-learn types a random forest is made of)
    model.onnx, model.int8.onnx     optional, written by `python -m ml.engines quantise`: the network as
                     ONNX, float32 (ONNX Runtime; OpenVINO's bf16 engine compiles it too) and int8; the
                     card's `engines` says how far each engine's maps are from float32's and
                     `default_engine` which engine maps use unless told otherwise
Loading never executes code from the folder.
"""
from __future__ import annotations

import json
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import methods
from .bands import Normalisation, normalisation_from_dict
from .classes import (
    DFC_COLOURS,
    DFC_NAMES,
    MODEL_CLASSES,
    N_MODEL_CLASSES,
    card_scheme,
    coarse_one_hot,
    dfc_to_index,
    igbp_to_dfc,
)
from .errors import EngineError, PermanentError
from .runtime import ENGINES, OnnxRunner, OpenVinoRunner, check_engine

CARD = "model.json"
FORMAT_VERSION = 2
LEVELS = ("L1C", "L2A", "any")  # the Sentinel-2 processing level a model expects
# Scene tiles of our fully convolutional networks (U-Net family, GAN generators), whatever size they were
# trained on: on a 2,048² scene 512-px tiles mapped 4–9 % faster than 256-px ones, float32 and int8 alike
# (fewer pixels computed twice in the overlaps: 1.15× instead of 1.31×), for 40–80 MB more (BENCHMARKS.md).
SCENE_TILE = 512


# Pixels of real imagery read around an area for a network's context (640 m at 10 m), measured: with it a
# pixel's class agrees between a small and a large polygon around it (tests/landcover/api/test_area_edges.py).
CONTEXT = 64


class ModelFormatError(PermanentError):
    """A model folder cannot be loaded; the message names the problem."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model was trained with, for its card."""
    import keras  # only when a model is saved: see ml.methods on why Keras is imported late
    import sklearn

    versions = {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__,
                "scikit-learn": sklearn.__version__, "keras_backend": keras.backend.backend()}
    try:
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return versions


def class_table() -> list[dict]:
    """The card's class list: output index → DFC code, name and colour."""
    return [{"index": i, "code": code, "name": DFC_NAMES[code], "colour": DFC_COLOURS[code]}
            for i, code in enumerate(MODEL_CLASSES)]


def save_model(folder: Path, method: str, model: Any, normalisation: Normalisation, *, input_size: int,
               training: dict, metrics: dict | None = None, params: dict | None = None,
               input_kind: str = "image") -> Path:
    """Write the model's files and its card; input_kind: "image" (Sentinel-2 bands) or "coarse" (a coarse
    land-cover map, one-hot: the CGAN)."""
    try:
        entry = methods.get(method)
    except methods.UnknownMethod as exc:
        raise ModelFormatError(str(exc)) from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = entry.save(model, folder)
    card = {
        "format_version": FORMAT_VERSION,
        "method": method,
        "input": input_kind,
        "level": "any",
        "classes": class_table(),
        "bands": list(normalisation.bands),
        "normalisation": normalisation.to_dict(),
        "input_size": input_size,
        "training": training,
        "metrics": metrics or {},
        "params": params or {},
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    write_card(folder, card)
    return folder


def write_card(folder: Path, card: dict) -> None:
    """Write (or replace) a folder's model card."""
    (Path(folder) / CARD).write_text(json.dumps(card, indent=2, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a model card")


def read_card(folder: Path) -> dict:
    """A folder's model card, checked for the keys every card has; ModelFormatError otherwise."""
    path = Path(folder) / CARD
    if not path.exists():
        raise ModelFormatError(f"{folder}: not a model folder (no {CARD})")
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"{path}: not valid JSON ({exc})") from exc
    for key in ("method", "bands", "normalisation", "input_size", "classes"):
        if key not in card:
            raise ModelFormatError(f"{path}: model card lacks {key!r}")
    if card["method"] not in methods.METHODS:
        raise ModelFormatError(f"{path}: unknown method {card['method']!r}")
    version = card.get("format_version", 1)
    if version == 1 and [c["code"] for c in card["classes"]] != list(MODEL_CLASSES):
        raise ModelFormatError(f"{path}: classes differ from the 8 model classes {list(MODEL_CLASSES)}")
    if version > FORMAT_VERSION:
        raise ModelFormatError(f"{path}: model card format {version} is newer than this HR-MARS reads "
                               f"({FORMAT_VERSION}); update HR-MARS")
    codes = [c.get("code") for c in card["classes"]]
    if card.get("legend"):  # a user's own legend (issue 27): its own codes, names and colours
        if (not codes or len(set(codes)) != len(codes)
                or any(not isinstance(code, int) or not 1 <= code <= 254 for code in codes)
                or any(not c.get("name") or not re.fullmatch(r"#[0-9a-fA-F]{6}", str(c.get("colour", "")))
                       for c in card["classes"])):
            raise ModelFormatError(f"{path}: a legend's classes need distinct codes 1–254, names and #rrggbb colours")
    elif not codes or any(code not in DFC_NAMES for code in codes):
        raise ModelFormatError(f"{path}: every class must map to a simplified-IGBP code 1–10 "
                               f"(got {codes})")
    if card.get("level", "any") not in LEVELS:
        raise ModelFormatError(f"{path}: level must be one of {', '.join(LEVELS)}")
    return card


class Predictor:
    """A loaded model: normalised (N, H, W, bands) float32 → (N, H, W, 8) class probabilities."""

    def __init__(self, folder: Path, card: dict, model: Any, engine: str = "float32", runner: Any = None):
        self.folder = Path(folder)
        self.card = card
        self.method = card["method"]
        self.model = model
        # "float32": the model's own framework (`model`); "int8": ONNX Runtime, "bf16": OpenVINO (`runner`)
        self.engine = engine
        self.runner = runner
        # TensorFlow builds a graph per input shape: such models get full batches (ml.predict pads the last).
        self.fixed_batch = runner is None and methods.get(self.method).family != "forest"
        try:
            self.normalisation = normalisation_from_dict(card["normalisation"])
        except (KeyError, ValueError) as exc:
            raise ModelFormatError(f"{folder}: normalisation: {exc}") from None
        # The model's output index i means simplified-IGBP (DFC2020) code class_codes[i].
        self.class_codes = np.array([c["code"] for c in card["classes"]], np.uint8)
        self.class_names = [c.get("name") or DFC_NAMES[c["code"]] for c in card["classes"]]
        # What the codes mean: DFC's classes, or a user's own legend (names and colours from the card).
        self.legend = card.get("legend") or None
        self.scheme = card_scheme(card)
        self.level = card.get("level", "any")
        self.bands = tuple(card["bands"])
        self.input_size = int(card["input_size"])
        # What the model reads: Sentinel-2 bands, or a coarse land-cover map (one-hot) to refine.
        self.input_kind = card.get("input", "image")
        # U-Net-style models need tile sides divisible by 2**depth.
        self.size_multiple = int(card.get("params", {}).get("size_multiple", 16))
        # Tiles per forward pass when mapping a scene: a large network on large tiles needs fewer at once.
        self.batch_size = int(card.get("params", {}).get("batch_size", 8))
        # The tile side when mapping a scene: the card's params.scene_tile, else SCENE_TILE for our own
        # convolutional networks (any multiple of size_multiple works), else the input size.
        family = methods.get(self.method).family
        default_tile = max(self.input_size, SCENE_TILE) if family in ("unet", "gan") else self.input_size
        self.scene_tile = int(card.get("params", {}).get("scene_tile") or default_tile)
        # The tiles' overlap when mapping a scene: the card's params.scene_overlap, else an eighth of a tile.
        overlap = card.get("params", {}).get("scene_overlap")
        self.scene_overlap = None if overlap is None else int(overlap)
        # The pixels around an area read with it, so every pixel's class sees real neighbours: the card's
        # params.context, else CONTEXT (bag of colours classifies each pixel from its own tile: none).
        context = card.get("params", {}).get("context")
        self.context = int(context) if context is not None else (0 if family == "forest" else CONTEXT)

    def prepare(self, batch: np.ndarray, dn_offset: float | None = None) -> np.ndarray:
        """Raw pixels (N, H, W, bands) → the network's input: normalised bands, or for a coarse-map
        model the IGBP codes of band 1 as one-hot simplified-IGBP classes."""
        if self.input_kind == "coarse":
            return coarse_one_hot(dfc_to_index(igbp_to_dfc(batch[..., 0])))
        return self.normalisation.apply(batch, dn_offset)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (N, H, W, classes) of a prepared batch, on the predictor's engine."""
        if self.runner is not None:
            probabilities: np.ndarray = self.runner(batch)
            return probabilities
        return methods.get(self.method).predict(self.model, batch)

    def predict_index(self, batch: np.ndarray) -> np.ndarray:
        """The most probable of the 8 DFC2020 training classes' indexes at each pixel (what the datasets'
        labels hold); a model whose classes differ is scored by its codes (ml.evaluate --reference)."""
        if list(self.class_codes) != list(MODEL_CLASSES):
            raise ModelFormatError(f"{self.folder}: its classes are not the 8 DFC2020 training classes; score it "
                                   "against a reference map (python -m ml.evaluate MODEL --image … --reference …)")
        return self.predict_proba(batch).argmax(axis=-1).astype(np.uint8)

    def predict_codes(self, batch: np.ndarray) -> np.ndarray:
        """The most probable class of each pixel, as a simplified-IGBP code."""
        return self.class_codes[self.predict_proba(batch).argmax(axis=-1)]


def resolve_engine(card: dict, engine: str = "default") -> str:
    """The engine a model runs on: `engine`, or for 'default' the card's default_engine (float32 if none)."""
    engine = check_engine(engine)
    if engine == "default":
        engine = card.get("default_engine", "float32")
        if engine not in ENGINES:
            raise ModelFormatError(f"default_engine {engine!r} is not one of {', '.join(ENGINES)}")
    return engine


def engine_file(folder: Path, card: dict, engine: str) -> tuple[str, Path | None]:
    """The engine `engine` resolves to for a model folder and, for one other than float32, its file; a
    ModelFormatError if the folder has no such engine (the file must lie inside the folder)."""
    try:
        engine = resolve_engine(card, engine)
    except EngineError as exc:
        raise ModelFormatError(f"{Path(folder).name}: {exc}") from None
    if engine == "float32":
        return engine, None
    name = str((card.get("engines", {}).get(engine) or {}).get("file", ""))
    if not name or Path(name).name != name or not (Path(folder) / name).is_file():
        raise ModelFormatError(f"{Path(folder).name}: has no {engine} engine; make one with "
                               f"`python -m ml.engines quantise {Path(folder).name} --calibration … --held-out …`")
    return engine, Path(folder) / name


def load_model(folder: Path, engine: str = "default") -> Predictor:
    """Load a model folder through its method's loader (which never runs code from the folder), on `engine`:
    'float32' (the model's own framework), 'int8' (ONNX Runtime) or 'bf16' (OpenVINO) where `python -m
    ml.engines quantise` made and measured them, or 'default' (the card's default_engine)."""
    folder = Path(folder)
    card = read_card(folder)
    engine, path = engine_file(folder, card, engine)
    if path is not None:  # ONNX Runtime or OpenVINO alone: the model's framework (TensorFlow) is not even imported
        runner = OpenVinoRunner(path) if engine == "bf16" else OnnxRunner(path)
        return Predictor(folder, card, None, engine=engine, runner=runner)
    try:
        model = methods.get(card["method"]).load(folder, card)
    except FileNotFoundError as exc:
        raise ModelFormatError(str(exc)) from None
    inputs = getattr(model, "inputs", None)
    channels = N_MODEL_CLASSES if card.get("input") == "coarse" else len(card["bands"])
    if inputs and inputs[0].shape[-1] != channels:
        raise ModelFormatError(f"{folder}: the network reads {inputs[0].shape[-1]} channels but the card "
                               f"says input {card.get('input', 'image')!r} with bands {card['bands']}")
    return Predictor(folder, card, model, engine=engine)
