"""What every model loader needs to run a model on an engine other than its own framework: the engine
names, the files, ONNX Runtime's session and OpenVINO's compiled graphs (ml.engines builds and measures the
files; ml.modelio loads them). Kept apart from ml.engines so that loading a model never imports the
exporters (TensorFlow's converter, the quantiser).

Why OpenVINO for bfloat16: on the project's CPU (AVX-512 BF16) it runs Dynamic World about 2.15× faster
than TensorFlow's float32 and fuses its Mish activations, where ONNX Runtime runs that network at a quarter
of TensorFlow's speed and TensorFlow's own bfloat16 mode gains 1.4× (docs/BENCHMARKS.md). The graph it
compiles is first rewritten by `ml.graph_rewrites` (an exact antialiased halving, a classifier at the
features' resolution, float32 where bfloat16 would split near-tied classes), each rewrite measured there.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import xml.etree.ElementTree as ET  # only ever parses the IR that OpenVINO itself has just written
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EngineError
from .graph_rewrites import exact_downsampling, float32_ops, low_resolution_classifier

ENGINES = ("float32", "int8", "bf16")
# The order in which a model's measured engines are considered for its default (the first at MIN_AGREEMENT):
# int8 before bf16, as it gains more where it keeps the map (2.05× whole process for our U-Nets).
ENGINE_PREFERENCE = ("int8", "bf16")
MIN_AGREEMENT = 0.995  # a faster engine becomes a model's default only at or above this agreement with float32
ONNX_FLOAT, ONNX_INT8 = "model.onnx", "model.int8.onnx"


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
                             "instructions); bf16: OpenVINO in bfloat16 with a float32 classifier, measured by "
                             "the same command (CPUs with AVX-512 BF16 or AMX); default: the model card's "
                             "default_engine (float32 if it has none)")


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


# How OpenVINO's IR marks a node whose precision must not be lowered (the rt_info attribute it writes
# itself; its CPU plugin honours it for bfloat16 as for float16).
_KEEP_PRECISION = {"name": "DisablePrecisionConversion", "version": "0", "value": "dynamic:f16"}
TAIL_PREFIX = "hrmars_float32_"


def bf16_supported() -> bool:
    """Whether OpenVINO finds bfloat16 instructions (AVX-512 BF16 or AMX) on this CPU."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoRunner:
    """An ONNX model run by OpenVINO on the CPU in bfloat16 (AVX-512 BF16 or AMX; float32 where the CPU has
    neither, as `precision` then says), its full-resolution layers and classifier in float32: prepared
    (N, H, W, C) float32 → (N, H, W, K) probabilities. One static graph per input shape, compiled on first
    use; the last MAX_SHAPES are kept."""

    MAX_SHAPES = 4

    def __init__(self, path: Path, threads: int | None = None, precision: str = "bf16"):
        """`precision`: "bf16", or "f32" to run the whole graph in float32 (what the benchmarks compare with)."""
        import openvino as ov

        self.core = ov.Core()
        self.source = self.core.read_model(str(path))
        self.config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_NUM_THREADS": threads or os.cpu_count() or 1}
        self.requests: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self.precision = ""     # what the CPU plugin compiled the body in: "bf16", or "f32" without BF16

    def _compile(self, shape: tuple[int, ...]) -> Any:
        import openvino as ov

        model = self.source.clone()
        model.reshape({model.inputs[0]: list(shape)})
        exact_downsampling(model)
        added = low_resolution_classifier(model)
        kept = float32_ops(model)
        names = {op.get_friendly_name() for op in kept}
        for i, op in enumerate(kept + [op for op in added if op.get_friendly_name() not in names]):
            op.set_friendly_name(f"{TAIL_PREFIX}{i}")
        with tempfile.TemporaryDirectory(prefix="hrmars-openvino-") as tmp:
            # The only public way to mark nodes float32 is the IR's rt_info: write the IR, mark, read it back.
            xml = Path(tmp) / "model.xml"
            ov.save_model(model, str(xml), compress_to_fp16=False)
            tree = ET.parse(xml)
            for layer in tree.getroot().iter("layer"):
                if layer.get("name", "").startswith(TAIL_PREFIX):
                    info = layer.find("rt_info")
                    if info is None:
                        info = ET.SubElement(layer, "rt_info")
                    ET.SubElement(info, "attribute", _KEEP_PRECISION)
            tree.write(xml)
            compiled = self.core.compile_model(self.core.read_model(str(xml)), "CPU", self.config)
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        return compiled.create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities of a prepared batch."""
        batch = np.ascontiguousarray(batch, np.float32)
        shape = tuple(batch.shape)
        if shape not in self.requests:
            self.requests[shape] = self._compile(shape)
            while len(self.requests) > self.MAX_SHAPES:
                self.requests.popitem(last=False)
        self.requests.move_to_end(shape)
        return np.array(self.requests[shape].infer({0: batch})[0], np.float32)  # a copy: OpenVINO reuses its buffer
