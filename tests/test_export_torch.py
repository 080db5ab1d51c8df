"""IR -> PyTorch exporter: torch models imported to the IR, exported back to torch layers,
compared against the SOURCE torch model (the oracle), plus saved-file checks."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from export_cases import CASES, build
from helpers import assert_close

torch = pytest.importorskip("torch")
nn = torch.nn


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_torch_export_matches_source(case):
    from convert.exporters.torch import to_torch, unsupported

    _, x, ref, graph = build(case)
    assert unsupported(graph) == []
    out = to_torch(graph)(torch.from_numpy(x))
    assert_close(out.detach().numpy(), ref, case.rtol, case.atol, case.id)


def _attr_name(torch_name: str) -> str:
    """The documented naming rule: dots become underscores, a leading digit gets 'm_'."""
    s = torch_name.replace(".", "_")
    return f"m_{s}" if s[0].isdigit() else s


NAMED = ["conv2d", "batchnorm_relu", "residual", "lstm_bidirectional", "dense"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in NAMED], ids=lambda c: c.id)
def test_torch_round_trip_keeps_layer_names(case):
    from convert.exporters.torch import to_torch

    model, x, ref, graph = build(case)
    back = to_torch(graph)
    # every layer with weights keeps its name (parameter-free reshapes may become tensor methods)
    src_names = {_attr_name(n) for n, m in model.named_modules()
                 if n and not list(m.children()) and list(m.parameters())}
    out_names = {n for n, _ in back.named_modules() if n}
    assert src_names <= out_names, f"missing {sorted(src_names - out_names)}"
    # the weights sit in the same-named layers
    src_state = {_attr_name(k.rsplit(".", 1)[0]) + "." + k.rsplit(".", 1)[1]: v for k, v in model.state_dict().items()}
    for k, v in src_state.items():
        if k in back.state_dict():
            assert_close(back.state_dict()[k].numpy(), v.numpy(), 0, 0, k)


_FRESH = """
import json, sys
import numpy as np
import torch
{load}
x = torch.from_numpy(np.load(sys.argv[2]))
y = model(x)
np.save(sys.argv[3], y.detach().numpy())
assert not any(m == "convert" or m.startswith("convert.") for m in sys.modules), "nnconvert was imported"
"""


def _run_fresh(load: str, path, x, tmp_path) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH="")  # nnconvert is not importable in the child
    code = _FRESH.format(load=load)
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                   check=True, cwd=tmp_path, env=env, timeout=300)
    return np.load(tmp_path / "y.npy")


SAVED = ["residual", "batchnorm_relu", "lstm_bidirectional", "maxpool_pad", "convtranspose2d"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SAVED], ids=lambda c: c.id)
def test_pt2_loads_in_fresh_process(case, tmp_path):
    from convert.exporters.torch import save

    model, x, _, graph = build(case)
    save(graph, tmp_path / "m.pt2", fmt="pt2")
    # batch 3, not the batch of 2 used for export: the batch dimension stays dynamic
    x3 = np.concatenate([x, x[:1]])
    with torch.no_grad():
        ref3 = model(torch.from_numpy(x3)).numpy()
    out3 = _run_fresh("model = torch.export.load(sys.argv[1]).module()", tmp_path / "m.pt2", x3, tmp_path)
    assert_close(out3, ref3, case.rtol, case.atol, case.id)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SAVED], ids=lambda c: c.id)
def test_torch_source_loads_in_fresh_process(case, tmp_path):
    from convert.exporters.torch import save

    _, x, ref, graph = build(case)
    files = save(graph, tmp_path / "model", fmt="torch-source")
    assert [f.name for f in files] == ["model.py", "model.safetensors"]
    src = files[0].read_text()
    assert "import convert" not in src and "from convert" not in src and "import pickle" not in src
    load = "sys.path.insert(0, '.'); import model as generated; model = generated.load_model()"
    out = _run_fresh(load, files[0], x, tmp_path)
    assert_close(out, ref, case.rtol, case.atol, case.id)


def test_unsupported_lists_every_problem_with_names():
    from convert.exporters.torch import save, unsupported
    from convert.errors import UnsupportedError
    from convert.ir import GraphBuilder, Source

    b = GraphBuilder("bad", "test")
    x = b.input("x", shape=(1, 3, 4))
    b.source = Source("test", "GRU", "gru_a")
    w = b.weight("w", np.zeros((1, 12, 4), np.float32))
    r = b.weight("r", np.zeros((1, 12, 4), np.float32))
    y = b.node("GRU", [x, w, r], {"hidden_size": 4, "clip": 1.0}, outputs=2)[0]
    b.source = Source("test", "CaffeArgMax", "argmax_b")
    y = b.op("CaffeArgMax", y)
    b.output(y)
    g = b.finish()
    problems = unsupported(g)
    assert [(p.layer, p.layer_type) for p in problems] == [("gru_a", "GRU"), ("argmax_b", "CaffeArgMax")]
    assert problems[0].attribute == "clip"
    with pytest.raises(UnsupportedError):
        save(g, "/nonexistent/never-written.pt2")
