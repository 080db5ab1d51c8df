"""The support matrix checked by running: probes convert, and what each importer handler
emitted and each exporter handler accepted must match the registries' declarations.

Importer probes: the torch layer table (torch.fx; torch.export on its per-family subset),
every Keras activation in one model, one Caffe net per layer type, one ONNX graph of
a node per op that the op table alone defines, the MXNet operator files and Chainer nets
(in their own environments, when set up), and .tflite files written by nnconvert's LiteRT
writer and by TensorFlow's TFLiteConverter. Exporter probes: that one-node-per-op IR graph and the torch probes'
IR graphs, written by every exporter (handlers only, no framework run)."""
from __future__ import annotations

import numpy as np
import pytest

from convert.errors import UnsupportedError
from convert.ir.optable import OPS
from convert.support import exporter_ops, importer_ops
from support_probes import (importer_problems, reached, record_from_sources, recording, table_probes,
                            unprobed_claims)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow

import torch_cases  # noqa: E402
import torch_layer_table as torch_table  # noqa: E402  (the per-layer table, reused as probes)

Case, Fn, nn = torch_table.Case, torch_table.Fn, torch.nn
# What the layer table does not reach: the remaining unary ops, and the forms that targets
# with partial support accept (trailing-axes mean, an LSTM whose cell state is unused).
EXTRA = [
    Case("unary_rest", lambda: Fn(lambda m, x: (torch.ceil(x), torch.cos(x), torch.erf(x), torch.exp(x),
                                                torch.log(x.abs() + 1), -x, torch.reciprocal(x + 3), torch.sin(x),
                                                torch.sqrt(x.abs()), torch.minimum(x, x * 2),
                                                x.amin(-1), x.to(torch.float64), torch.floor(x))), ((2, 3, 5),)),
    Case("trailing_mean", lambda: Fn(lambda m, x: x.mean((2, 3))), ((2, 3, 4, 4),)),
    Case("lstm_output_only", lambda: Fn(lambda m, x: m.lstm(x)[0], lstm=nn.LSTM(4, 5, batch_first=True)), ((2, 6, 4),)),
    Case("compare_logic", lambda: Fn(lambda m, x: (torch.where((x > 0) & ~(x < -1) | (x >= 2) & (x != 1) & (x <= 3), x, -x),
                                                   x.masked_fill(x == 0.5, 0.0))), ((2, 3, 5),), fx=False),
    Case("transformer_ops", lambda: Fn(lambda m, x: (torch.cumsum(x, 1), torch.triu(x), torch.roll(x, 1, 2),
                                                     torch.einsum("bij,bkj->bik", x, x))), ((2, 3, 5),), fx=False),
    Case("sdpa", lambda: Fn(lambda m, q: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)),
         ((2, 2, 4, 8),), fx=False),
    Case("dynamic_length", lambda: Fn(lambda m, x: x.reshape(-1, 6).view(x.size(0), x.size(1), 6)
                                      + torch.arange(x.size(1)).float().view(1, -1, 1)), ((2, 5, 6),),
         dynamic=[{0, 1}], fx=False),  # sizes read at run time: Reshape's like input, SizeRange
    Case("group_rms_norm", lambda: Fn(lambda m, x: m.rms(m.gn(x)), gn=nn.GroupNorm(2, 4), rms=nn.RMSNorm([5])),
         ((2, 4, 5),)),
    Case("instance_norm_inf_repeat", lambda: Fn(lambda m, x: (m.inorm(x), torch.isneginf(x), torch.isposinf(x),
                                                              torch.repeat_interleave(x, 2, dim=1), x.clone().gt_(0)),
                                                inorm=nn.InstanceNorm1d(3, affine=True)), ((2, 3, 5),), fx=False),
    Case("one_hot", lambda: Fn(lambda m, x: torch.nn.functional.one_hot((x > 0).long() + (x > 1).long(), 4).float()),
         ((2, 3, 5),)),
]


def _merged(graphs) -> object:
    """The table's one-node graphs side by side in one graph (one exporter run covers them)."""
    from convert.ir.graph import Graph

    out = Graph(name="probes")
    for op, g in graphs.items():
        rename = {v.name: f"{op}_{v.name}" for v in g.inputs + g.outputs}
        rename.update({o: f"{op}_{o}" for n in g.nodes for o in n.outputs})
        out.inputs += [type(v)(rename[v.name], v.dtype, v.shape) for v in g.inputs]
        out.outputs += [type(v)(rename[v.name], v.dtype, v.shape) for v in g.outputs]
        for n in g.nodes:
            out.nodes.append(type(n)(n.op, f"{op}_{n.name}", [rename[i] for i in n.inputs],
                                     [rename[o] for o in n.outputs], dict(n.attrs), n.source))
    return out


