"""The any-to-any matrix: every source model of every importer, written to every target
and run in the target's OWN runtime (ONNX: onnxruntime; .pt2 and torch-source: torch;
.keras: Keras read back from the file; Caffe: the written prototxt + caffemodel
re-imported and run in onnxruntime, as `nnconvert convert --verify` does), compared with
the SOURCE framework's output (or Caffe's recorded blobs).

Where a target reports ops it cannot express, the report must agree with the support
table (`nnconvert ops`, generated from the registries): an op-level refusal names an op
the target's column lacks, an attribute-level one an op the column has. Ids read
`<source>-<model>-><target>`. Round trips keep source layer names: torch and caffe ones
are in test_export_torch.py / test_export_caffe.py, keras -> IR -> keras is here."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from helpers import assert_close

SHARED_CAFFE = Path(__file__).resolve().parents[1].parent / "shared" / "caffe"
TARGETS = {"onnx": "m.onnx", "torch": "m.pt2", "torch-source": "m.py", "keras": "m.keras",
           "caffe": "deploy.prototxt"}
COLUMN = {"torch-source": "torch"}  # the target's column in the support table
RTOL, ATOL = 1e-4, 1e-5  # fp32 everywhere; Caffe's recorded blobs: the reference suite's 1e-5


@dataclass(frozen=True)
class Src:
    framework: str
    name: str
    build: Callable  # () -> (graph, inputs, expected outputs by graph output name)
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.framework}-{self.name}"


# -- torch sources -------------------------------------------------------------------
def _torch_models():
    import torch

    nn = torch.nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(x + self.conv2(torch.relu(self.bn(self.conv1(x)))))

    class Concat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 2, 1), nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)

    class Rec(nn.Module):
        def __init__(self, kind, **kw):
            super().__init__()
            self.rnn = getattr(nn, kind)(5, 4, batch_first=True, **kw)

        def forward(self, x):
            return self.rnn(x)[0]

    return {  # name: (factory, input shape)
        "conv_bn_relu_pool": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                                    nn.MaxPool2d(2), nn.AvgPool2d(2)), (2, 3, 8, 8)),
        "linear": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 3),
                                         nn.Softmax(1)), (2, 3, 2, 2)),
        "resnet_block": (Residual, (2, 4, 6, 6)),
        "concat": (Concat, (2, 3, 5, 5)),
        "upsample": (lambda: nn.Sequential(nn.Conv2d(3, 2, 1), nn.Upsample(scale_factor=2)), (2, 3, 4, 4)),
        "lstm": (lambda: Rec("LSTM"), (2, 3, 5)),
        "bilstm": (lambda: Rec("LSTM", bidirectional=True), (2, 3, 5)),
        "gru": (lambda: Rec("GRU"), (2, 3, 5)),
    }


def _torch_source(name):
    def build():
        import torch

        from convert.importers.torch import from_torch

        make, shape = _torch_models()[name]
        torch.manual_seed(0)
        model = make().eval()
        for m in model.modules():  # non-trivial BatchNorm statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
        x = torch.randn(*shape)
        graph = from_torch(model, (x,))
        with torch.no_grad():
            want = model(x).numpy()
        return graph, {graph.inputs[0].name: x.numpy()}, {graph.outputs[0].name: want}
    return build


# -- keras sources -------------------------------------------------------------------
def _keras_models():
    import keras

    L = keras.layers

    def seq(shape, *layers):
        inp = keras.Input(shape)
        x = inp
        for layer in layers:
            x = layer(x)
        return keras.Model(inp, x)

    def residual():
        inp = keras.Input((6, 6, 4))
        y = L.ReLU(name="relu1")(L.BatchNormalization(name="bn")(L.Conv2D(4, 3, padding="same", name="conv1")(inp)))
        y = L.Conv2D(4, 3, padding="same", name="conv2")(y)
        return keras.Model(inp, L.ReLU(name="out")(L.Add(name="add")([inp, y])))

    def concat():
        inp = keras.Input((5, 5, 3))
        a, b = L.Conv2D(2, 1, name="a")(inp), L.Conv2D(3, 3, padding="same", name="b")(inp)
        return keras.Model(inp, L.Concatenate(name="cat")([a, b]))

    return {  # name: (factory, input shape)
        "conv_bn_relu_pool": (lambda: seq((8, 8, 3), L.Conv2D(4, 3, padding="same", name="conv"),
                                          L.BatchNormalization(name="bn"), L.ReLU(name="relu"),
                                          L.MaxPooling2D(2, name="maxpool"), L.AveragePooling2D(2, name="avgpool")),
                              (2, 8, 8, 3)),
        "dense": (lambda: seq((12,), L.Dense(6, activation="tanh", name="fc1"), L.Dense(3, activation="softmax",
                                                                                      name="fc2")), (2, 12)),
        "resnet_block": (residual, (2, 6, 6, 4)),
        "concat": (concat, (2, 5, 5, 3)),
        "upsample": (lambda: seq((4, 4, 3), L.Conv2D(2, 1, name="proj"), L.UpSampling2D(2, name="up")),
                     (2, 4, 4, 3)),
        "lstm": (lambda: seq((3, 5), L.LSTM(4, return_sequences=True, name="lstm")), (2, 3, 5)),
        "bilstm": (lambda: seq((3, 5), L.Bidirectional(L.LSTM(4, return_sequences=True), name="bilstm")),
                   (2, 3, 5)),
        "gru": (lambda: seq((3, 5), L.GRU(4, return_sequences=True, name="gru")), (2, 3, 5)),
    }


@lru_cache(maxsize=None)
def _keras_model(name):
    import keras

    make, shape = _keras_models()[name]
    keras.utils.set_random_seed(0)
    model = make()
    rng = np.random.default_rng(1)
    for layer in model.layers:  # non-trivial BatchNorm statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([g, b, rng.uniform(-0.5, 0.5, m.shape), rng.uniform(0.5, 2.0, v.shape)])
    return model, shape


def _keras_source(name):
    def build():
        from convert.importers.keras import from_keras

        model, shape = _keras_model(name)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        graph = from_keras(model)
        return graph, {graph.inputs[0].name: x}, {graph.outputs[0].name: np.asarray(model(x, training=False))}
    return build


# -- caffe sources: the shared reference nets, against Caffe's recorded blobs ---------
CAFFE_NETS = {"lenet": "nets/lenet", "tiny_resnet": "nets/tiny_resnet", "inception_block": "nets/inception_block",
              "fcn_tiny": "nets/fcn_tiny", "lstm": "lstm", "lstm_seq": "nets/lstm_seq"}
CAFFE_SLOW = {"inception_block", "lstm_seq"}


def _caffe_source(name):
    def build():
        from convert.importers.caffe import from_caffe

        d = SHARED_CAFFE / CAFFE_NETS[name]
        blobs = dict(np.load(d / "blobs.npz"))
        graph = from_caffe(str(d / "deploy.prototxt"), str(d / "weights.caffemodel"))
        return graph, {v.name: blobs[v.name] for v in graph.inputs}, {v.name: blobs[v.name] for v in graph.outputs}
    return build


def _caffe_present() -> bool:
    return (SHARED_CAFFE / "index.json").exists() and all(
        (SHARED_CAFFE / p / "blobs.npz").exists() for p in CAFFE_NETS.values())


RECURRENT_SLOW = {"bilstm", "gru"}  # the recurrent rows are the heaviest (torch.export of RNNs, Keras RNNs)


def _sources() -> list[Src]:
    """Named here, not by calling the model tables: collecting imports no framework."""
    out = [Src("torch", n, _torch_source(n), n in RECURRENT_SLOW) for n in
           ("conv_bn_relu_pool", "linear", "resnet_block", "concat", "upsample", "lstm", "bilstm", "gru")]
    out += [Src("keras", n, _keras_source(n), n in RECURRENT_SLOW) for n in
            ("conv_bn_relu_pool", "dense", "resnet_block", "concat", "upsample", "lstm", "bilstm", "gru")]
    out += [Src("caffe", n, _caffe_source(n), n in CAFFE_SLOW) for n in CAFFE_NETS]
    return out


SOURCES = _sources()


def _params():
    for src in SOURCES:
        for target in TARGETS:
            marks = [pytest.mark.slow] if src.slow else []
            if src.framework == "caffe":
                marks.append(pytest.mark.skipif(not _caffe_present(), reason="shared Caffe reference data not present"))
            yield pytest.param(src, target, id=f"{src.id}->{target}", marks=marks)


_BUILT: dict[str, tuple] = {}


def _built(src: Src):
    """Each source model is built, run and imported once per session, for all targets."""
    if src.id not in _BUILT:
        if src.framework in ("torch",):
            pytest.importorskip("torch")
        if src.framework == "keras":
            pytest.importorskip("keras")
        _BUILT[src.id] = src.build()
    return _BUILT[src.id]


def _check_refusal(graph, problems, target) -> None:
    """The refusal agrees with the support table: op-level problems name ops missing
    from the target's column, attribute-level ones ops the column has; all are in the model."""
    from convert.support import exporter_ops

    column = exporter_ops()[COLUMN.get(target, target)]
    ops = {n.op for n in graph.nodes}
    for p in problems:
        if p.layer_type in ("input", "output"):
            continue
        assert p.layer_type in ops, f"{p}: not an op of the model"
        if p.attribute is None:
            assert p.layer_type not in column, f"{p}: refused, yet the support table says {target} takes it"
        else:
            assert p.layer_type in column, f"{p}: an attribute refusal of an op the table says {target} lacks"
    missing = ops - column
    assert {p.layer_type for p in problems if p.attribute is None} == missing, \
        f"ops the {target} column lacks: {sorted(missing)}"


