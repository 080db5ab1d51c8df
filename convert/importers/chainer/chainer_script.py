"""Runs inside Chainer's own interpreter (NNCONVERT_CHAINER_PYTHON), never imported by
nnconvert. Needs chainer and numpy; the IR comes from the repository on sys.path.

    python chainer_script.py walk FILE.py FACTORY JOB.json   # writes the IR as an .nnir folder
    python chainer_script.py run  FILE.py FACTORY JOB.json   # writes the outputs for given inputs

JOB.json: {"weights": "model.npz" or null, "inputs": {name: [shape] or "x.npy"},
"out": path}. Weights are read with allow_pickle=False (Chainer's own load_npz allows
pickles) and assigned by link path.
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]


def _model(file, factory, weights):
    import chainer

    spec = importlib.util.spec_from_file_location("nnconvert_chainer_user", file)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(Path(file).resolve().parent))
    spec.loader.exec_module(mod)  # the user's own code, like file.py:factory for torch
    obj = mod
    for part in factory.split("."):
        obj = getattr(obj, part)
    link = obj()
    # Chainer fills a gradient buffer per parameter (as large as the weights); neither the
    # walk nor a test-mode run needs them
    link.cleargrads()
    if weights:
        with np.load(weights, allow_pickle=False) as npz:
            chainer.serializers.NpzDeserializer(npz).load(link)
    return link


def _forward(link, arrays, keep=None):
    """Run in test mode. ``keep`` collects every function's input arrays (a constant
    made inside the model, such as a zero initial state, is not retained otherwise)."""
    import chainer

    class Keep(chainer.FunctionHook):
        name = "nnconvert_keep_inputs"

        def forward_preprocess(self, function, in_data):
            if keep is not None:
                keep[id(function)] = tuple(in_data)

    xs = [chainer.Variable(a) for a in arrays.values()]
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", True), Keep():
        y = link(*xs)
    if isinstance(y, (tuple, list)) or isinstance(y, dict):
        raise SystemExit("error: the model must return one variable")
    return dict(zip(arrays, xs)), y


def main(mode, file, factory, job_path):
    with open(job_path) as f:
        job = json.load(f)
    link = _model(file, factory, job.get("weights"))
    if mode == "walk":
        rng = np.random.RandomState(0)
        arrays = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in job["inputs"].items()}
        in_data: dict = {}
        inputs, y = _forward(link, arrays, in_data)
        sys.path.insert(0, str(REPO))
        from convert.importers.chainer import functions  # noqa: F401  (registers the handlers)
        from convert.importers.chainer.walk import Walker
        from convert.ir.serialize import save
        from convert.errors import NNConvertError, UnsupportedError

        try:
            graph = Walker(link, inputs, y, Path(file).stem, in_data).run(f"{file}:{factory}")
        except NNConvertError as e:  # handed back to nnconvert as data
            items = [vars(i) if not hasattr(i, "__dataclass_fields__") else
                     {k: getattr(i, k) for k in i.__dataclass_fields__} for i in getattr(e, "items", [])]
            problem = {"unsupported": [{k: repr(v) if k == "value" else v for k, v in i.items()} for i in items]} \
                if isinstance(e, UnsupportedError) else {"message": str(e)}
            Path(job["out"] + ".error").write_text(json.dumps(problem))
            raise SystemExit(3)
        save(graph, job["out"])
    else:
        arrays = {n: np.load(p, allow_pickle=False) for n, p in job["inputs"].items()}
        _, y = _forward(link, arrays)
        np.save(job["out"], np.asarray(y.array))
    import chainer

    print(chainer.__version__)


if __name__ == "__main__":
    main(*sys.argv[1:5])
