"""ml.submissions: the gate before a stranger's model runs (issue 26, item 2). A well-formed segmentation network
passes with what it declares; every hostile or foreign file is refused with its own message, without running it:
a custom operator domain, weights to be read from /etc/passwd or ../, a tensor claiming 2 GB, a Loop with a huge
trip count, a local function, a pickle, a zip, an HDF5 file, a SavedModel folder, not ONNX at all, two inputs."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ml.submissions import SubmissionError, check_card, check_model

CLASSES = [{"name": "forest", "code": 1}, {"name": "water", "code": 10}]
CARD = {"bands": ["B2", "B3", "B4", "B8"], "normalisation": {"mean": [0.1] * 4, "std": [0.05] * 4}, "input_size": 64,
        "classes": CLASSES}


def segmenter(extra_nodes=(), extra_inits=(), opset=17, inputs=None, domain_imports=(), weights=None) -> onnx.ModelProto:
    """A 1×1 convolution from 4 bands to 2 class scores (`weights`, 2 × 4; all ones unless given), then softmax:
    (N, 4, H, W) → (N, 2, H, W)."""
    w = numpy_helper.from_array(np.ones((2, 4, 1, 1), np.float32) if weights is None else
                                np.asarray(weights, np.float32).reshape(2, 4, 1, 1), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["s"]), helper.make_node("Softmax", ["s"], ["y"], axis=1),
             *extra_nodes]
    graph = helper.make_graph(nodes, "segmenter", inputs or [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 4, "H", "W"])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["N", 2, "H", "W"])], [w, *extra_inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *domain_imports])


def saved(model: onnx.ModelProto, tmp_path, name="model.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def test_a_segmentation_network_passes_with_what_it_declares(tmp_path):
    checked = check_model(saved(segmenter(), tmp_path))
    assert checked.operators == ("Conv", "Softmax") and checked.parameters == 8 and checked.opset == 17
    assert checked.input_shape == ("N", 4, "H", "W") and checked.output_shape == ("N", 2, "H", "W")
    assert check_card(CARD, checked)["classes"] == CLASSES
    for bad, words in [({**CARD, "bands": ["B2", "B3", "B4", "B99"]}, "card.bands"),
                       ({**CARD, "bands": ["B2", "B3", "B4"]}, "names 3 bands"),
                       ({**CARD, "normalisation": {"mean": [0] * 4, "std": [0] * 4}}, "positive"),
                       ({**CARD, "classes": [{"name": "x", "code": 42}, CLASSES[1]]}, "a code of the legend"),
                       ({**CARD, "classes": CLASSES[:1]}, "lists 1 classes"),
                       ({**CARD, "input_size": 9000}, "input_size")]:
        with pytest.raises(SubmissionError, match=words):
            check_card(bad, checked)


def external(location: str) -> TensorProto:
    tensor = numpy_helper.from_array(np.zeros(4, np.float32), "stolen")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def hostile(tmp_path) -> dict[str, tuple[object, str]]:
    """Each hostile file and the words of its refusal."""
    big = TensorProto(name="big", data_type=TensorProto.FLOAT, dims=[2**29])  # claims 2 GB, holds nothing
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, [])])
    loop = helper.make_node("Loop", ["trip", "cond"], [], body=body)
    trip = numpy_helper.from_array(np.array(2**62, np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    function = segmenter()
    function.functions.append(helper.make_function("evil", "Hide", ["a"], ["b"], [helper.make_node(
        "Identity", ["a"], ["b"])], [helper.make_opsetid("", 17)]))
    folder = tmp_path / "saved_model"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as z:
        z.writestr("config.json", "{}")
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    (tmp_path / "notes.onnx").write_bytes(b"this is not a model at all" * 10)
    two_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, "H", "W"]),
                  helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 4, "H", "W"])]
    return {
        "custom op": (segmenter([helper.make_node("Exec", ["y"], ["z"], domain="com.evil")],
                                domain_imports=[helper.make_opsetid("com.evil", 1)]), "custom domain"),
        "external /etc/passwd": (segmenter(extra_inits=[external("/etc/passwd")]), "/etc/passwd"),
        "external ../": (segmenter(extra_inits=[external("../../labels.tif")]), "../../labels.tif"),
        "2 GB tensor": (segmenter(extra_inits=[big]), "claims 2.0 GB"),
        "infinite loop": (segmenter([loop], extra_inits=[trip, cond]), "control flow"),
        "local function": (function, "local functions"),
        "old opset": (segmenter(opset=7), "opset 7"),
        "two inputs": (segmenter(inputs=two_inputs), "2 input"),
        "SavedModel": (folder, "SavedModel"),
        "pickle": (tmp_path / "model.pkl", "pickle"),
        "zip": (tmp_path / "model.keras", "zip"),
        "HDF5": (tmp_path / "model.h5", "HDF5"),
        "not ONNX": (tmp_path / "notes.onnx", "not an ONNX model"),
    }


def test_every_hostile_or_foreign_file_is_refused_with_its_own_reason(tmp_path):
    messages, cases = set(), hostile(tmp_path)
    for case, (made, words) in cases.items():
        path = saved(made, tmp_path, f"{case.replace(' ', '_').replace('/', '_')}.onnx") \
            if isinstance(made, onnx.ModelProto) else made
        with pytest.raises(SubmissionError) as refused:
            check_model(path)
        assert words in str(refused.value), (case, str(refused.value))
        messages.add(str(refused.value))
    assert len(messages) == len(cases)  # each its own message
    assert (tmp_path / "saved_model" / "saved_model.pb").exists()  # nothing was run, moved or loaded from it
