"""Rewrites of an OpenVINO graph before it is compiled in bfloat16, named for what they do (Dynamic World is
where each was found and measured, but each matches a pattern, not a network, and leaves others alone):

- `exact_downsampling`: an antialiased 2× bilinear downsampling (TensorFlow's ScaleAndTranslate, in Dynamic
  World's encoder) becomes the exact stride-2 filter it is ([1, 3, 3, 1]/8 per axis, renormalised at the
  edges), because OpenVINO's antialiased Interpolate weighs pixels differently from TensorFlow's (maps agreed
  on 88.5 % of pixels; with the filter, float32 agrees on 100 %);
- `float32_ops`: what runs at the image's full resolution (the first convolution, the upsampled decoder) and
  the classifier (the last convolution and everything after it) stay float32: bfloat16 keeps 8 bits of
  mantissa, and logits rounded that coarsely split near-tied classes. Dynamic World on held-out SEN12MS
  tiles: all bfloat16 99.16 % agreement with float32; classifier in float32 99.47 %; with the
  full-resolution layers too 99.64 %, for about 10 % of the bfloat16 speed;
- `low_resolution_classifier`: to win most of that back, a 1×1 classifier reading L2-normalised
  2×-upsampled features runs at the features' resolution, exactly (the upsampling is linear with weights
  summing to 1, so W·(u/‖u‖) = up(W·y)/‖u‖): a quarter of the classifier's pixels and no normalised
  full-resolution copy of the features; Dynamic World's forward pass 1.12× faster, agreement 99.63 %
  (docs/BENCHMARKS.md).

`ml.runtime.OpenVinoRunner` applies them and marks the float32 nodes in the IR.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import EngineError


def _bilinear_2x(op: Any) -> str | None:
    """'down' or 'up' for an Interpolate of a static 4-D tensor that halves or doubles exactly its height and
    width, bilinear with half-pixel centres and no padding (TensorFlow's resize); None for any other."""
    attrs = op.get_attributes()
    source, target = list(op.get_input_shape(0)), list(op.get_output_shape(0))
    if (len(source) != 4 or source[:2] != target[:2] or attrs["mode"] not in ("linear", "linear_onnx")
            or attrs["coordinate_transformation_mode"] != "half_pixel"
            or any(attrs["pads_begin"]) or any(attrs["pads_end"])):
        return None
    if source[2:] == [2 * target[2], 2 * target[3]]:
        return "down"
    return "up" if target[2:] == [2 * source[2], 2 * source[3]] else None


def exact_downsampling(model: Any) -> int:
    """Replace every antialiased Interpolate of a static-shape OpenVINO model that halves height and width
    (bilinear, half-pixel centres: TensorFlow's resize with antialias=True) by the exact stride-2 filter; an
    EngineError for any other antialiased resize. Returns how many were replaced."""
    import openvino.opset13 as ops

    replaced = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Interpolate" or not op.get_attributes().get("antialias"):
            continue
        source, target = list(op.get_input_shape(0)), list(op.get_output_shape(0))
        if _bilinear_2x(op) != "down":
            raise EngineError(f"OpenVINO cannot run the antialiased resize {op.get_friendly_name()} "
                              f"({source} → {target}) as TensorFlow does; only exact halving is rewritten")
        _, c, h, w = source
        taps = np.array([1, 3, 3, 1], np.float32) / 8
        # One 4×4 filter per channel (a depthwise convolution: it runs in the CPU plugin's blocked layout,
        # where reshaping the channels away cost a reorder of the whole tensor).
        kernel = np.broadcast_to(np.outer(taps, taps), (c, 1, 1, 4, 4)).astype(np.float32)
        filtered = ops.group_convolution(op.input_value(0), ops.constant(kernel), strides=[2, 2], pads_begin=[1, 1],
                                         pads_end=[1, 1], dilations=[1, 1])
        # Output pixel i weighs input pixels 2i−1 … 2i+2; at the edges only those inside, renormalised.
        weight = [np.array([sum(t for t, j in zip(taps, range(2 * i - 1, 2 * i + 3), strict=True) if 0 <= j < size)
                            for i in range(size // 2)], np.float32) for size in (h, w)]
        out = ops.multiply(filtered, ops.constant((1 / np.outer(*weight))[None, None].astype(np.float32)))
        op.output(0).replace(out.output(0))
        replaced += 1
    return replaced


def _consumers(output: Any) -> list[Any]:
    """The distinct operations that read an output (a node reading it twice counted once)."""
    nodes: dict[str, Any] = {}
    for target in output.get_target_inputs():
        nodes.setdefault(target.get_node().get_friendly_name(), target.get_node())
    return list(nodes.values())


def _only_consumer(output: Any, kind: str) -> Any | None:
    """The one operation reading `output` if it is of type `kind`, else None."""
    nodes = _consumers(output)
    return nodes[0] if len(nodes) == 1 and nodes[0].get_type_name() == kind else None


def _chain(output: Any, kinds: tuple[str, ...]) -> list[Any] | None:
    """The operations met from `output` by following a single reader of each of `kinds` in turn, or None
    where the graph branches or differs."""
    found = []
    for kind in kinds:
        node = _only_consumer(output, kind)
        if node is None:
            return None
        found.append(node)
        output = node.output(0)
    return found


def _constant(value: Any) -> np.ndarray | None:
    """The value of an input that is a constant, else None."""
    node = value.get_node()
    return np.asarray(node.get_data()) if node.get_type_name() == "Constant" else None


def upsample2x(x: Any, height: int, width: int, channels: int) -> tuple[list[Any], Any]:
    """A half-pixel bilinear 2× upsampling of (N, channels, height, width) — what TensorFlow's resize and ONNX's
    Resize (linear, half_pixel) compute — built from ops the CPU plugin runs in float32 when told to (its
    Interpolate runs in the precision of its input whatever it is told): output row 2i is ¼·row i−1 + ¾·row i
    and row 2i+1 is ¾·row i + ¼·row i+1, per axis; the four output phases are one grouped 3×3 convolution,
    interleaved by DepthToSpace; at the edges the missing neighbour's weight is taken back by dividing by the
    weight that fell inside (as clamping the coordinate does). Returns the ops and the output."""
    import openvino.opset13 as ops

    taps = (np.array([0.25, 0.75, 0.0], np.float32), np.array([0.0, 0.75, 0.25], np.float32))
    kernel = np.zeros((channels, 4, 1, 3, 3), np.float32)
    for di in (0, 1):
        for dj in (0, 1):
            kernel[:, 2 * di + dj, 0] = np.outer(taps[di], taps[dj])
    phases = ops.group_convolution(x, ops.constant(kernel), [1, 1], [1, 1], [1, 1], [1, 1])
    interleaved = ops.depth_to_space(phases, "depth_first", 2)

    def inside(n: int) -> np.ndarray:
        weight = np.ones(2 * n, np.float32)
        weight[[0, -1]] = 0.75
        return 1 / weight

    out = ops.multiply(interleaved, ops.constant(np.outer(inside(height), inside(width))[None, None]
                                                 .astype(np.float32)))
    return [phases, interleaved, out], out


def low_resolution_classifier(model: Any) -> list[Any]:
    """Move a 1×1 classifier that reads L2-normalised, 2×-upsampled features (Dynamic World's decoder: resize,
    l2_normalize over channels, 1×1 convolution) to the features' own resolution, exactly: with u = up(y) and
    a linear, per-channel upsampling whose weights sum to 1, W·(u / ‖u‖) = up(W·y) / ‖u‖. The classifier then
    runs on a quarter of the pixels and no normalised full-resolution copy of the features is made; the norm
    itself is still taken at full resolution (u² by Power, which the CPU plugin fuses). Returns the new
    operations that must stay float32 (the classifier at low resolution and its upsampling); an unchanged
    model returns []."""
    import openvino.opset13 as ops

    for resize in model.get_ordered_ops():
        if (resize.get_type_name() != "Interpolate" or resize.get_attributes().get("antialias")
                or _bilinear_2x(resize) != "up"):
            continue
        source = list(resize.get_input_shape(0))
        u = resize.output(0)
        readers = _consumers(u)
        square = [op for op in readers if op.get_type_name() == "Multiply"
                  and all(op.input_value(i) == u for i in (0, 1))]
        if len(readers) != 2 or len(square) != 1:
            continue
        scale = [op for op in readers if op.get_type_name() == "Multiply"
                 and op.get_friendly_name() != square[0].get_friendly_name()]
        if len(scale) != 1:
            continue
        norm = _chain(square[0].output(0), ("ReduceSum", "Maximum", "Sqrt", "Divide"))
        if norm is None:
            continue
        total, floor, _, inverse = norm
        axes = _constant(total.input_value(1))
        if (not total.get_attributes()["keep_dims"] or axes is None or axes.ravel().tolist() != [1]
                or _constant(floor.input_value(1)) is None
                or getattr(_constant(inverse.input_value(0)), "size", 0) != 1
                or inverse.get_friendly_name() not in {scale[0].input_value(i).get_node().get_friendly_name()
                                                       for i in (0, 1)}):
            continue
        classifier = _only_consumer(scale[0].output(0), "Convolution")
        if classifier is None:
            continue
        weights = _constant(classifier.input_value(1))
        conv = classifier.get_attributes()
        if (weights is None or weights.shape[2:] != (1, 1) or conv["strides"] != [1, 1] or conv["dilations"] != [1, 1]
                or any(conv["pads_begin"]) or any(conv["pads_end"])):
            continue
        low = ops.convolution(resize.input_value(0), classifier.input_value(1), [1, 1], [0, 0], [0, 0], [1, 1])
        upsampling, up = upsample2x(low, source[2], source[3], weights.shape[0])
        logits = ops.multiply(up, inverse)
        classifier.output(0).replace(logits.output(0))
        square[0].output(0).replace(ops.power(u, np.array(2, np.float32)).output(0))
        return [low, *upsampling, logits]
    return []


def float32_ops(model: Any) -> list[Any]:
    """The operations of a static-shape OpenVINO model that the bfloat16 engine keeps in float32: those whose
    output is at the input image's full resolution (the first convolution, the upsampled decoder), and the
    classifier — the last convolution and every operation that depends on it."""
    ordered = [op for op in model.get_ordered_ops() if op.get_type_name() not in ("Parameter", "Result", "Constant")]
    height, width = list(model.inputs[0].get_shape())[1:3]  # NHWC
    keep = set()
    for op in ordered:
        if op.get_output_size() and op.get_output_partial_shape(0).rank.get_length() == 4:
            dims = list(op.get_output_shape(0))
            if dims[2:] == [height, width] or dims[1:3] == [height, width]:  # NCHW inside, NHWC at the ends
                keep.add(op.get_friendly_name())
    convolutions = [op for op in ordered if op.get_type_name() in ("Convolution", "GroupConvolution")]
    if convolutions:
        keep.add(convolutions[-1].get_friendly_name())
        for op in ordered[ordered.index(convolutions[-1]) + 1:]:
            if any(op.input_value(i).get_node().get_friendly_name() in keep for i in range(op.get_input_size())):
                keep.add(op.get_friendly_name())
    return [op for op in ordered if op.get_friendly_name() in keep]
