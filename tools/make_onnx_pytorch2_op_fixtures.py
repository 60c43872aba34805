#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/ops/{attention-*,gather-nd-*,space-to-depth-crd,col2im-*}.onnx: one-node graphs for ops
that PyTorch 2's exporter writes and tools/make_onnx_op_fixtures.py's set lacks, each NAME.onnx with NAME.safetensors
holding its input `x` and onnxruntime's output `y` (checked against onnx's reference evaluator too).

- Attention (opset 23, which PyTorch 2's exporter writes for scaled_dot_product_attention from opset 23 on): 4-D
  self-attention; 3-D inputs with q_num_heads / kv_num_heads, grouped-query heads, a float mask, softcap and an
  explicit scale (opset 24); a boolean mask with multi-query (one K/V head) attention.
- GatherND (timm's relative-position bias tables, indexed by a 2-D index tensor): index tuples of 2 into a table
  with negative indices, and with batch_dims = 1.
- SpaceToDepth with mode CRD (opset 28).
- Col2Im (PyTorch's F.fold, in VOLO): strided and padded square blocks, dilated rectangular ones.

Needs onnx ≥ 1.18 and onnxruntime ≥ 1.22 (PyPI; Debian's PyTorch is not used):
    python3 tools/make_onnx_pytorch2_op_fixtures.py
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExONNXTests", "Fixtures", "ops")


def write(name, op, x, inputs, attributes, opset, rank):
    """One `op` node whose inputs are x (the names "x") or constants; checks onnxruntime against onnx's reference
    evaluator and writes NAME.onnx and NAME.safetensors."""
    names, inits = [], []
    for i, value in enumerate(inputs):
        if value is None:
            names.append("")
        elif isinstance(value, str):
            names.append(value)
        else:
            names.append(f"in{i}")
            inits.append(numpy_helper.from_array(value, f"in{i}"))
    node = helper.make_node(op, names, ["y"], **attributes)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    y = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    reference = ReferenceEvaluator(model).run(None, {"x": x})[0]
    assert np.abs(y - reference).max() <= 1e-5 * max(np.abs(reference).max(), 1), f"{name}: onnxruntime and reference differ"
    write_safetensors(os.path.join(OUT, name + ".safetensors"), {"x": x, "y": y})
    print(name, x.shape, "->", y.shape)


def main():
    rng = np.random.default_rng(23)
    f32 = np.float32
    # Self-attention on [N, heads, S, head size]: Q, K and V are all x.
    write("attention-4d", "Attention", rng.standard_normal((2, 3, 5, 4)).astype(f32), ["x", "x", "x"], {}, 23, 4)
    # [N, S, 4 heads · 3] queries over 6 keys of 2 heads (grouped-query), a float mask, softcap and a scale.
    write("attention-3d-grouped-mask-softcap", "Attention", rng.standard_normal((2, 5, 12)).astype(f32),
          ["x", rng.standard_normal((2, 6, 6)).astype(f32), rng.standard_normal((2, 6, 10)).astype(f32),
           rng.standard_normal((5, 6)).astype(f32)],
          dict(q_num_heads=4, kv_num_heads=2, softcap=2.5, scale=0.3), 24, 3)
    # A boolean mask (every query keeps at least one key) with one K/V head for four query heads.
    allowed = rng.random((1, 1, 5, 7)) < 0.6
    allowed[..., 0] = True
    write("attention-boolean-mask-multi-query", "Attention", rng.standard_normal((1, 4, 5, 8)).astype(f32),
          ["x", rng.standard_normal((1, 1, 7, 8)).astype(f32), rng.standard_normal((1, 1, 7, 3)).astype(f32), allowed],
          {}, 23, 4)
    # Rows and columns of a [6, 5, 3] table, negative indices included: [4, 2, 2] tuples -> [4, 2, 3].
    tuples = np.stack([rng.integers(-6, 6, (4, 2)), rng.integers(-5, 5, (4, 2))], axis=-1).astype(np.int64)
    write("gather-nd-table", "GatherND", rng.standard_normal((6, 5, 3)).astype(f32), ["x", tuples], {}, 18, 3)
    # batch_dims = 1: each of the 2 batches picks its own rows.
    rows = rng.integers(0, 4, (2, 3, 1)).astype(np.int64)
    write("gather-nd-batch-dims", "GatherND", rng.standard_normal((2, 4, 5)).astype(f32), ["x", rows],
          dict(batch_dims=1), 18, 3)
    write("space-to-depth-crd", "SpaceToDepth", rng.standard_normal((2, 3, 4, 6)).astype(f32), ["x"],
          dict(blocksize=2, mode="CRD"), 28, 4)
    # Col2Im (F.fold): VOLO's 3×3 blocks at stride 2 with padding 1, and rectangular dilated blocks at stride 1.
    write("col2im-strided-padded", "Col2Im", rng.standard_normal((2, 27, 9)).astype(f32),
          ["x", np.array([6, 6], np.int64), np.array([3, 3], np.int64)], dict(strides=[2, 2], pads=[1, 1, 1, 1]), 18, 4)
    write("col2im-dilated", "Col2Im", rng.standard_normal((1, 12, 15)).astype(f32),
          ["x", np.array([5, 7], np.int64), np.array([2, 3], np.int64)], dict(dilations=[2, 1]), 18, 4)


if __name__ == "__main__":
    main()
