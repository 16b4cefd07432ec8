"""A NumPy float32 evaluation of the ONNX graphs jobs run here (MatMul, Gemm, Add, Relu, ArgMax,
Softmax): a second, independent implementation to measure the float tolerance against (NumPy's
BLAS and ONNX Runtime's MLAS sum in different orders), and the shape of a GPU path through PyTorch
(the same few ops in ``torch``)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from oracle.work.errors import ModelError
from oracle.work.runtime import initializers


def run_reference(proto: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every graph output for input batch ``x`` (the graph's single input)."""
    values: dict[str, np.ndarray] = dict(initializers(proto))
    values[proto.graph.input[0].name] = np.asarray(x, dtype=np.float32)
    for node in proto.graph.node:
        args = [values[n] for n in node.input]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op == "MatMul":
            out = np.matmul(args[0], args[1])
        elif op == "Gemm":
            a = args[0].T if attrs.get("transA") else args[0]
            b = args[1].T if attrs.get("transB") else args[1]
            out = np.float32(attrs.get("alpha", 1.0)) * (a @ b)
            if len(args) > 2:
                out = out + np.float32(attrs.get("beta", 1.0)) * args[2]
        elif op == "Add":
            out = args[0] + args[1]
        elif op == "Relu":
            out = np.maximum(args[0], np.float32(0))
        elif op == "ArgMax":
            out = np.argmax(args[0], axis=attrs.get("axis", 0))
            if attrs.get("keepdims", 1):
                out = np.expand_dims(out, attrs.get("axis", 0))
            out = out.astype(np.int64)
        elif op == "Softmax":
            z = args[0] - args[0].max(axis=attrs.get("axis", -1), keepdims=True)
            e = np.exp(z)
            out = e / e.sum(axis=attrs.get("axis", -1), keepdims=True)
        else:
            raise ModelError(f"the NumPy reference does not implement {op}")
        values[node.output[0]] = out
    return {o.name: values[o.name] for o in proto.graph.output}
