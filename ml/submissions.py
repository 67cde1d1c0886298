"""A stranger's model, checked before anything runs it (issue 26, item 2): one ONNX file and its card.

A model is a program (TensorFlow's own security guide says so): a pickle runs code when it is loaded, a Keras or
SavedModel file may hold Lambda layers and custom objects, and even an ONNX graph can ask for operators of custom
domains (native code), read its weights from any path on the machine (external data), claim tensors of
gigabytes, or loop forever (`Loop` with a huge trip count). So a submission is one ONNX file whose every part is
checked here, in this process, without running it: the format (pickles, zips, HDF5 and SavedModel folders are
refused, saying why), the standard operator set at an allowed opset and an operator allow-list (the convolution,
normalisation, activation, resize and shape operators segmentation networks export to — no control flow, no
custom domains, no local functions), weights held in the file itself, size and parameter caps checked from the
declared shapes before any weight is read, one image input and one output of rank 4, and `onnx.checker` with
shape inference. What passes is still run only in the sandbox (issue 26, item 3); this is the gate before it.

How to export: `python -m tf2onnx.convert --saved-model DIR --output model.onnx --opset 17` (TensorFlow/Keras),
`torch.onnx.export(model, torch.zeros(1, C, H, W), "model.onnx", opset_version=17)` (PyTorch).
"""
from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

from .bands import S2_BANDS, normalisation_from_dict
from .classes import DFC_NAMES
from .errors import PermanentError

MAX_BYTES = 200 * 2**20          # the file
MAX_CARD_BYTES = 64 * 2**10      # its card (JSON)
MAX_PARAMETERS = 50_000_000      # weights, counted from their declared shapes
MAX_TENSOR_BYTES = 256 * 2**20   # any one weight tensor as declared
OPSETS = range(11, 23)           # the standard domain's versions accepted
ALLOWED_OPS = frozenset({
    "Abs", "Add", "And", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip", "Concat",
    "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "DepthToSpace", "DequantizeLinear", "Div", "Dropout",
    "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "Gemm", "GlobalAveragePool",
    "GlobalMaxPool", "Greater", "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization",
    "LayerNormalization", "LeakyRelu", "Less", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min",
    "Mish", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "PRelu", "QuantizeLinear", "Reciprocal", "ReduceMax",
    "ReduceMean", "ReduceSum", "Relu", "Reshape", "Resize", "Selu", "Shape", "Sigmoid", "Sign", "Slice", "Softmax",
    "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose",
    "Unsqueeze", "Upsample", "Where"})
STANDARD_DOMAINS = ("", "ai.onnx")


class SubmissionError(PermanentError):
    """A submitted model or card that is refused; the message says why, for its author to act on."""


@dataclass(frozen=True)
class CheckedModel:
    """What a submission declares, once checked: its operators, parameters, input and output shapes."""

    opset: int
    operators: tuple[str, ...]
    parameters: int
    input_name: str
    input_shape: tuple[int | str, ...]
    output_shape: tuple[int | str, ...]


def _refuse_other_formats(path: Path) -> None:
    """Pickles, zips (Keras, PyTorch, zipped SavedModels), HDF5 and SavedModel folders, each with its reason."""
    if path.is_dir():
        raise SubmissionError("a SavedModel folder is refused: it is a TensorFlow program (its graph may call any "
                              "function); export it to ONNX (python -m tf2onnx.convert --saved-model DIR --output "
                              "model.onnx)")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise SubmissionError("a pickle is refused: loading one runs whatever code it holds; export the model to "
                              "ONNX")
    if zipfile.is_zipfile(path):
        raise SubmissionError("a zip (a .keras, a PyTorch .pt or a zipped SavedModel) is refused: those formats can "
                              "hold code that runs when they load; export the model to ONNX")
    if head == b"\x89HDF\r\n\x1a\n":
        raise SubmissionError("an HDF5 Keras file is refused: it may hold Lambda layers (code); export the model "
                              "to ONNX")


def _declared_bytes(tensor: TensorProto) -> int:
    """The bytes a weight tensor declares by its shape and type (before any of it is read)."""
    itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize \
        if tensor.data_type != TensorProto.STRING else 1
    return int(np.prod([int(d) for d in tensor.dims], dtype=np.float64)) * itemsize


def _shape(value: onnx.ValueInfoProto) -> tuple[int | str, ...]:
    dims = value.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)


