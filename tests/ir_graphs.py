"""Small IR graphs with signal-carrying weights, built in code, shared by the IR, export,
verification and CLI tests."""
from __future__ import annotations

import numpy as np

from convert.ir import GraphBuilder, Source
from convert.ir.graph import Graph


def small_graph() -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder("small", "test")
    b.source = Source("test", "Conv2d", "features.0")
    x = b.input("x", shape=("batch", 3, 8, 8))
    y = b.op("Conv", x, b.weight("w", rng.standard_normal((4, 3, 3, 3))), b.weight("b", rng.standard_normal(4)),
             kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.source = Source("test", "ReLU", "features.1")
    y = b.op("Relu", y)
    b.source = Source("test", "Embedding", "emb")
    ids = b.input("ids", "int64", ("batch", 5))
    e = b.op("Gather", b.weight("table", rng.standard_normal((7, 2)).astype(np.float16)), ids)
    b.output(y)
    b.output(e, "float16")
    g = b.finish()
    g.metadata["producer"] = "test"
    return g


def conv_bn_graph():
    rng = np.random.default_rng(1)
    b = GraphBuilder("convbn", "test")
    b.source = Source("test", "Conv2d", "conv")
    x = b.input("x", shape=("batch", 3, 6, 6))
    y = b.op("Conv", x, b.weight("w", rng.standard_normal((4, 3, 3, 3))), kernel_shape=[3, 3], pads=[1, 0, 1, 0])
    b.source = Source("test", "BatchNorm2d", "bn")
    y = b.op("BatchNormalization", y, b.weight("g", rng.uniform(0.5, 1.5, 4)), b.weight("be", rng.standard_normal(4)),
             b.weight("m", rng.standard_normal(4)), b.weight("v", rng.uniform(0.5, 1.5, 4)), epsilon=1e-3)
    b.source = Source("test", "Dropout", "drop")
    y = b.op("Dropout", y, ratio=0.3)
    b.source = Source("test", "ReLU", "relu")
    b.output(b.op("Relu", y))
    return b.finish()


def cnn_graph():
    """conv0 -> relu0 -> conv1 + bn1 (folded on export) -> relu1 -> flatten -> fc."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("cnn", "test")
    x = b.input("x", shape=("batch", 3, 6, 6))
    b.source = Source("test", "Conv2d", "conv0")
    y = b.op("Conv", x, b.weight("w0", rng.standard_normal((4, 3, 3, 3)) * 0.4), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.source = Source("test", "ReLU", "relu0")
    y = b.op("Relu", y)
    b.source = Source("test", "Conv2d", "conv1")
    y = b.op("Conv", y, b.weight("w1", rng.standard_normal((4, 4, 3, 3)) * 0.3), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.source = Source("test", "BatchNorm2d", "bn1")
    y = b.op("BatchNormalization", y, b.weight("g", rng.uniform(0.5, 1.5, 4)), b.weight("be", rng.standard_normal(4)),
             b.weight("m", rng.standard_normal(4)), b.weight("v", rng.uniform(0.5, 1.5, 4)))
    b.source = Source("test", "ReLU", "relu1")
    y = b.op("Relu", y)
    b.source = Source("test", "Flatten", "flatten")
    y = b.op("Flatten", y, axis=1)
    b.source = Source("test", "Linear", "fc")
    b.output(b.op("Gemm", y, b.weight("fcw", rng.standard_normal((5, 144)) * 0.1), b.weight("fcb", np.zeros(5)),
                  transB=1))
    return b.finish()
