"""Hostile .pt2 archives, built here by editing a real torch.export file: the default
reader refuses each before anything from it runs or is allocated. Every command runs
in a child process (exit code, output, peak memory via getrusage, a generous timeout).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "tiny_resnet.pt2"
PEAK_RSS_MB = 300  # measured ~35 MB; importing torch alone takes more than this
TIMEOUT_S = 120
# Runs the command as its own child and reports that child's peak RSS.
DRIVER = ("import json, resource, subprocess, sys\n"
          "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
          "print(r.stdout + r.stderr)\n"
          "print(json.dumps({'rc': r.returncode, "
          "'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n")


def run_cli(*args, cwd: Path) -> tuple[int, str, float]:
    env_cmd = [sys.executable, "-c", DRIVER, sys.executable, str(ROOT / "cli.py"), *map(str, args)]
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run(env_cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd, env=env)
    text, last = r.stdout.rstrip().rsplit("\n", 1)
    res = json.loads(last)
    return res["rc"], text, res["rss_mb"]


def edit(dst: Path, model=None, weights=None, constants=None, add: dict | None = None,
         replace: dict | None = None) -> Path:
    """A copy of the fixture with its model JSON / payload configs passed through the
    given functions, members added, or member bytes replaced (by name suffix)."""
    with zipfile.ZipFile(FIXTURE) as zin, zipfile.ZipFile(dst, "w") as zout:
        root = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            data = zin.read(info)
            for suffix, fn in (("models/model.json", model), ("model_weights_config.json", weights),
                               ("model_constants_config.json", constants)):
                if fn and info.filename.endswith(suffix):
                    obj = json.loads(data)
                    fn(obj)
                    data = json.dumps(obj).encode()
            for suffix, new in (replace or {}).items():
                if info.filename.endswith(suffix):
                    data = new
            zout.writestr(info, data)
        for name, data in (add or {}).items():
            zout.writestr(f"{root}/{name}", data)
    return dst


def payload(marker: Path) -> str:
    """Python that writes ``marker`` when evaluated (sympy.sympify evaluates it)."""
    return f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned') and " \
           "Symbol('s40', positive=True, integer=True)"


def _expr(marker):
    def fn(m):
        m["graph_module"]["graph"]["tensor_values"]["image"]["sizes"][0]["as_expr"]["expr_str"] = payload(marker)
    return {"model": fn}


def _guards(marker):
    def fn(m):
        m["guards_code"] = [f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"]
    return {"model": fn}


def _so(marker):
    return {"add": {"data/aotinductor/model/evil.so": b"\x7fELF" + b"\0" * 60}}


def _pickled_constant(marker):
    import pickle

    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').write('pwned')",)

    def fn(c):
        c["config"]["evil"] = {"path_name": "custom_obj_0", "is_param": False, "use_pickle": True,
                               "tensor_meta": None}
    return {"constants": fn, "add": {"data/constants/custom_obj_0": pickle.dumps(Payload())}}


def _huge(marker, with_bytes: bool, stride: int = 1):
    def fn(w):
        meta = w["config"]["stem.0.weight"]["tensor_meta"]
        meta["sizes"] = [{"as_int": 2**31}]  # 8 GiB of float32 declared
        meta["strides"] = [{"as_int": stride}]  # stride 0: one stored element, viewed 2^31 times
    out = {"weights": fn}
    if not with_bytes:  # torch would allocate zeros of the declared size for an empty record
        out["replace"] = {"data/weights/weight_0": b""}
    return out


def _huge_constant(marker):
    def fn(m):  # a node creating a 4 GiB constant (aten.full) from a size in the JSON, no bytes behind it
        g, n = m["graph_module"]["graph"], 2**30
        g["nodes"].insert(0, {"target": "torch.ops.aten.full.default", "metadata": {},
                              "inputs": [{"name": "size", "arg": {"as_ints": [n]}, "kind": 1},
                                         {"name": "fill_value", "arg": {"as_float": 1.0}, "kind": 1}],
                              "outputs": [{"as_tensor": {"name": "huge_full"}}]})
        g["tensor_values"]["huge_full"] = {**g["tensor_values"]["image"], "sizes": [{"as_int": n}],
                                           "strides": [{"as_int": 1}]}
    return {"model": fn}


def _call_torch_load(marker):
    def fn(m):  # torch resolves a dotted target on the torch module and calls it at run time
        m["graph_module"]["graph"]["nodes"][0]["target"] = "torch.load"
    return {"model": fn}


def _duplicate_model(marker):
    return {"add": {"models/model.json": b"{}"}}  # a second member of the same name


CASES = {
    "duplicate-member": (_duplicate_model, "same name"),
    "target-not-an-operator": (_call_torch_load, "not an operator"),
    "expr-str-payload": (_expr, "expression grammar"),
    "guards-code": (_guards, "guard grammar"),
    "aotinductor-so": (_so, "compiled code"),
    "pickled-constant": (_pickled_constant, "pickled"),
    "huge-tensor": (lambda m: _huge(m, True), "needs 2147483648 elements"),
    "huge-empty-tensor": (lambda m: _huge(m, False), "needs 2147483648 elements"),
    "huge-stride-0-tensor": (lambda m: _huge(m, True, 0), "needs 2147483648 elements"),
    "huge-constant": (_huge_constant, "needs 4294967296 bytes, more than a file of this size"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_archive_is_refused(tmp_path, case):
    make, reason = CASES[case]
    marker = tmp_path / "marker"
    evil = edit(tmp_path / "evil.pt2", **make(marker))
    out = tmp_path / "out"
    out.mkdir()
    commands = [("convert", evil, "-o", out / "m.onnx"), ("check", evil, "--to", "onnx"), ("inspect", evil)]
    for cmd in commands if case in ("expr-str-payload", "aotinductor-so") else commands[:1]:
        rc, text, rss = run_cli(*cmd, cwd=tmp_path)
        errors = [line for line in text.splitlines() if line.startswith("error:")]
        assert rc == 3, text
        assert len(errors) == 1 and "evil.pt2" in errors[0] and reason in errors[0], text
        assert "Traceback" not in text
        assert rss < PEAK_RSS_MB, f"{cmd[0]}: peak RSS {rss:.0f} MB"
        assert not marker.exists()
        assert list(out.iterdir()) == []


def test_expression_payload_is_real(tmp_path):
    """Control: torch.export.load itself (what --trust-code allows) runs the payload."""
    marker = tmp_path / "marker"
    evil = edit(tmp_path / "evil.pt2", **_expr(marker))
    run_cli("inspect", evil, "--trust-code", cwd=tmp_path)
    assert marker.exists()


# -- structure-aware fuzzing of the model JSON (in process: the reader needs no torch) --
from datetime import timedelta  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                        st.text(max_size=30), st.lists(st.integers(-3, 2**40), max_size=4),
                        st.dictionaries(st.sampled_from(["as_int", "as_expr", "as_tensor", "name", "expr_str"]),
                                        st.one_of(st.integers(-5, 2**40), st.text(max_size=20)), max_size=2))


def _paths(obj, prefix=()):
    """Every (container, key) in the JSON, for picking what to mutate."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for k, v in items:
        out.append((obj, k))
        out.extend(_paths(v))
    return out


@pytest.fixture(scope="module")
def model_json():
    with zipfile.ZipFile(FIXTURE) as zf:
        return json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("models/model.json"))))


@settings(max_examples=40, deadline=timedelta(seconds=20), derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["replace", "delete"]), JSON_VALUES),
                      min_size=1, max_size=3))
def test_mutated_program_json_fails_cleanly(tmp_path, model_json, edits):
    """Any edit of the program JSON converts or ends in one ModelLoadError/unsupported
    report: never another exception, a hang or a large allocation."""
    import copy

    from convert.errors import NNConvertError
    from convert.importers.torch.loader import load

    model = copy.deepcopy(model_json)
    for index, action, value in edits:
        paths = _paths(model)
        container, key = paths[index % len(paths)]
        if action == "delete" and isinstance(container, dict):
            del container[key]
        else:
            container[key] = value
    evil = edit(tmp_path / "fuzz.pt2", model=lambda m: (m.clear(), m.update(model)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load(str(evil))
    except NNConvertError:
        pass
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < PEAK_RSS_MB, f"peak memory grew by {grown_mb:.0f} MB"