@pytest.fixture(scope="module")
def torch_run():
    from convert.importers.torch import from_torch

    graphs = []
    cases = [(c, "fx" if c.fx else "auto") for c in torch_table.ALL + EXTRA]
    cases += [(c, "export") for c in torch_table.EXPORT]
    with recording() as rec:
        for case, tracer in cases:
            torch.manual_seed(0)
            model = case.build().eval()
            xs = tuple(torch_cases.make_inputs(case, case.batches[0], seed=100))
            graphs.append(from_torch(model, xs, dynamic_batch=case.dynamic, tracer=tracer))
    return rec, graphs


def _onnx_probe_model():
    """One ONNX graph: a node per IR op that ONNX spells the same and the table alone defines."""
    from onnx import TensorProto, helper

    from convert.importers.onnx import ops  # noqa: F401  (registers the handlers)
    from convert.importers.onnx.registry import ONNX_OPS

    types = {"float32": TensorProto.FLOAT, "bool": TensorProto.BOOL, "int64": TensorProto.INT64}
    inputs, outputs, nodes = [], [], []
    for op, g in table_probes().items():
        if op not in ONNX_OPS or not OPS[op].onnx:
            continue
        names = [f"{op}_{v.name}" for v in g.inputs]
        inputs += [helper.make_tensor_value_info(n, types[v.dtype], list(v.shape)) for n, v in zip(names, g.inputs)]
        out = g.outputs[0]
        outputs.append(helper.make_tensor_value_info(f"{op}_y", types[out.dtype], list(out.shape)))
        nodes.append(helper.make_node(op, names, [f"{op}_y"], name=op))
    # ops whose inputs the table does not give: GatherND reads (2, 3, 4) at two (row, column) pairs
    inputs.append(helper.make_tensor_value_info("GatherND_data", TensorProto.FLOAT, [2, 3, 4]))
    outputs.append(helper.make_tensor_value_info("GatherND_y", TensorProto.FLOAT, [2, 4]))
    index = helper.make_tensor("GatherND_indices", TensorProto.INT64, [2, 2], [0, 1, 1, 2])
    nodes.append(helper.make_node("GatherND", ["GatherND_data", "GatherND_indices"], ["GatherND_y"], name="GatherND"))
    graph = helper.make_graph(nodes, "probes", inputs, outputs, initializer=[index])
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", 17)])


@pytest.fixture(scope="module")
def onnx_run():
    pytest.importorskip("onnx")
    from convert.importers.onnx import from_onnx

    with recording() as rec:
        graph = from_onnx(_onnx_probe_model())
    return rec, graph


@pytest.fixture(scope="module")
def keras_run():
    pytest.importorskip("keras")
    import keras

    from convert.importers.keras import from_keras
    from convert.importers.keras.layers.activations import ACTIVATIONS

    x = keras.Input((4, 5))
    outs = [keras.layers.Activation(name, name=f"act_{name}")(x) for name in ACTIVATIONS]
    outs.append(keras.layers.Dense(3, activation="relu6", name="dense_relu6")(x))
    model = keras.Model(x, outs)
    with recording() as rec:
        graph = from_keras(model)
    return rec, graph


# Caffe layer type -> its parameter text; each probe is one layer on a (2, 3, 4, 4) input,
# converted with zero-filled weights (only the emitted ops matter here).
CAFFE_PROBES = {
    "ReLU": "relu_param { negative_slope: 0.1 }", "PReLU": "", "ELU": "", "Sigmoid": "", "TanH": "", "AbsVal": "",
    "BNLL": "", "Power": "power_param { power: 2 scale: 0.5 shift: 1 }", "Exp": "", "Log": "", "Threshold": "",
    "Clip": "clip_param { min: -1 max: 1 }", "Swish": "", "ReLU6": "", "HardSwish": "", "HardSigmoid": "",
    "Softmax": "", "BatchNorm": "", "Scale": "scale_param { bias_term: true }", "Bias": "", "LRN": "", "MVN": "",
    "Normalize": "", "Flatten": "", "Reshape": "reshape_param { shape { dim: 0 dim: -1 } }", "Reduction": "",
    "ArgMax": "", "Tile": "tile_param { axis: 1 tiles: 2 }",
    "Permute": "permute_param { order: 0 order: 2 order: 3 order: 1 }", "Dropout": "",
    "Convolution": "convolution_param { num_output: 2 kernel_size: 3 }",
    "Deconvolution": "convolution_param { num_output: 2 kernel_size: 2 stride: 2 }",
    "Pooling": "pooling_param { pool: MAX kernel_size: 2 stride: 2 }",
    "InnerProduct": "inner_product_param { num_output: 2 }",
}


