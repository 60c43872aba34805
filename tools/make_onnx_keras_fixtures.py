#!/usr/bin/env python3
"""Writes Tests/FovExONNXTests/Fixtures/keras_cnn-opset13.onnx, keras_cnn-opset17.onnx and keras_cnn.safetensors:
a small Keras CNN (random weights) converted by tf2onnx, as a TensorFlow user would export a classifier. Such a
graph differs from PyTorch's exports in two ways the Swift tests check:

- its input is channels-last, [N, H, W, 3] (tf2onnx keeps TensorFlow's layout and transposes inside the graph);
- it ends in the softmax activation Keras classifiers carry, so its output is probabilities, not logits.

The network: Conv 3×3/2 (same) + BatchNorm + ReLU, MaxPool 3×3/2 (same), a residual block (two 3×3 convolutions
with batch norms, Add, ReLU), a depthwise 3×3, a 1×1 convolution + ReLU, global average pooling, Dense(10) and a
Softmax activation. Batch-norm statistics are drawn at random too.

Written: `input` [2, 3, 32, 32] (channels-first, in [0, 1]; the graph is fed its transpose), `logits` [2, 10]
(the Dense layer's output, before the softmax), `probabilities` [2, 10] (the graph's output), `classes` [2] (each
image's top class, as floats) and `input_grad` [2, 3, 32, 32] (the gradient of the top logits' sum with respect to
the channels-first input).

Run in a virtual environment with TensorFlow and tf2onnx (neither is a dependency of the project):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.17.0 onnx==1.15.0
    /tmp/tfenv/bin/python tools/make_onnx_keras_fixtures.py
"""
import os
import sys

import numpy as np
import tensorflow as tf
import tf2onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FovExONNXTests", "Fixtures")
SIZE = 32


def keras_cnn():
    layers = tf.keras.layers
    x = inputs = tf.keras.Input((SIZE, SIZE, 3), name="input")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    shortcut = x
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(layers.Add()([x, shortcut]))
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.ReLU()(layers.Conv2D(16, 1)(x))
    x = layers.GlobalAveragePooling2D()(x)
    logits = layers.Dense(10, name="logits")(x)
    probabilities = layers.Activation("softmax", name="probabilities")(logits)
    return tf.keras.Model(inputs, probabilities), tf.keras.Model(inputs, logits)


def main():
    tf.random.set_seed(7)
    rng = np.random.default_rng(7)
    model, logits_model = keras_cnn()
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
    x = rng.uniform(0, 1, (2, 3, SIZE, SIZE)).astype(np.float32)
    x_nhwc = tf.constant(x.transpose(0, 2, 3, 1))

    with tf.GradientTape() as tape:
        tape.watch(x_nhwc)
        logits = logits_model(x_nhwc, training=False)
        classes = tf.argmax(logits, axis=1)
        target = tf.reduce_sum(tf.gather(logits, classes, axis=1, batch_dims=1))
    gradient = tape.gradient(target, x_nhwc).numpy().transpose(0, 3, 1, 2)
    probabilities = model(x_nhwc, training=False).numpy()
    assert np.allclose(probabilities, tf.nn.softmax(logits).numpy(), atol=1e-6)

    for opset in (13, 17):
        path = os.path.join(OUT, f"keras_cnn-opset{opset}.onnx")
        spec = [tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="input")]
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=path)
    fixture_io.write_safetensors(os.path.join(OUT, "keras_cnn.safetensors"), {
        "input": x, "logits": logits.numpy(), "probabilities": probabilities,
        "classes": classes.numpy().astype(np.float32), "input_grad": gradient})
    print(f"classes {classes.numpy().tolist()}, top probabilities {probabilities.max(1).tolist()}")


if __name__ == "__main__":
    main()
