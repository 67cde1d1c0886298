"""The bf16 engine's graph (issue 15): OpenVINO's antialiased downsampling made exactly TensorFlow's, the layers
kept in float32 really run in float32 while the rest runs in bfloat16, and compiled graphs kept per shape."""
from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import tensorflow as tf

from ml.runtime import EngineError, OpenVinoRunner, exact_downsampling, float32_ops
from tests.conftest import needs_bf16


def resize_model(size: tuple[int, int], target: tuple[int, int], antialias: bool = True) -> ov.Model:
    """NHWC in, TensorFlow-style (half-pixel, bilinear) resize on NCHW as the ONNX export has it, NHWC out."""
    image = ops.parameter([1, *size, 3], np.float32)
    nchw = ops.transpose(image, np.array([0, 3, 1, 2]))
    resized = ops.interpolate(nchw, np.array([1, 3, *target], np.int64), mode="linear_onnx",
                              shape_calculation_mode="sizes", antialias=antialias,
                              coordinate_transformation_mode="half_pixel")
    return ov.Model([ops.transpose(resized, np.array([0, 2, 3, 1]))], [image])


def run_f32(model: ov.Model, x: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.asarray(compiled({0: x})[0])


@pytest.mark.parametrize("size", [(16, 16), (34, 20), (512, 512)])
def test_antialiased_halving_becomes_exactly_tensorflows(size):
    x = np.random.default_rng(sum(size)).random((1, *size, 3), np.float32)
    target = (size[0] // 2, size[1] // 2)
    expected = tf.image.resize(x, target, antialias=True).numpy()
    model = resize_model(size, target)
    # OpenVINO's own antialiased Interpolate weighs the pixels differently (why Dynamic World's maps moved):
    assert np.abs(run_f32(model, x) - expected).max() > 0.01
    assert exact_downsampling(model) == 1
    assert np.abs(run_f32(model, x) - expected).max() < 1e-5


def test_other_antialiased_resizes_are_refused_and_plain_ones_left_alone():
    with pytest.raises(EngineError, match=r"only exact halving"):
        exact_downsampling(resize_model((30, 30), (10, 10)))
    assert exact_downsampling(resize_model((16, 16), (32, 32), antialias=False)) == 0


def small_network() -> ov.Model:
    """Conv at full resolution, a pooled body of two convolutions, upsampling, and a 1×1 classifier + softmax."""
    rng = np.random.default_rng(0)
    image = ops.parameter([1, 64, 64, 4], np.float32)
    x = ops.transpose(image, np.array([0, 3, 1, 2]))

    def conv(v, c_in, c_out, k=3):
        w = ops.constant(rng.normal(0, 0.3, (c_out, c_in, k, k)).astype(np.float32))
        return ops.relu(ops.convolution(v, w, [1, 1], [k // 2] * 2, [k // 2] * 2, [1, 1]))

    full = conv(x, 4, 16)
    body = conv(conv(ops.max_pool(full, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0), 16, 32), 32, 32)
    up = ops.interpolate(body, np.array([1, 32, 64, 64], np.int64), mode="linear_onnx",
                         shape_calculation_mode="sizes", coordinate_transformation_mode="half_pixel")
    w = ops.constant(rng.normal(0, 0.3, (5, 48, 1, 1)).astype(np.float32))
    logits = ops.convolution(ops.concat([up, full], 1), w, [1, 1], [0, 0], [0, 0], [1, 1])
    return ov.Model([ops.transpose(ops.softmax(logits, 1), np.array([0, 2, 3, 1]))], [image])


def test_the_float32_set_is_the_full_resolution_layers_and_the_classifier():
    model = small_network()
    kept = float32_ops(model)
    kinds = [op.get_type_name() for op in kept]
    convolutions = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    assert convolutions[0] in kept and convolutions[-1] in kept  # the full-resolution one and the classifier
    assert not any(op in kept for op in convolutions[1:-1])       # the pooled body is left to bfloat16
    assert "Softmax" in kinds and "Interpolate" in kinds and "MaxPool" not in kinds


@needs_bf16
def test_the_kept_layers_run_in_float32_and_the_body_in_bfloat16(tmp_path):
    path = tmp_path / "net.xml"
    ov.save_model(small_network(), str(path), compress_to_fp16=False)
    runner = OpenVinoRunner(path)
    x = np.random.default_rng(1).random((1, 64, 64, 4), np.float32)
    probabilities = runner(x)
    assert runner.precision == "bf16" and probabilities.shape == (1, 64, 64, 5)
    np.testing.assert_allclose(probabilities.sum(-1), 1, atol=1e-5)
    # What the CPU plugin actually compiled: per node of its execution graph, the precision it runs in.
    request = runner.requests[(1, 64, 64, 4)]
    precisions = {op.get_rt_info()["originalLayersNames"].astype(str): op.get_rt_info()["runtimePrecision"].astype(str)
                  for op in request.get_compiled_model().get_runtime_model().get_ordered_ops()
                  if op.get_rt_info()["layerType"].astype(str) == "Convolution"}
    assert sorted(precisions.values()) == ["bf16", "bf16", "f32", "f32"], precisions
    exact = run_f32(ov.Core().read_model(str(path)), x)
    assert (probabilities.argmax(-1) == exact.argmax(-1)).mean() > 0.95


@needs_bf16
def test_one_compiled_graph_per_shape_the_last_few_kept(tmp_path):
    # a model whose input is any size: compiled again for each new shape, at most MAX_SHAPES kept
    model = resize_model((16, 16), (8, 8), antialias=False)
    model.reshape({model.inputs[0]: ov.PartialShape([1, -1, -1, 3])})
    path = tmp_path / "resize.xml"
    ov.save_model(model, str(path))
    runner = OpenVinoRunner(path)
    runner.MAX_SHAPES = 2
    for side in (16, 32, 16, 48):
        runner(np.zeros((1, side, side, 3), np.float32))
    assert list(runner.requests) == [(1, 16, 16, 3), (1, 48, 48, 3)]
