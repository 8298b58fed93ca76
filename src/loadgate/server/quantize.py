"""int8 for CPUs with VNNI: per-token uint8 activations x per-channel int8 weights.

ONNX Runtime's stock dynamic quantization (`quantize_dynamic`) gives each MatMul input one
scale for the whole tensor: every token of every text in the batch shares it. On
all-MiniLM-L6-v2 that costs too much (cosine to fp32 down to 0.95 on short texts), and a text's
embedding then depends on which other texts share its batch. Its weight-only 8-bit variant
(`MatMulNBits`) is accurate but barely faster here.

This rewrite keeps the fast integer kernel (`MatMulInteger`: uint8 x int8 with VNNI) and
changes what is quantized how:

- weights: int8, symmetric, one scale per output channel, fixed at export;
- activations: uint8 with a scale and zero point per token (row), computed at run time, so no
  text is quantized with another text's range and batching changes nothing;
- smoothing (SmoothQuant, Xiao et al. 2022): a few hidden channels carry most of the activation
  range; each input channel is divided by s_j and the weight row multiplied by it, with
  s_j = sqrt(max|x_j| / max|w_j|) from a small calibration set (below, not the test corpus);
- MatMuls reading the same input (query/key/value) share one quantized input;
- the integer product and the weight scales are one ONNX Runtime kernel
  (`com.microsoft.MatMulIntegerToFloat`), so the int32 result is never written out.

Per-row zero points are not an input those kernels take, so the row's zero point is applied
after the integer product: q(x) = x/s + z  =>  x·W = s·(q(x)·W - z·colsum(W)).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# how much of the activation range moves into the weights (SmoothQuant's alpha)
SMOOTHING_ALPHA = 0.5
MS_DOMAIN = "com.microsoft"  # ONNX Runtime's contrib ops (MatMulIntegerToFloat)

# Calibration texts for the activation ranges the smoothing needs: varied length and domain,
# deliberately not the load generator's corpus (the quality tests check against that one).
CALIBRATION_TEXTS = [
    "ok", "thanks", "see you tomorrow", "yes please", "no",
    "What time does the museum open on Sundays?",
    "Where is the nearest train station?",
    "How many calories are in a banana?",
    "Please send me the invoice for last month.",
    "The weather in the mountains changed quickly during the afternoon.",
    "Our team shipped the new release after fixing the memory leak in the parser.",
    "I love this phone, but the battery barely lasts a day.",
    "Patients with a history of asthma should consult their doctor before exercising.",
    "The court ruled that the contract was void because one party had been misled.",
    "Researchers found a new species of frog in the rainforest of Ecuador.",
    "Error: connection timed out after 30 seconds while contacting the upstream service.",
    "Stocks rallied after the central bank held interest rates steady.",
    "Can you recommend a good book about the history of Rome?",
    "The quarterly report shows revenue grew by twelve percent year over year.",
    "def add(a, b):\n    return a + b",
    "SELECT name, total FROM orders WHERE total > 100 ORDER BY total DESC;",
    "My package arrived damaged and the seller will not answer my emails!!!",
    "Die Bahn hat heute wieder Verspätung.",
    "La réunion est reportée à jeudi prochain.",
    "Mix the flour and the butter, then add two eggs and a pinch of salt.",
    "In 1969 two astronauts walked on the Moon while a third orbited above them.",
    "The new policy applies to all employees hired after January 1st, including contractors "
    "and part-time staff, and replaces the rules described in the previous handbook.",
    "A long sentence that keeps going, listing apples, pears, plums, cherries, grapes, "
    "lemons, limes, oranges, melons, and finally a few exotic fruits nobody remembers.",
    "lol that was fun",
    "Is it safe to take ibuprofen together with paracetamol?",
    "The GPU ran out of memory when the batch size was raised to 512.",
    "Volunteers planted three hundred trees along the river last weekend.",
]


@dataclass(frozen=True)
class _Group:
    """The weight MatMuls that read one activation tensor."""
    input: str
    nodes: tuple  # onnx NodeProto


def _weight_matmuls(graph, inits: dict) -> list[_Group]:
    by_input: dict[str, list] = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits:
            continue
        w = inits[node.input[1]]
        if len(w.dims) != 2 or w.data_type != 1:  # 2-D float weights only
            continue
        by_input.setdefault(node.input[0], []).append(node)
    return [_Group(k, tuple(v)) for k, v in by_input.items()]


def channel_ranges(model_bytes: bytes, tensors: Sequence[str],
                   feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, tuple]:
    """(min, max) per channel (last axis) of each named tensor over the calibration feeds,
    real tokens only."""
    import onnx
    import onnxruntime as ort

    model = onnx.load_from_string(model_bytes)
    known = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in known:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    names = list(tensors)
    lo: dict[str, np.ndarray] = {}
    hi: dict[str, np.ndarray] = {}
    for feed in feeds:
        mask = feed["attention_mask"].astype(bool)
        for name, value in zip(names, sess.run(names, feed), strict=True):
            rows = value[mask] if value.shape[:2] == mask.shape else value.reshape(
                -1, value.shape[-1])
            mn, mx = rows.min(axis=0), rows.max(axis=0)
            lo[name] = np.minimum(lo[name], mn) if name in lo else mn
            hi[name] = np.maximum(hi[name], mx) if name in hi else mx
    return {name: (lo[name], hi[name]) for name in names}


def quantize_model(model_bytes: bytes, feeds: Iterable[dict[str, np.ndarray]],
                   alpha: float = SMOOTHING_ALPHA) -> bytes:
    """The fp32 ONNX model (bytes) rewritten as described above; returns the new model's bytes.

    feeds: calibration inputs (input_ids, attention_mask, ...) as the model takes them.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    groups = _weight_matmuls(graph, inits)
    if not groups:
        raise ValueError("no MatMul with a 2-D float weight to quantize")
    ranges = channel_ranges(model_bytes, [g.input for g in groups], feeds)

    new_inits: list = []

    def const(name: str, value) -> str:
        new_inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    const("lgq/zero", np.float32(0))
    const("lgq/one", np.float32(1))
    const("lgq/inv254", np.float32(1 / 254))
    const("lgq/half", np.float32(0.5))
    const("lgq/eps", np.float32(1e-8))
    const("lgq/last_axis", np.array([-1], np.int64))

    # nodes are keyed by their first output (ONNX node names may be empty or repeated)
    replaced = {n.output[0] for g in groups for n in g.nodes}
    dropped_weights = {n.input[1] for g in groups for n in g.nodes}
    emitted: dict[str, list] = {}  # first MatMul of a group -> the nodes standing in for it
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ValueError(f"opset {opset} is too old to quantize (need >= 13)")
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    for gi, g in enumerate(groups):
        p = f"lgq/{gi}/"
        ws = [numpy_helper.to_array(inits[n.input[1]]).astype(np.float32) for n in g.nodes]
        # smoothing: x / s and s * W, s_j = max|x_j|^a / max|w_j|^(1-a) over every consumer
        x_lo, x_hi = ranges[g.input]
        x_max = np.maximum(np.maximum(x_hi, -x_lo), 1e-5)
        w_max = np.maximum(np.max([np.abs(w).max(axis=1) for w in ws], axis=0), 1e-5)
        s = (x_max ** alpha / w_max ** (1 - alpha)).astype(np.float32)
        const(p + "inv_s", (1 / s).astype(np.float32))

        nodes: list = []

        def op(kind: str, inputs: list[str], output: str, domain: str = "", nodes=nodes,
               **attrs) -> str:
            nodes.append(helper.make_node(kind, inputs, [output], name=output, domain=domain,
                                          **attrs))
            return output

        def reduce(kind: str, x: str, output: str) -> str:
            if opset >= 18:  # axes became an input in opset 18
                return op(kind, [x, "lgq/last_axis"], output, keepdims=1)
            return op(kind, [x], output, axes=[-1], keepdims=1)

        # the row's range, widened to hold 0 (then 0 is exact: padding stays padding), over
        # 254 steps: x/scale - round(lo/scale) + 0.5 lies in [0, 255], so truncating rounds
        x = op("Mul", [g.input, p + "inv_s"], p + "x")
        lo = op("Min", [reduce("ReduceMin", x, p + "lo0"), "lgq/zero"], p + "lo")
        hi = op("Max", [reduce("ReduceMax", x, p + "hi0"), "lgq/zero"], p + "hi")
        scale = op("Max", [op("Mul", [op("Sub", [hi, lo], p + "range"), "lgq/inv254"],
                              p + "scale0"), "lgq/eps"], p + "scale")
        neg_zp = op("Round", [op("Div", [lo, scale], p + "lo_q")], p + "neg_zp")  # = -zero point
        offset = op("Sub", [neg_zp, "lgq/half"], p + "offset")
        xq = op("Sub", [op("Mul", [x, op("Reciprocal", [scale], p + "inv_scale")], p + "x_s"),
                        offset], p + "x_z")
        xq = op("Cast", [xq], p + "x_q", to=TensorProto.UINT8)  # truncates: rounds (+0.5)
        for ni, (node, w) in enumerate(zip(g.nodes, ws, strict=True)):
            c = f"{p}{ni}/"
            w = w * s[:, None]
            w_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127  # per output channel
            w_q = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
            const(c + "w_q", w_q)
            const(c + "w_scale", w_scale.astype(np.float32))
            # y1 = (q·Wq)·w_scale in one kernel; x·W = scale·(y1 + neg_zp·colsum)
            y = op("MatMulIntegerToFloat", [xq, c + "w_q", "lgq/one", c + "w_scale"],
                   c + "y1", domain=MS_DOMAIN)
            colsum = (w_q.astype(np.int32).sum(axis=0) * w_scale).astype(np.float32)
            const(c + "colsum", colsum)
            y = op("Add", [y, op("Mul", [neg_zp, c + "colsum"], c + "corr")], c + "y_c")
            op("Mul", [y, scale], node.output[0])
        emitted[g.nodes[0].output[0]] = nodes

    out_nodes = []
    for node in graph.node:  # keep topological order: a group's nodes where its first MatMul was
        if node.output[0] in emitted:
            out_nodes.extend(emitted[node.output[0]])
        elif node.output[0] not in replaced:
            out_nodes.append(node)
    del graph.node[:]
    graph.node.extend(out_nodes)
    kept = [i for i in graph.initializer if i.name not in dropped_weights]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model)
    return model.SerializeToString()
