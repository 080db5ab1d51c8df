"""MXNet gluon model-zoo nets and an ArcFace-style ResNet: exported by MXNet
(hybridize + export), converted from the files without MXNet, and compared with MXNet's
own outputs in ONNX, torch and Keras at 1e-4 * max(1, max|ref|).

MXNet runs in its own environment (NNCONVERT_MXNET_PYTHON); every model is built and
recorded in one subprocess per module."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close
from own_env import build, run_target, tolerance

LIGHT = ["alexnet", "arcface_resnet", "mobilenet0.25", "mobilenetv2_0.25", "resnet18_v1", "resnet18_v2", "vgg11_bn"]
HEAVY = ["densenet121", "inception_v3", "squeezenet1.1"]  # need 224/299 inputs
MODELS = LIGHT + [pytest.param(m, marks=pytest.mark.slow) for m in HEAVY]
TARGETS = ["onnx", "torch", "keras"]
_GRAPHS: dict = {}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return build(tmp_path_factory.mktemp("mxzoo"), "zoo")


def _graph(zoo, model):
    if model not in _GRAPHS:
        from convert.importers.mxnet import from_mxnet

        shape = np.load(zoo / f"{model}.npz")["x"].shape
        _GRAPHS[model] = from_mxnet(str(zoo / f"{model}-symbol.json"), None,
                                    {"data": ("batch", *shape[1:])})  # .params found beside it
    return _GRAPHS[model]


@pytest.mark.parametrize("model", MODELS)
def test_recorded_outputs_carry_signal(zoo, model):
    """Another input and a 1% change of a middle weight move MXNet's output far past the
    tolerance, so a conversion that ignored either could not pass."""
    z = np.load(zoo / f"{model}.npz")
    tol = tolerance(z["y"])
    assert np.abs(z["y2"] - z["y"]).max() > 30 * tol
    assert np.abs(z["y_pert"] - z["y"]).max() > 10 * tol


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model", MODELS)
def test_zoo_matches_mxnet(zoo, model, target):
    z = np.load(zoo / f"{model}.npz")
    graph = _graph(zoo, model)
    # both inputs in one batch: the batch stays dynamic and each sample matches its own output
    x, want = np.concatenate([z["x"], z["x2"]]), np.concatenate([z["y"], z["y2"]])
    got = run_target(graph, target, x)
    assert_close(got, want, rtol=0, atol=tolerance(want), what=f"{model} -> {target}")


def test_cli_dynamic_batch_verified_by_mxnet(zoo, tmp_path):
    """nnconvert convert model-symbol.json -o model.onnx --verify: two batch sizes, each
    run by MXNet itself."""
    from click.testing import CliRunner

    from convert.cli.main import main

    # the same rule as above, 1e-4 * max(1, max|ref|) (the logits reach ~100), not per element
    atol = tolerance(np.load(zoo / "resnet18_v1.npz")["y"])
    res = CliRunner().invoke(main, ["convert", str(zoo / "resnet18_v1-symbol.json"), "--weights",
                                    str(zoo / "resnet18_v1-0000.params"), "--input-shape", "data:batch,3,32,32",
                                    "-o", str(tmp_path / "m.onnx"), "--verify", "--rtol", "0", "--atol", str(atol)])
    assert res.exit_code == 0, res.output
    assert res.output.count("PASS") >= 2 and "verification PASS" in res.output