@pytest.mark.parametrize("src,target", list(_params()))
def test_matrix(src, target, tmp_path):
    from convert.api import _target_runner, export
    from convert.formats import FORMATS, resolve

    if target in ("torch", "torch-source"):
        pytest.importorskip("torch")
    if target == "keras":
        pytest.importorskip("keras")
    graph, inputs, want = _built(src)
    fmt = FORMATS[target]
    problems = resolve(fmt.unsupported)(graph)
    if problems:
        _check_refusal(graph, problems, target)
        return
    path = tmp_path / TARGETS[target]
    export(graph, path, target)
    run = _target_runner(fmt, path, "cpu", graph)
    got = run(dict(inputs))
    assert len(got) == len(want), (sorted(got), sorted(want))
    pairs = zip(want.values(), got.values()) if len(want) == 1 else ((want[k], got[k]) for k in want)
    for w, g in pairs:
        assert_close(g, w, RTOL, ATOL, f"{src.id}->{target}")


# -- keras -> IR -> keras keeps layer names and numbers -------------------------------
@pytest.mark.parametrize("name", ["conv_bn_relu_pool", "resnet_block", "concat", "lstm"])
def test_keras_round_trip_names(name, tmp_path):
    keras = pytest.importorskip("keras")
    from convert.exporters.keras import save
    from convert.importers.keras import from_keras

    model, shape = _keras_model(name)
    from convert.api import optimize_graph as optimize

    # Layout transposes cancelled as the CLI does; BatchNorm kept as its own layer
    # (--disable-pass fold-batchnorm), so every source layer has a layer to be named after.
    graph = optimize(from_keras(model), disable=["fold-batchnorm"])
    save(graph, tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    source_names = {layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    written = {layer.name for layer in back.layers}
    assert not source_names - written, sorted(source_names - written)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert_close(np.asarray(back(x, training=False)), np.asarray(model(x, training=False)), RTOL, ATOL, name)
