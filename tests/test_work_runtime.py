"""The ONNX runtime wrapper and the demo model: checked loading ("not ONNX" and checker failures
are clear errors), execution providers, input validation, batch runs, and a demo model whose bytes
(and so its model NFT id) are the same every time it is built."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from oracle.work import demo_model
from oracle.work.content import sha256
from oracle.work.digits import generate
from oracle.work.errors import InputError, ModelError
from oracle.work.runtime import CPU, OnnxModel, flops_per_item, select_providers
from tests.support.work import demo_bytes, demo_onnx, digits

DEMO_SHA256 = "66ee913f4860392d436259ae613a66183c246f0ae087ec4fe6bdc9c7055fd703"
"""The demo model's SHA-256 (= its ModelNFT id) as built on the development machine: a build on any
other machine must give the same bytes (oracle/work/demo_model.py says why it does)."""


def test_demo_model_bytes_are_the_same_on_every_build():
    data = demo_bytes()  # built in this checkout on first use, or read from build/models
    assert sha256(data).hex() == DEMO_SHA256
    proto = onnx.load_model_from_string(data)
    assert proto.ir_version == 9 and [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    onnx.checker.check_model(proto, full_check=True)


def test_demo_data_set_is_the_same_bytes_for_the_same_seed():
    a, la = generate(200, 7)
    b, lb = generate(200, 7)
    assert a.tobytes() == b.tobytes() and la.tolist() == lb.tolist()
    assert sorted(set(la.tolist())) == list(range(10)) and set(np.unique(a * 16) % 1) == {0.0}


def test_demo_model_classifies_held_out_digits():
    x, y = digits(360)
    labels, logits = demo_onnx().run(x)
    assert labels.dtype == np.int64 and logits.shape == (360, 10)
    assert (labels == np.argmax(logits, axis=1)).all()
    assert (labels == y).mean() >= 0.95


def test_large_variant_costs_about_100x_per_item():
    small = demo_onnx().flops_per_item
    layers = [(256, 1152), (1152, 1152), (1152, 10)]
    nodes, inits, cur = [], [], "x"
    for k, (a, b) in enumerate(layers):  # the large recipe's graph shape, without fitting it
        inits.append(numpy_helper.from_array(np.zeros((a, b), np.float32), f"w{k}"))
        nodes.append(helper.make_node("MatMul", [cur, f"w{k}"], [f"h{k}"]))
        cur = f"h{k}"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    assert 90 <= flops_per_item(helper.make_model(graph)) / small <= 100
    assert demo_model.LARGE.hidden == (1152, 1152)


@pytest.mark.parametrize("data", [b"", b"definitely not a model", bytes(range(256)) * 8, b'{"graph": 1}'])
def test_bytes_that_are_not_onnx_are_refused(data):
    with pytest.raises(ModelError, match="not ONNX|empty"):
        OnnxModel.from_bytes(data)


def test_a_model_failing_the_checker_is_refused():
    node = helper.make_node("Relu", ["undefined_input"], ["y"])
    graph = helper.make_graph(
        [node],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    with pytest.raises(ModelError, match="fails onnx.checker"):
        OnnxModel.from_bytes(model.SerializeToString())


def test_unreadable_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read the model file"):
        OnnxModel.from_path(tmp_path / "absent.onnx")


def test_cpu_is_used_without_a_gpu_and_cuda_is_never_required():
    assert demo_onnx().providers == [CPU] and demo_onnx().device == "cpu"
    assert select_providers("cpu") == [CPU]
    auto = select_providers("auto")
    assert auto[-1] == CPU
    if len(auto) == 1:  # no CUDA provider in this ONNX Runtime (CI): insisting says what to install
        with pytest.raises(ModelError, match="install onnxruntime-gpu"):
            select_providers("cuda")


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((3, 256), np.float64), "must be float32, got float64"),
        (np.zeros((3, 255), np.float32), "axis 1 must be 256, got 255"),
        (np.zeros((3, 16, 16), np.float32), r"must have shape \[items, 256\]"),
        (np.zeros((0, 256), np.float32), "at least one item"),
        ([[0.0] * 256], "must be a NumPy array"),
    ],
)
def test_inputs_of_the_wrong_shape_or_type_are_refused(x, message):
    with pytest.raises(InputError, match=message):
        demo_onnx().run(x)


def test_wrong_input_or_output_names_are_refused():
    with pytest.raises(InputError, match="named 'x', not 'image'"):
        demo_onnx().validate(np.zeros((1, 256), np.float32), name="image")
    with pytest.raises(InputError, match="no output 'probs'"):
        demo_onnx().run(np.zeros((1, 256), np.float32), names=["probs"])


def test_batching_changes_no_bit():
    x, _ = digits(360)
    whole = demo_onnx().run(x, batch_size=360)
    chunked = demo_onnx().run(x, batch_size=7)
    single = OnnxModel(demo_bytes(), device="cpu", threads=1).run(x[:16], batch_size=1)
    for a, b in zip(whole, chunked, strict=True):
        assert a.tobytes() == b.tobytes()
    assert single[1].tobytes() == whole[1][:16].tobytes()