@pytest.fixture(scope="module")
def caffe_run(tmp_path_factory):
    from convert.importers.caffe import from_caffe

    where = tmp_path_factory.mktemp("caffe")
    failed = {}
    with recording() as rec:
        for kind, param in CAFFE_PROBES.items():
            path = where / f"{kind}.prototxt"
            path.write_text('input: "data"\ninput_shape { dim: 2 dim: 3 dim: 4 dim: 4 }\n'
                            f'layer {{ name: "probe" type: "{kind}" bottom: "data" top: "y" {param} }}\n')
            try:
                from_caffe(str(path), allow_missing_weights=True)
            except Exception as e:  # noqa: BLE001  (asserted on below)
                failed[kind] = f"{type(e).__name__}: {str(e)[:200]}"
    return rec, failed


def _check_importer(reg, rec, expected_keys):
    problems = importer_problems(reg, rec)
    assert not problems, "\n".join(problems)
    missed = set(expected_keys) - reached(reg, rec)
    assert not missed, f"probes never reached these handlers: {sorted(missed)}"


def test_torch_claims_hold(torch_run):
    from convert.importers.torch.registry import REG
    from convert.importers.torch.layers.activation import _SIMPLE

    rec, _ = torch_run
    # the table-driven unary handler, which the matrix once missed, is reached for the ops the table covers
    _check_importer(REG, rec, [k for k in _SIMPLE if k.split(".")[1] in
                               {"relu", "sigmoid", "tanh", "hardswish", "mish", "silu", "selu", "abs"}])
    # every op in the torch column is produced by some probe
    assert not unprobed_claims(importer_ops()["torch"], rec, {REG.kind})


def test_keras_claims_hold(keras_run):
    from convert.importers.keras.registry import KERAS_LAYERS

    rec, _ = keras_run
    _check_importer(KERAS_LAYERS, rec, ["Activation", "Dense"])
    from convert.importers.keras.layers.activations import ACTIVATION_OPS

    # every activation op the Activation layer claims is produced by one of the probes
    assert set(ACTIVATION_OPS) <= rec.emitted[(KERAS_LAYERS.kind, "Activation")]


def test_caffe_claims_hold(caffe_run):
    from convert.importers.caffe.registry import CAFFE_LAYERS

    rec, failed = caffe_run
    assert not failed
    _check_importer(CAFFE_LAYERS, rec, CAFFE_PROBES)


def test_onnx_import_claims_hold(onnx_run):
    from convert.importers.onnx.registry import ONNX_OPS

    rec, graph = onnx_run
    _check_importer(ONNX_OPS, rec, {n.name for n in _onnx_probe_model().graph.node})


@pytest.fixture(scope="module")
def mxnet_run(tmp_path_factory):
    from own_env import OPS_CASES, build  # skips without MXNet's environment

    from convert.importers.mxnet import from_mxnet

    where = build(tmp_path_factory.mktemp("mxprobe"), "ops")
    with recording() as rec:
        for case in OPS_CASES:
            shape = np.load(where / f"{case}.npz")["x"].shape
            from_mxnet(str(where / f"{case}-symbol.json"), str(where / f"{case}-0000.params"), {"data": shape})
    return rec


def test_mxnet_claims_hold(mxnet_run):
    from convert.importers.mxnet.registry import MXNET_OPS

    _check_importer(MXNET_OPS, mxnet_run, ["Convolution", "FullyConnected", "Pooling", "BatchNorm", "RNN"])
    print("mxnet: claimed but not produced by a probe:",
          sorted(unprobed_claims(importer_ops()["mxnet"], mxnet_run, {MXNET_OPS.kind})))


# Chainer nets of tests/chainer_nets.py with the input shapes they are walked at
CHAINER_PROBES = {"lstm": (2, 3, 5), "nstep_lstm": (2, 3, 5), "resnet50": (1, 3, 32, 32)}


