#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/ops: one-node ONNX graphs for ops that PyTorch's exports of the torchvision
fixtures never use (Resize in each mode, Tile, LeakyRelu, Sin, Cos, CumSum, ReduceL1/L2/SumSquare/Min, 1-D and
rectangular pooling, PRelu, Elu, Selu, Celu, Mish, Softplus, Softsign, Sign, Max, Min, Sum, Mean, LogSoftmax,
GlobalMaxPool, comparisons and logic under Where, 1-D Conv, InstanceNormalization, training-mode
BatchNormalization), each NAME.onnx with NAME.safetensors holding its input `x` and onnxruntime's output `y`
(training-mode BatchNormalization: the spec's formula in NumPy, since onnxruntime's inference build does not run it).

    python3 tools/make_onnx_op_fixtures.py     # PyPI onnx and onnxruntime
"""
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from fixture_io import write_safetensors  # tools/ is on sys.path when a script runs

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExONNXTests", "Fixtures", "ops")


def graph(name, op, x, inputs=(), attributes=None, outputs=1, opset=17, rank=None, check=True):
    """One `op` node reading x and the given constant inputs (an array, or None for an omitted input); the
    output `y` has `rank` axes (default: x's)."""
    inits, names = {}, ["x"]
    for i, value in enumerate(inputs):
        names.append("" if value is None else f"in{i + 1}")
        if value is not None:
            inits[f"in{i + 1}"] = value
    extra = [f"y{k}" for k in range(1, outputs)]
    node = helper.make_node(op, names, ["y"] + extra, **(attributes or {}))
    return save(name, [node], x, inits, x.ndim if rank is None else rank, extra, opset, check)


def save(name, nodes, x, constants, rank, extra_outputs=(), opset=17, check=True):
    """Checks and writes the graph of `nodes` from input `x` to output `y` (of `rank` axes) and 1-D
    `extra_outputs`, with `constants` (name → array) as initializers; returns its path."""
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)]
                          + [helper.make_tensor_value_info(e, TensorProto.FLOAT, [None]) for e in extra_outputs],
                          [numpy_helper.from_array(v, k) for k, v in constants.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    return path


def run(path, x):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(3)
    x4 = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
    f32, i64 = np.float32, np.int64
    cases = [
        ("resize-nearest-asymmetric-floor", "Resize", x4, [None, np.array([1, 1, 2, 3], f32)],
         dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
        ("resize-nearest-half-pixel-round-prefer-floor", "Resize", x4, [None, None, np.array([1, 2, 8, 4], i64)],
         dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor")),
        ("resize-nearest-align-corners-round-prefer-ceil", "Resize", x4, [None, None, np.array([1, 2, 9, 3], i64)],
         dict(mode="nearest", coordinate_transformation_mode="align_corners", nearest_mode="round_prefer_ceil")),
        ("resize-nearest-pytorch-half-pixel-ceil", "Resize", x4, [None, None, np.array([1, 2, 3, 11], i64)],
         dict(mode="nearest", coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="ceil")),
        ("resize-linear-half-pixel", "Resize", x4, [None, np.array([1, 1, 1.5, 2.5], f32)],
         dict(mode="linear", coordinate_transformation_mode="half_pixel")),
        ("resize-linear-align-corners", "Resize", x4, [None, None, np.array([1, 2, 9, 3], i64)],
         dict(mode="linear", coordinate_transformation_mode="align_corners")),
        ("resize-linear-pytorch-half-pixel", "Resize", x4, [None, None, np.array([1, 2, 1, 11], i64)],
         dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel")),
        ("resize-linear-asymmetric-downsample", "Resize", x4, [None, np.array([1, 1, 0.6, 0.5], f32)],
         dict(mode="linear", coordinate_transformation_mode="asymmetric")),
        ("resize-cubic-half-pixel", "Resize", x4, [None, None, np.array([1, 2, 9, 12], i64)],
         dict(mode="cubic", coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75)),
        ("resize-cubic-asymmetric-exclude-outside", "Resize", x4, [None, np.array([1, 1, 1.8, 0.75], f32)],
         dict(mode="cubic", coordinate_transformation_mode="asymmetric", cubic_coeff_a=-0.5, exclude_outside=1)),
        ("tile", "Tile", rng.standard_normal((1, 2, 3, 4)).astype(f32), [np.array([2, 1, 3, 2], i64)], {}),
        ("leaky-relu", "LeakyRelu", rng.standard_normal((2, 3, 4)).astype(f32), [], dict(alpha=0.2)),
        ("conv1d-grouped-strided-dilated", "Conv", rng.standard_normal((2, 4, 11)).astype(f32),
         [rng.standard_normal((6, 2, 3)).astype(f32), rng.standard_normal(6).astype(f32)],
         dict(group=2, pads=[1, 2], strides=[2], dilations=[2])),
        ("conv1d-eca", "Conv", rng.standard_normal((2, 1, 16)).astype(f32),
         [rng.standard_normal((1, 1, 5)).astype(f32)], dict(pads=[2, 2])),
        ("sin", "Sin", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], {}),
        ("cos", "Cos", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], {}),
        ("cumsum", "CumSum", rng.standard_normal((2, 3, 4)).astype(f32), [np.array(1, i64)], {}),
        ("cumsum-exclusive-reverse", "CumSum", rng.standard_normal((2, 3, 4)).astype(f32), [np.array(-1, i64)],
         dict(exclusive=1, reverse=1)),
        ("reduce-l2", "ReduceL2", rng.standard_normal((2, 3, 4)).astype(f32), [], dict(axes=[-1], keepdims=1)),
        ("reduce-l1", "ReduceL1", rng.standard_normal((2, 3, 4)).astype(f32), [], dict(axes=[0, 2], keepdims=0)),
        ("reduce-sum-square", "ReduceSumSquare", rng.standard_normal((2, 3, 4)).astype(f32), [], dict(axes=[1])),
        ("reduce-min", "ReduceMin", rng.standard_normal((2, 3, 4)).astype(f32), [], dict(axes=[2], keepdims=0)),
        ("max-pool-rectangular-asymmetric-ceil", "MaxPool", rng.standard_normal((1, 3, 7, 9)).astype(f32), [],
         dict(kernel_shape=[2, 3], strides=[1, 2], pads=[1, 0, 0, 1], ceil_mode=1)),
        ("average-pool-rectangular", "AveragePool", rng.standard_normal((1, 3, 7, 9)).astype(f32), [],
         dict(kernel_shape=[3, 1], strides=[2, 1], pads=[1, 0, 1, 0], count_include_pad=1)),
        ("average-pool-1d", "AveragePool", rng.standard_normal((2, 3, 17)).astype(f32), [],
         dict(kernel_shape=[4], strides=[2], pads=[1, 1])),
        ("max-pool-1d-ceil", "MaxPool", rng.standard_normal((2, 3, 16)).astype(f32), [],
         dict(kernel_shape=[3], strides=[2], ceil_mode=1)),
        ("prelu", "PRelu", rng.standard_normal((2, 3, 4, 5)).astype(f32), [rng.standard_normal((3, 1, 1)).astype(f32)], {}),
        ("elu", "Elu", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], dict(alpha=0.7)),
        ("selu", "Selu", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], {}),
        ("celu", "Celu", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], dict(alpha=1.5)),
        ("softplus", "Softplus", rng.standard_normal((2, 3, 4)).astype(f32) * 40, [], {}),
        ("softsign", "Softsign", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], {}),
        ("sign", "Sign", np.array([[-2, -0.0, 0, 3.5]], f32), [], {}),
        ("max-broadcast", "Max", rng.standard_normal((2, 3, 4, 5)).astype(f32),
         [rng.standard_normal((3, 1, 1)).astype(f32), np.array(0.25, f32)], {}),
        ("min-broadcast", "Min", rng.standard_normal((2, 3, 4, 5)).astype(f32),
         [rng.standard_normal((1, 1, 5)).astype(f32)], {}),
        ("sum-three", "Sum", rng.standard_normal((2, 3, 4)).astype(f32),
         [rng.standard_normal((3, 4)).astype(f32), rng.standard_normal(4).astype(f32)], {}),
        ("mean-two", "Mean", rng.standard_normal((2, 3, 4)).astype(f32), [rng.standard_normal((1, 4)).astype(f32)], {}),
        ("log-softmax-axis-1", "LogSoftmax", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [], dict(axis=1)),
        ("global-max-pool", "GlobalMaxPool", rng.standard_normal((2, 3, 4, 5)).astype(f32), [], {}),
        ("instance-normalization", "InstanceNormalization", rng.standard_normal((2, 3, 4, 5)).astype(f32),
         [rng.standard_normal(3).astype(f32), rng.standard_normal(3).astype(f32)], dict(epsilon=1e-3)),
    ]
    # Opset 18 added Mish; before 13, LogSoftmax flattens the axes from `axis` on.
    cases_at = [("mish", "Mish", rng.standard_normal((2, 3, 4)).astype(f32) * 4, [], {}, 18),
                ("log-softmax-legacy-axis-1", "LogSoftmax", rng.standard_normal((2, 3, 4)).astype(f32) * 3, [],
                 dict(axis=1), 11)]
    # Added later, from a generator of their own so that the fixtures above stay as they were: DepthToSpace in both
    # orders, SpaceToDepth, and GroupNormalization (opset 18: scale and bias per group, a version onnx's checker
    # reports as deprecated; opset 21: per channel, as PyTorch's GroupNorm).
    later = np.random.default_rng(4)
    cases += [
        ("depth-to-space-dcr", "DepthToSpace", later.standard_normal((2, 8, 3, 2)).astype(f32), [], dict(blocksize=2)),
        ("depth-to-space-crd", "DepthToSpace", later.standard_normal((2, 8, 3, 2)).astype(f32), [],
         dict(blocksize=2, mode="CRD")),
        ("space-to-depth", "SpaceToDepth", later.standard_normal((2, 3, 4, 6)).astype(f32), [], dict(blocksize=2)),
    ]
    cases_at += [
        ("group-normalization-18", "GroupNormalization", later.standard_normal((2, 6, 3, 4)).astype(f32),
         [later.standard_normal(3).astype(f32), later.standard_normal(3).astype(f32)], dict(num_groups=3, epsilon=1e-3), 18),
        ("group-normalization-21", "GroupNormalization", later.standard_normal((2, 6, 3, 4)).astype(f32),
         [later.standard_normal(6).astype(f32), later.standard_normal(6).astype(f32)], dict(num_groups=2, epsilon=1e-3), 21),
    ]
    for name, op, x, inputs, attributes, opset in cases_at:
        path = graph(name, op, x, inputs, attributes, opset=opset, check=name != "group-normalization-18")
        write_safetensors(os.path.join(OUT, name + ".safetensors"), {"x": x, "y": run(path, x)})
        print(name, x.shape)

    # Comparisons and logic feed Where, whose unpicked branch is −∞: a select that blends would give NaN.
    x = rng.standard_normal((2, 3, 4)).astype(f32)
    consts = {"zero": np.array(0, f32), "half": np.array(0.5, f32), "minus-inf": np.array(-np.inf, f32),
              "row": rng.standard_normal(4).astype(f32)}
    nodes = [helper.make_node("Greater", ["x", "zero"], ["positive"]),
             helper.make_node("LessOrEqual", ["x", "half"], ["small"]),
             helper.make_node("And", ["positive", "small"], ["between"]),
             helper.make_node("Equal", ["x", "row"], ["same"]),
             helper.make_node("Or", ["between", "same"], ["kept"]),
             helper.make_node("Less", ["x", "row"], ["below"]),
             helper.make_node("GreaterOrEqual", ["x", "row"], ["above"]),
             helper.make_node("Xor", ["below", "above"], ["always"]),
             helper.make_node("And", ["kept", "always"], ["mask"]),
             helper.make_node("Where", ["mask", "x", "minus-inf"], ["y"])]
    y = run(save("where-comparisons", nodes, x, consts, x.ndim), x)
    infinite = np.isinf(y)
    assert infinite.any() and not infinite.all() and (y[infinite] < 0).all()
    # Checkpoints hold finite numbers only: the −∞ positions go in a mask of their own.
    write_safetensors(os.path.join(OUT, "where-comparisons.safetensors"),
                      {"x": x, "y": np.where(infinite, 0, y), "y_minus_infinity": infinite.astype(f32)})
    print("where-comparisons", x.shape)

    for name, op, x, inputs, attributes in cases:
        if op in ("Max", "Min"):
            # Keep x 0.1 away from the other inputs, so that a finite difference never crosses a kink.
            others = np.broadcast_to(inputs[0], x.shape)
            for extra in inputs[1:]:
                others = (np.maximum if op == "Max" else np.minimum)(others, extra)
            x = (x + np.where(x >= others, 0.1, -0.1)).astype(f32)
        keep = attributes.get("keepdims", 1) if op.startswith("Reduce") else 1
        path = graph(name, op, x, inputs, attributes, rank=x.ndim - (0 if keep else len(attributes["axes"])))
        y = run(path, x)
        write_safetensors(os.path.join(OUT, name + ".safetensors"), {"x": x, "y": y})
        print(name, x.shape, "->", y.shape)

    # Training-mode BatchNormalization (weight standardisation in timm's NFNets): the spec's definition.
    x = rng.standard_normal((2, 3, 4, 5)).astype(f32)
    scale, bias = rng.standard_normal(3).astype(f32), rng.standard_normal(3).astype(f32)
    mean, var = rng.standard_normal(3).astype(f32), rng.random(3).astype(f32) + 0.5
    momentum, eps = 0.8, 1e-4
    graph("batch-normalization-training", "BatchNormalization", x, [scale, bias, mean, var],
          dict(epsilon=eps, momentum=momentum, training_mode=1), outputs=3)
    axes = (0, 2, 3)
    m, v = x.mean(axis=axes, dtype=np.float64), x.var(axis=axes, dtype=np.float64)
    shape = (1, 3, 1, 1)
    y = (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)
    write_safetensors(os.path.join(OUT, "batch-normalization-training.safetensors"), {
        "x": x, "y": y.astype(f32), "y1": (mean * momentum + m * (1 - momentum)).astype(f32),
        "y2": (var * momentum + v * (1 - momentum)).astype(f32)})
    print("batch-normalization-training", x.shape)


if __name__ == "__main__":
    main()