def check_model(path: Path) -> CheckedModel:
    """A submitted ONNX file checked without running it; SubmissionError saying what is refused."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError("no model file was sent")
    _refuse_other_formats(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SubmissionError(f"the file is {size / 2**20:,.0f} MB; a submission is at most {MAX_BYTES // 2**20} MB")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        raise SubmissionError(f"not an ONNX model ({type(exc).__name__}); export it with tf2onnx or "
                              "torch.onnx.export") from None
    graph = model.graph
    for tensor in graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
            where = next((e.value for e in tensor.external_data if e.key == "location"), "elsewhere")
            raise SubmissionError(f"weight {tensor.name[:60]!r} is to be read from {where[:80]!r}: weights must be "
                                  "inside the file (onnx.save without save_as_external_data)")
    for tensor in graph.initializer:
        declared = _declared_bytes(tensor)
        if declared > MAX_TENSOR_BYTES:
            raise SubmissionError(f"weight {tensor.name[:60]!r} claims {declared / 2**30:.1f} GB; one tensor is at "
                                  f"most {MAX_TENSOR_BYTES // 2**20} MB")
    parameters = sum(int(np.prod([int(d) for d in t.dims], dtype=np.float64)) for t in graph.initializer)
    if parameters > MAX_PARAMETERS:
        raise SubmissionError(f"the model has {parameters:,} parameters; at most {MAX_PARAMETERS:,}")
    domains = {o.domain: o.version for o in model.opset_import}
    # A domain imported but used by no operator (exporters import ONNX-ML's by habit) asks for nothing.
    custom = sorted({node.domain for node in graph.node} - set(STANDARD_DOMAINS))
    if custom:
        raise SubmissionError(f"operators of custom domain(s) {', '.join(map(repr, custom))} are refused (native "
                              "code we cannot check): use the standard ONNX operators")
    opset = domains.get("", domains.get("ai.onnx", 0))
    if opset not in OPSETS:
        raise SubmissionError(f"opset {opset}: the standard domain at opset {OPSETS.start}–{OPSETS[-1]} is accepted")
    if model.functions:
        raise SubmissionError("local functions are refused: export the model with its operators inline")
    operators = set()
    for node in graph.node:
        if node.domain not in STANDARD_DOMAINS:
            raise SubmissionError(f"operator {node.op_type[:40]!r} of custom domain {node.domain[:40]!r} is refused "
                                  "(native code we cannot check)")
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise SubmissionError(f"operator {node.op_type!r} holds a subgraph: control flow (Loop, If, Scan) is "
                                  "refused — a loop may never end")
        if node.op_type not in ALLOWED_OPS:
            raise SubmissionError(f"operator {node.op_type[:40]!r} is not among those a segmentation network needs "
                                  f"(allowed: {', '.join(sorted(ALLOWED_OPS))})")
        operators.add(node.op_type)
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise SubmissionError(f"the model has {len(inputs)} input(s) and {len(graph.output)} output(s); one image in "
                              "(N, C, H, W or N, H, W, C) and one class-probability tensor out are expected")
    in_shape, out_shape = _shape(inputs[0]), _shape(graph.output[0])
    if len(in_shape) != 4 or len(out_shape) != 4:
        raise SubmissionError(f"input of shape {in_shape} and output of shape {out_shape}: both must have rank 4")
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise SubmissionError(f"the ONNX checker refuses the model: {str(exc).splitlines()[0][:200]}") from None
    return CheckedModel(opset, tuple(sorted(operators)), parameters, inputs[0].name, in_shape, out_shape)


def check_card(card: dict, model: CheckedModel, legend: Mapping[int, str] = DFC_NAMES) -> dict:
    """A submission's card — bands in order, normalisation, input size, classes and their mapping to the
    `legend`'s codes (ours by default, or a benchmark's own) — checked against the model; SubmissionError saying
    what is wrong."""
    if not isinstance(card, dict):
        raise SubmissionError("the card must be a JSON object")
    bands = card.get("bands")
    if not isinstance(bands, list) or not bands or any(b not in S2_BANDS for b in bands) or len(set(bands)) != len(
            bands):
        raise SubmissionError("card.bands must list Sentinel-2 bands once each, in the model's order "
                              f"({', '.join(S2_BANDS)})")
    if len(bands) not in (model.input_shape[1], model.input_shape[-1]):
        raise SubmissionError(f"card.bands names {len(bands)} bands; the model's input {model.input_shape} takes "
                              "another number of channels")
    norm = card.get("normalisation")
    if not isinstance(norm, dict):
        raise SubmissionError("card.normalisation must be {\"mean\": […], \"std\": […]} (of DN/10000, per band) or "
                              "{\"kind\": \"log-sigmoid\", \"a\": […], \"s\": […]} (Dynamic World's)")
    keys = ("a", "s") if norm.get("kind") == "log-sigmoid" else ("mean", "std")
    for key in keys:
        values = norm.get(key)
        if not isinstance(values, list) or len(values) != len(bands) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise SubmissionError(f"card.normalisation.{key} must hold one number per band ({len(bands)})")
    if any(v <= 0 for v in norm[keys[1]]):
        raise SubmissionError(f"card.normalisation.{keys[1]} must be positive")
    try:
        normalisation = normalisation_from_dict({**{k: norm[k] for k in (*keys, "kind", "offset") if k in norm},
                                                 "bands": bands})
    except (KeyError, ValueError, TypeError) as exc:
        raise SubmissionError(f"card.normalisation: {exc}") from None
    size = card.get("input_size")
    if not isinstance(size, int) or not 32 <= size <= 2048:
        raise SubmissionError("card.input_size must be the tile side in pixels, 32 to 2048")
    classes = card.get("classes")
    if not isinstance(classes, list) or not classes:
        raise SubmissionError("card.classes must list the model's output classes in output order, each "
                              "{\"name\", \"code\"} (a code of the legend)")
    codes = ", ".join(map(str, legend))
    for k, c in enumerate(classes):
        if not isinstance(c, dict) or not isinstance(c.get("code"), int) or c["code"] not in legend:
            raise SubmissionError(f"card.classes[{k}] must be {{\"name\": …, \"code\": …}} with a code of the "
                                  f"legend ({codes})")
    if len(classes) not in (model.output_shape[1], model.output_shape[-1]):
        raise SubmissionError(f"card.classes lists {len(classes)} classes; the model's output {model.output_shape} "
                              "has another number")
    return {"bands": bands, "normalisation": normalisation.to_dict(), "input_size": size,
            "classes": [{"name": str(c.get("name") or legend[c["code"]])[:60], "code": c["code"]}
                        for c in classes]}
