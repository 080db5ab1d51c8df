"""GroupNormalization, RMSNormalization and Attention to LiteRT (.tflite): torch models
(F.scaled_dot_product_attention with causal and grouped heads, nn.MultiheadAttention,
nn.TransformerEncoderLayer/DecoderLayer) and a Keras encoder block (MultiHeadAttention +
LayerNormalization) written as builtins and run in LiteRT's interpreter against the source
framework at two batch sizes, in fp32, fp16 and dynamic-int8."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn

from torch_attention_cases import CASES as ATTENTION, convert_case as _convert, give_signal as _give_signal  # noqa: E402

# masks built inside from ids and ranges too (comparisons, Cast, SELECT_V2); a sequence
# length kept dynamic through nn.MultiheadAttention reshapes by sizes read at run time, which
# the LiteRT writer refuses by node (export such a model at a fixed length for LiteRT)
WRITTEN = [c for c in ATTENTION if not (c.seq_axes and not c.fx)]
RUNTIME_SIZES = [c for c in ATTENTION if c not in WRITTEN]
# (rtol, atol) per weight mode: fp32 at float rounding; the others the exporter's defaults
TOLERANCE = {"fp32": (1e-4, 1e-5), "fp16": (1e-2, 1e-2), "dynamic-int8": (5e-2, 1e-1)}


def _write(graph, path, mode: str = "fp32", **options):
    from convert.exporters.tflite import to_tflite, runner

    precision = "fp16" if mode == "fp16" else None
    quantize = "dynamic-int8" if mode == "dynamic-int8" else None
    data, ctx = to_tflite(graph, precision=precision, quantize=quantize, **options)
    path.write_bytes(data)
    run = runner(str(path), graph=graph)
    return ctx, lambda xs: run({v.name: x for v, x in zip(graph.inputs, xs)})[graph.outputs[0].name]


@pytest.fixture(scope="module")
def attention():
    """Each written case traced once and shared by the tests."""
    from convert.api import prepare

    cache: dict = {}

    def get(case):
        if case.id not in cache:
            model = case.build().eval()
            _give_signal(model)
            graph, _ = _convert(case, model, "fx" if case.fx else "export")
            cache[case.id] = model, prepare(graph)[0]
        return cache[case.id]
    return get


def _torch_inputs(case, batch: int):
    return case.make(batch, 5, torch.Generator().manual_seed(batch))


@pytest.mark.parametrize("case", WRITTEN, ids=[c.id for c in WRITTEN])
def test_attention_matches_torch(case, attention, tmp_path):
    model, graph = attention(case)
    assert "Attention" in {n.op for n in graph.nodes}
    _, run = _write(graph, tmp_path / "m.tflite")
    for batch in (2, 3):  # the dynamic batch
        xs = _torch_inputs(case, batch)
        with torch.no_grad():
            ref = model(*xs).numpy()
        assert_close(run([x.numpy() for x in xs]), ref, *TOLERANCE["fp32"], f"{case.id} batch {batch}")


@pytest.mark.parametrize("case", RUNTIME_SIZES, ids=[c.id for c in RUNTIME_SIZES])
def test_runtime_sizes_are_refused_by_node(case, attention, tmp_path):
    from convert.errors import UnsupportedError

    _, graph = attention(case)
    with pytest.raises(UnsupportedError) as e:
        _write(graph, tmp_path / "m.tflite")
    assert "Reshape" in str(e.value)
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.parametrize("mode", ["fp16", "dynamic-int8"])
def test_encoder_layer_reduced_precision(mode, attention, tmp_path):
    """The encoder layer's weights stored as fp16 or int8 stay within the mode's tolerance
    of torch, and the file is smaller than fp32's by the mode's factor."""
    case = next(c for c in WRITTEN if c.id == "encoder_layer")
    model, graph = attention(case)
    ctx32, _ = _write(graph, tmp_path / "fp32.tflite")
    ctx, run = _write(graph, tmp_path / "m.tflite", mode)
    assert ctx.weight_bytes < (0.55 if mode == "fp16" else 0.4) * ctx32.weight_bytes
    xs = _torch_inputs(case, 3)
    with torch.no_grad():
        ref = model(*xs).numpy()
    assert_close(run([x.numpy() for x in xs]), ref, *TOLERANCE[mode], f"encoder layer {mode}")


def test_softcap_refused_by_name():
    from convert.exporters.tflite import unsupported
    from convert.ir.builder import GraphBuilder

    b = GraphBuilder("softcap")
    q = b.input("q", "float32", ("batch", 2, 3, 4))
    b.output(b.op("Attention", q, q, q, name="attn", softcap=30.0))
    assert [(p.layer_type, p.attribute) for p in unsupported(b.graph)] == [("Attention", "softcap")]


class GroupNormNet(nn.Module):
    """conv -> GroupNorm (3 groups of 2 channels) -> relu -> conv: the norm sits between
    channels-last ops."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.norm = nn.GroupNorm(3, 6, eps=1e-4)
        self.head = nn.Conv2d(6, 4, 1)

    def forward(self, x):
        return self.head(torch.relu(self.norm(self.conv(x))))


class GroupNorm1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3)
        self.norm = nn.GroupNorm(2, 6, eps=1e-3)

    def forward(self, x):
        return self.norm(self.conv(x))


class RmsNet(nn.Module):
    """linear -> RMSNorm over the last axis, or over the last two."""

    def __init__(self, shape):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.norm = nn.RMSNorm(shape, eps=1e-5)

    def forward(self, x):
        return self.norm(self.fc(x))


