"""The bf16 engine's graph (issue 15): OpenVINO's antialiased downsampling made exactly TensorFlow's, the layers
kept in float32 really run in float32 while the rest runs in bfloat16, and compiled graphs kept per shape."""
from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
import tensorflow as tf

from ml.errors import EngineError
from ml.graph_rewrites import exact_downsampling, float32_ops, low_resolution_classifier
from ml.runtime import OpenVinoRunner
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


def l2_classifier_network(size: tuple[int, int] = (24, 40)) -> ov.Model:
    """Dynamic World's head as its ONNX export has it: features at half resolution, upsampled 2× (bilinear,
    half-pixel), L2-normalised over channels (square, sum, floor, sqrt, reciprocal), then a 1×1 classifier,
    bias and softmax."""
    rng = np.random.default_rng(3)
    image = ops.parameter([1, *size, 4], np.float32)
    x = ops.transpose(image, np.array([0, 3, 1, 2]))
    w = ops.constant(rng.normal(0, 0.5, (12, 4, 3, 3)).astype(np.float32))
    features = ops.convolution(x, w, [2, 2], [1, 1], [1, 1], [1, 1])
    up = ops.interpolate(features, np.array([1, 12, *size], np.int64), mode="linear_onnx",
                         shape_calculation_mode="sizes", coordinate_transformation_mode="half_pixel")
    total = ops.reduce_sum(ops.multiply(up, up), np.array([1], np.int64), True)
    inverse = ops.divide(np.array(1, np.float32), ops.sqrt(ops.maximum(total, np.array(1e-12, np.float32))))
    classifier = ops.constant(rng.normal(0, 3, (5, 12, 1, 1)).astype(np.float32))
    logits = ops.add(ops.convolution(ops.multiply(up, inverse), classifier, [1, 1], [0, 0], [0, 0], [1, 1]),
                     ops.constant(rng.normal(0, 1, (1, 5, 1, 1)).astype(np.float32)))
    return ov.Model([ops.transpose(ops.softmax(logits, 1), np.array([0, 2, 3, 1]))], [image])


@pytest.mark.parametrize("size", [(24, 40), (2, 2), (64, 64)])
def test_the_classifier_moves_to_the_features_resolution_without_changing_the_output(size):
    x = np.random.default_rng(4).normal(0, 1, (1, *size, 4)).astype(np.float32)
    model = l2_classifier_network(size)
    before = run_f32(model, x)
    added = low_resolution_classifier(model)
    kinds = [op.get_type_name() for op in added]
    assert kinds[0] == "Convolution" and "GroupConvolution" in kinds and "DepthToSpace" in kinds
    classifiers = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    assert [list(op.get_output_shape(0)) for op in classifiers][-1] == [1, 5, size[0] // 2, size[1] // 2]
    np.testing.assert_allclose(run_f32(model, x), before, atol=2e-6)
    assert low_resolution_classifier(model) == []  # done once: the pattern is gone


def test_networks_without_the_normalised_head_are_left_alone():
    model = small_network()  # upsampled features concatenated, not normalised: nothing to move
    ops_before = len(model.get_ordered_ops())
    assert low_resolution_classifier(model) == [] and len(model.get_ordered_ops()) == ops_before


@needs_bf16
def test_the_moved_classifier_and_its_upsampling_run_in_float32(tmp_path):
    path = tmp_path / "head.xml"
    ov.save_model(l2_classifier_network((64, 64)), str(path), compress_to_fp16=False)
    runner = OpenVinoRunner(path)
    x = np.random.default_rng(5).normal(0, 1, (1, 64, 64, 4)).astype(np.float32)
    probabilities = runner(x)
    request = runner.requests[(1, 64, 64, 4)]
    precisions: dict[str, list[str]] = {}
    for op in request.get_compiled_model().get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        precisions.setdefault(info["layerType"].astype(str), []).append(info["runtimePrecision"].astype(str))
    # the features' convolution in bfloat16; the classifier and the upsampling's grouped convolution in float32
    assert sorted(precisions["Convolution"]) == ["bf16", "f32", "f32"], precisions
    assert precisions["DepthToSpace"] == ["f32"] and precisions["Softmax"] == ["f32"]
    exact = run_f32(ov.Core().read_model(str(path)), x)
    assert np.abs(probabilities - exact).max() < 0.05


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