@pytest.fixture(scope="module")
def chainer_run():
    import os
    from pathlib import Path

    from convert.importers.chainer import load
    from convert.importers.chainer.registry import CHAINER_FUNCTIONS

    exe = os.environ.get("NNCONVERT_CHAINER_PYTHON")
    if not exe or not Path(exe).exists():
        pytest.skip("Chainer environment absent: set NNCONVERT_CHAINER_PYTHON (.ci/run creates one)")
    nets = Path(__file__).with_name("chainer_nets.py")
    rec = None
    for name, shape in CHAINER_PROBES.items():  # the walk runs in Chainer's python: read the keys off the sources
        rec = record_from_sources(load(f"{nets}:{name}", input_shapes={"x": shape}).graph,
                                  CHAINER_FUNCTIONS.kind, rec)
    return rec


def test_chainer_claims_hold(chainer_run):
    from convert.importers.chainer.registry import CHAINER_FUNCTIONS

    _check_importer(CHAINER_FUNCTIONS, chainer_run, ["Convolution2DFunction", "LinearFunction"])
    print("chainer: claimed but not produced by a probe:",
          sorted(unprobed_claims(importer_ops()["chainer"], chainer_run, {CHAINER_FUNCTIONS.kind})))


def _reduce_min():
    from convert.ir.builder import GraphBuilder

    b = GraphBuilder("reduce_min")
    b.output(b.op("ReduceMin", b.input("x", "float32", (2, 3, 4)), axes=[-1], keepdims=0), "float32", (2, 3))
    return b.finish()


# tflite claims no probe file reaches, and why (a new one fails the test)
TFLITE_UNPROBED = {"Identity": "a STRIDED_SLICE that keeps the whole tensor: neither writer emits one",
                   "LSTM": "no probe file holding UNIDIRECTIONAL_SEQUENCE_LSTM is read back whole"}


def _tf_converter_file(path):
    """A Keras model written by TensorFlow's own TFLiteConverter (the operators it chooses)."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(4, 3, padding="same")(inp)))
    y = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(y)
    y = L.Concatenate()([L.MaxPooling2D(2)(y), L.AveragePooling2D(2)(y)])
    y = L.Conv2DTranspose(3, 2, strides=2, activation="sigmoid")(y)
    y = L.Dense(5, activation="softmax")(L.GlobalAveragePooling2D()(L.Activation("tanh")(y)))
    model = keras.Model(inp, y)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@pytest.fixture(scope="module")
def tflite_run(tmp_path_factory, torch_run):
    """.tflite files: the torch probes' IR and the op-table probes written by nnconvert's
    LiteRT writer (each graph it writes whole), and one file from TensorFlow's converter."""
    from convert.api import prepare
    from convert.exporters.tflite import to_tflite, unsupported
    from convert.importers.tflite import from_tflite

    where = tmp_path_factory.mktemp("tflite")
    writable = [g for op, g in table_probes().items() if op in exporter_ops()["tflite"]]
    graphs = [prepare(g)[0] for g in writable + torch_run[1]] + [_reduce_min()]
    files = []
    for k, g in enumerate(graphs):
        if not unsupported(g):
            try:
                data, _ = to_tflite(g)
            except Exception:  # noqa: BLE001  (a graph the writer refuses late is simply not a probe)
                continue
            files.append(where / f"probe{k}.tflite")
            files[-1].write_bytes(data)
    try:
        files.append(_tf_converter_file(where / "tf_converter.tflite"))
    except pytest.skip.Exception:
        pass
    unread = {}  # a file holding an operator the reader lacks (RSQRT, ...) is no claim; listed only
    with recording() as rec:
        for f in files:
            try:
                from_tflite(str(f))
            except UnsupportedError as e:
                unread[f.name] = str(e)[:200]
    print("\n".join(f"not read back: {k}: {v}" for k, v in unread.items()))
    return rec, [f for f in files if f.name not in unread]