# id, model, input shape, IR op it must hold; image maps get a channels-last interface
NORMS = [
    ("groupnorm_2d", GroupNormNet, (2, 3, 7, 6), "GroupNormalization"),
    ("groupnorm_1d", GroupNorm1d, (2, 4, 9), "GroupNormalization"),
    ("rmsnorm_last", lambda: RmsNet(8), (2, 5, 8), "RMSNormalization"),
    ("rmsnorm_last_two", lambda: RmsNet((5, 8)), (2, 5, 8), "RMSNormalization"),
]


def _norm_model(make):
    torch.manual_seed(0)
    model = make().eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # the norms start as the identity affine: give them signal
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.4 + (1.0 if p.dim() == 1 else 0.0))
    return model


@pytest.fixture(scope="module")
def norms():
    from convert.api import prepare
    import convert

    built = {}
    for nid, make, shape, op in NORMS:
        model = _norm_model(make)
        graph, _ = prepare(convert.from_torch(model, (torch.randn(*shape),)))
        assert op in {n.op for n in graph.nodes}, nid
        built[nid] = model, graph
    return built


def _xs(shape, batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *shape[1:])).astype(np.float32)


@pytest.mark.parametrize("mode", ["fp32", "fp16", "dynamic-int8"])
@pytest.mark.parametrize("nid,make,shape,op", NORMS, ids=[n[0] for n in NORMS])
def test_norm_matches_torch(nid, make, shape, op, mode, norms, tmp_path):
    model, graph = norms[nid]
    ctx, run = _write(graph, tmp_path / "m.tflite", mode, io_layout="nhwc" if op == "GroupNormalization" else None)
    assert ctx.transposes == 0
    for batch in (2, 3):
        x = _xs(shape, batch, batch)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = run([x])  # the runner lays inputs and outputs out as the file stores them
        assert_close(got, ref, *TOLERANCE[mode], f"{nid} {mode} batch {batch}")


@pytest.mark.parametrize("nid,make,shape,op", NORMS, ids=[n[0] for n in NORMS])
def test_norm_cases_carry_signal(nid, make, shape, op):
    """Another input, and a 1% change to the norm's scale, move torch's output far past
    the fp32 tolerance."""
    model = _norm_model(make)
    x, other = (torch.from_numpy(_xs(shape, 2, s)) for s in (0, 9))
    rtol, atol = TOLERANCE["fp32"]
    with torch.no_grad():
        ref = model(x)
        tol = atol + rtol * ref.abs().max().item()
        assert (model(other) - ref).abs().max().item() > 100 * tol
        model.norm.weight.mul_(1.01)
        assert (model(x) - ref).abs().max().item() > 10 * tol


KERAS_STEPS, KERAS_DIM = 6, 16


@pytest.fixture(scope="module")
def keras_block(tmp_path_factory):
    """A Keras encoder block (MultiHeadAttention, 4 heads of 4; residual;
    LayerNormalization, GELU MLP, LayerNormalization) saved as .keras and read back."""
    pytest.importorskip("keras")
    from keras_cases import keras, randomize
    from convert.api import prepare
    from convert.importers.keras import load

    K = keras()
    L = K.layers
    K.utils.set_random_seed(0)
    x = K.Input((KERAS_STEPS, KERAS_DIM), name="x")
    a = L.MultiHeadAttention(4, 4, name="mha")(x, x)
    h = L.LayerNormalization(epsilon=1e-5, name="ln1")(x + a)
    m = L.Dense(KERAS_DIM, name="mlp_out")(L.Dense(2 * KERAS_DIM, activation="gelu", name="mlp_in")(h))
    model = K.Model(x, L.LayerNormalization(epsilon=1e-5, name="ln2")(h + m))
    randomize(model)
    path = tmp_path_factory.mktemp("keras_block") / "block.keras"
    model.save(path)
    graph, _ = prepare(load(str(path)).graph)
    assert {"Attention", "LayerNormalization"} <= {n.op for n in graph.nodes}
    return model, graph


def _keras_x(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, KERAS_STEPS, KERAS_DIM)).astype(np.float32)


@pytest.mark.parametrize("mode", ["fp32", "fp16", "dynamic-int8"])
def test_keras_encoder_block_matches_keras(mode, keras_block, tmp_path):
    model, graph = keras_block
    ctx, run = _write(graph, tmp_path / "m.tflite", mode)
    for batch in (2, 3):
        x = _keras_x(batch, batch)
        ref = np.asarray(model(x, training=False))
        assert_close(run([x]), ref, *TOLERANCE[mode], f"keras block {mode} batch {batch}")


def test_keras_encoder_block_carries_signal(keras_block):
    """Another input, and a 1% change to the middle (value projection) kernel, move Keras'
    output far past the fp32 tolerance."""
    model, _ = keras_block
    x = _keras_x(2, 2)
    ref = np.asarray(model(x, training=False))
    rtol, atol = TOLERANCE["fp32"]
    tol = atol + rtol * np.abs(ref).max()
    assert np.abs(np.asarray(model(_keras_x(2, 7), training=False)) - ref).max() > 100 * tol
    kernel = model.get_layer("mha").value_dense.kernel
    old = kernel.numpy()
    kernel.assign(old * 1.01)
    try:
        assert np.abs(np.asarray(model(x, training=False)) - ref).max() > 10 * tol
    finally:
        kernel.assign(old)
