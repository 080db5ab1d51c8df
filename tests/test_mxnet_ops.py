"""MXNet operators one family at a time: symbols built in MXNet with random
parameters, converted from the files, compared with MXNet's outputs in each target."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close
from own_env import OPS_CASES as CASES, build, run_target, tolerance

TARGETS = ["onnx", "torch", "keras"]
# IR ops the Keras exporter refuses (listed by layer before anything is written); a
# change here means the Keras exporter learnt or lost something: update the table.
KERAS_REFUSES = {
    "conv_group_dilate": {"Conv"},
    "l2norm_modes": {"LpNormalization"}, "pool_avg_exclude_pad": {"AveragePool"},
    "slice_concat_elementwise": {"Max"}, "upsample_bilinear": {"ConvTranspose"},
}


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mxops"), "ops")


def _graph(ops, case):
    from convert.importers.mxnet import from_mxnet

    z = np.load(ops / f"{case}.npz")
    return from_mxnet(str(ops / f"{case}-symbol.json"), str(ops / f"{case}-0000.params"), {"data": z["x"].shape}), z


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES)
def test_operator_matches_mxnet(ops, case, target):
    graph, z = _graph(ops, case)
    if target == "keras":
        from convert.api import prepare
        from convert.exporters.keras import unsupported

        refused = {g.layer_type for g in unsupported(prepare(graph)[0])}
        assert refused == KERAS_REFUSES.get(case, set())
        if refused:
            return
    tol = tolerance(z["y"])
    assert np.abs(z["y2"] - z["y"]).max() > 10 * tol  # the case depends on its input
    for x, y in ((z["x"], z["y"]), (z["x2"], z["y2"])):
        assert_close(run_target(graph, target, x), y, rtol=0, atol=tol, what=f"{case} -> {target}")


@pytest.mark.parametrize("case, suffix", [("leaky_family", ".pt2"), ("rnn_lstm_gru", ".keras"),
                                          ("pool_full_avg", ".onnx")])
def test_cli_convert_verify_against_mxnet(ops, tmp_path, case, suffix):
    """The whole command: weights found beside the symbol, the source run by MXNet."""
    from click.testing import CliRunner

    from convert.cli.main import main

    shape = ",".join(str(d) for d in np.load(ops / f"{case}.npz")["x"].shape)
    out = tmp_path / f"m{suffix}"
    res = CliRunner().invoke(main, ["convert", str(ops / f"{case}-symbol.json"), "--input-shape", f"data:{shape}",
                                    "-o", str(out), "--verify"])
    assert res.exit_code == 0, res.output
    assert "verification PASS" in res.output and out.exists()