def test_tflite_claims_hold(tflite_run):
    from convert.importers.tflite.registry import TFLITE_OPS

    rec, files = tflite_run
    assert len(files) > 10
    _check_importer(TFLITE_OPS, rec, ["CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "LOGISTIC", "TANH", "ADD"])
    unprobed = unprobed_claims(importer_ops()["tflite"], rec, {TFLITE_OPS.kind})
    assert unprobed <= set(TFLITE_UNPROBED), f"tflite claims no probe produced: {sorted(unprobed)}"


TARGETS = ["onnx", "torch", "keras", "caffe", "tflite"]


def _ir_probes() -> list:
    """Forms that only some targets accept, written as IR (the passes would rewrite them), and
    ops no importer probe emits (GatherND with constant indices, TopK of the smallest),
    x > constant cast to float (Caffe's Threshold), a float-to-float Cast (a Caffe copy),
    zero padding of the spatial axes (Keras), and that padding before a Conv (Caffe folds it)."""
    from convert.ir.builder import GraphBuilder

    def graph(name, build):
        b = GraphBuilder(name)
        x = b.input("x", "float32", (2, 3, 4, 4))
        b.output(build(b, x), "float32", None)
        return b.finish()

    rng = np.random.default_rng(0)
    pads = [0, 0, 1, 1, 0, 0, 1, 1]
    pairs = np.array([[0, 1], [1, 2], [1, 0]], np.int64)  # (batch, channel) pairs: a (3, 4, 4) output
    return [
        graph("gather_nd", lambda b, x: b.op("GatherND", x, b.weight("pairs", pairs))),
        graph("topk", lambda b, x: b.node("TopK", [x], {"k": 2, "axis": 1, "largest": 0}, outputs=2)[0]),
        graph("threshold", lambda b, x: b.op("Cast", b.op("Greater", x, b.weight("t", np.float32(0.5))), to="float32")),
        graph("cast", lambda b, x: b.op("Cast", x, to="float32")),
        graph("zero_pad", lambda b, x: b.op("Pad", x, pads=pads)),
        graph("pad_conv", lambda b, x: b.op("Conv", b.op("Pad", x, pads=pads),
                                            b.weight("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                                            kernel_shape=[3, 3])),
    ]


@pytest.fixture(scope="module")
def export_run(torch_run):
    import importlib

    from convert.api import prepare

    # what a writer is given: the optimised graph
    graphs = [prepare(g)[0] for g in [_merged(table_probes())] + torch_run[1]] + _ir_probes()
    crashed = []
    with recording() as rec:
        for target in TARGETS:
            try:
                mod = importlib.import_module(f"convert.exporters.{target}")
            except ImportError:
                continue
            for g in graphs:
                try:
                    mod.to_onnx(g) if target == "onnx" else mod.unsupported(g)
                except Exception as e:  # noqa: BLE001  (listed, then asserted on)
                    crashed.append(f"{target} on {g.name}: {type(e).__name__}: {str(e)[:200]}")
    return rec, crashed


@pytest.mark.parametrize("target", TARGETS[1:])
def test_exporter_claims_hold(export_run, target):
    """A handler the matrix shows must accept at least one probe node of its op when it
    is given any; handlers are what the matrix is built from, so no working path is unclaimed."""
    export_run, crashed = export_run
    kind = f"{target} exporter"
    print("\n".join(crashed))
    refused_only = {op: why for op, why in export_run.refused[kind].items() if op not in export_run.accepted[kind]}
    assert not refused_only, f"{target}: handlers refused every probe of {refused_only}"
    assert export_run.accepted[kind] <= exporter_ops()[target]
    print(f"{target}: claimed but not reached by a probe:",
          sorted(exporter_ops()[target] - export_run.accepted[kind] - set(export_run.refused[kind])))


@pytest.mark.parametrize("op", ["GatherND", "TopK"])
def test_ir_probe_reaches_every_exporter_claim(export_run, op):
    """Ops only the ONNX importer emits: every exporter that claims one accepts its probe."""
    rec, _ = export_run
    claimed = [t for t in TARGETS[1:] if op in exporter_ops()[t]]
    assert claimed and all(op in rec.accepted[f"{t} exporter"] for t in claimed), claimed


def test_gather_nd_import_claim_is_probed(onnx_run):
    """GatherND's ONNX importer claim is reached by a probe node, not merely declared."""
    from convert.importers.onnx.registry import ONNX_OPS

    assert "GatherND" in importer_ops()["onnx"]
    assert "GatherND" in onnx_run[0].emitted[(ONNX_OPS.kind, "GatherND")]
    assert not unprobed_claims({"GatherND"}, onnx_run[0], {ONNX_OPS.kind})


def test_onnx_export_of_every_table_probe_is_valid_onnx():
    """ONNX claims every op: the one-node graphs export to a model onnxruntime loads and runs."""
    ort = pytest.importorskip("onnxruntime")
    from convert.exporters.onnx import to_onnx

    graph = _merged(table_probes())
    model = to_onnx(graph, opset=18)  # the bitwise ops' first opset
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {v.name: (rng.standard_normal(v.shape).astype(v.dtype) if v.dtype == "float32"
                      else rng.integers(1, 5, v.shape).astype(v.dtype)) for v in graph.inputs}
    outs = sess.run(None, feeds)
    assert len(outs) == len(graph.outputs) == len(graph.nodes)
