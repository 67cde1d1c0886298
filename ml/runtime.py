"""What every model loader needs to run a model on an engine other than its own framework: the engine
names, the files, and ONNX Runtime's session (ml.engines builds and measures the files; ml.modelio loads
them). Kept apart from ml.engines so that loading a model never imports the exporters (TensorFlow's
converter, the quantiser)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

ENGINES = ("float32", "int8")
MIN_AGREEMENT = 0.995  # int8 becomes a model's default engine only at or above this agreement with float32
ONNX_FLOAT, ONNX_INT8 = "model.onnx", "model.int8.onnx"


class EngineError(ValueError):
    """An engine cannot be built or used for a model; the message says why."""


def check_engine(name: str) -> str:
    """`name` if it is an engine or 'default', else EngineError naming the choices."""
    if name not in (*ENGINES, "default"):
        raise EngineError(f"unknown engine {name!r}; one of default, {', '.join(ENGINES)}")
    return name


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    """The --engine option of every command that runs a model (one wording for all of them)."""
    parser.add_argument("--engine", choices=["default", *ENGINES], default="default",
                        help="float32: the model's own framework (TensorFlow); int8: ONNX Runtime, quantised and "
                             "measured by `python -m ml.engines quantise` (several times faster on CPUs with int8 "
                             "instructions); default: the model card's default_engine (float32 if it has none)")


class OnnxRunner:
    """An ONNX model run by ONNX Runtime on the CPU: prepared (N, H, W, C) float32 → (N, H, W, K) probabilities."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities of a prepared batch."""
        out = self.session.run(None, {self.input: np.ascontiguousarray(batch, np.float32)})[0]
        return np.asarray(out, np.float32)
