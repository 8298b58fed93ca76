"""quantize.py on a small graph: close to fp32, each row quantized on its own, shared inputs.

The model-level quality guard (the real all-MiniLM-L6-v2 against fp32) is
test_server_quality.py; here the rewrite's arithmetic is checked where the exact answer is
known.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from loadgate.server.quantize import MS_DOMAIN, quantize_model

K, N = 64, 48


def tiny_model(rng) -> bytes:
    """x -> (x @ A + a, x @ B): two MatMuls sharing x (like query/key), one more on top."""
    inits = [numpy_helper.from_array(rng.normal(0, 0.2, (K, N)).astype(np.float32), "A"),
             numpy_helper.from_array(rng.normal(0, 0.2, (K, N)).astype(np.float32), "B"),
             numpy_helper.from_array(rng.normal(0, 0.2, (N,)).astype(np.float32), "a"),
             numpy_helper.from_array(rng.normal(0, 0.2, (N, N)).astype(np.float32), "C")]
    nodes = [helper.make_node("MatMul", ["x", "A"], ["xa"], name=""),
             helper.make_node("Add", ["xa", "a"], ["y1"], name=""),
             helper.make_node("MatMul", ["x", "B"], ["xb"], name=""),  # same (empty) name
             helper.make_node("MatMul", ["xb", "C"], ["y2"], name="")]
    dims = ["batch", "tokens"]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [*dims, K]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims)],
        [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [*dims, N]),
         helper.make_tensor_value_info("y2", TensorProto.FLOAT, [*dims, N])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model.SerializeToString()


def activations(rng, rows: int, tokens: int) -> np.ndarray:
    x = rng.normal(0, 1, (rows, tokens, K)).astype(np.float32)
    x[..., 3] *= 20  # an outlier channel, as transformers have
    x[..., 7] += 5  # and an offset one
    return x


def run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return sess.run(["y1", "y2"], {"x": x, "attention_mask": np.ones(x.shape[:2], np.int64)})


def test_quantized_graph_is_close_to_fp32_and_uses_the_integer_kernel():
    rng = np.random.default_rng(0)
    fp32 = tiny_model(rng)
    feeds = [{"x": activations(rng, 1, 12), "attention_mask": np.ones((1, 12), np.int64)}
             for _ in range(8)]
    q = quantize_model(fp32, feeds)
    ops = [n.op_type for n in onnx.load_from_string(q).graph.node]
    assert ops.count("MatMulIntegerToFloat") == 3 and "MatMul" not in ops
    assert any(o.domain == MS_DOMAIN for o in onnx.load_from_string(q).opset_import)
    assert ops.count("ReduceMin") == 2  # x quantized once for both of its MatMuls, xb once

    x = activations(rng, 4, 10)
    for want, got in zip(run(fp32, x), run(q, x), strict=True):
        # 8 bits per row and per output channel: about 1% error per product (y2 is two)
        rel = np.linalg.norm(got - want, axis=-1) / np.linalg.norm(want, axis=-1)
        assert rel.max() < 0.04 and rel.mean() < 0.02, (rel.max(), rel.mean())


def test_each_row_is_quantized_on_its_own():
    rng = np.random.default_rng(1)
    fp32 = tiny_model(rng)
    feeds = [{"x": activations(rng, 1, 6), "attention_mask": np.ones((1, 6), np.int64)}]
    q = quantize_model(fp32, feeds)
    small = activations(rng, 1, 5)
    loud = activations(rng, 1, 5) * 50  # a neighbour with a far larger range
    alone = run(q, small)
    together = run(q, np.concatenate([small, loud]))
    for a, t in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a[0], t[0])
    zeros = run(q, np.zeros((1, 3, K), np.float32))  # an all-zero row stays exact
    np.testing.assert_allclose(zeros[0][0], np.broadcast_to(
        numpy_helper.to_array(onnx.load_from_string(fp32).graph.initializer[2]), (3, N)),
        atol=1e-6)
    np.testing.assert_array_equal(zeros[1], 0)
