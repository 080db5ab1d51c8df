"""Structure-aware fuzzing, one importer per test: hypothesis (seeded, bounded) edits
JSON fields, HDF5 datasets and attributes, protobuf fields and length prefixes and zip
members of a small valid file; every mutant converts (the output exists) or fails with
exit 3 and one error line naming the file, no traceback and no output, each within a
time bound. All examples of one importer run in one child process, whose peak memory
is the memory bound."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from hostile import FRAMEWORK_MB, SMALL_MB, env

EXAMPLES = 25
PER_EXAMPLE_S = 60
PEAK_MB = {"keras": SMALL_MB, "h5": SMALL_MB, "caffe": SMALL_MB, "nnir": SMALL_MB, "pt2": FRAMEWORK_MB}


@pytest.mark.parametrize("kind", list(PEAK_MB))
def test_mutants_keep_the_contract(tmp_path, kind):
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import test_hostile_fuzz as t; t.child_main({kind!r}, {str(tmp_path)!r})")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(),
                       timeout=EXAMPLES * PER_EXAMPLE_S)
    assert p.returncode == 0, p.stdout[-5000:] + p.stderr[-5000:]
    stats = json.loads(p.stdout.strip().splitlines()[-1])
    assert stats["examples"] >= EXAMPLES // 2, stats
    assert stats["peak_mb"] < PEAK_MB[kind], stats


# -- in the child ------------------------------------------------------------------------
def _base(kind: str, d: Path) -> dict:
    from hostile_files import write_h5, write_keras

    if kind == "keras":
        return {"src": write_keras(d / "m.keras")}
    if kind == "h5":
        return {"src": write_h5(d / "m.h5")}
    from robust_models import make_caffe, make_nnir, make_pt2

    nnir = make_nnir(d)
    if kind == "nnir":
        return {"src": nnir}
    if kind == "caffe":
        proto, model = make_caffe(d, nnir)
        return {"src": proto, "weights": model}
    return {"src": make_pt2(d, nnir)}


def _plans(kind: str, base: dict):
    """The hypothesis strategy of one importer's mutations."""
    from hypothesis import strategies as st

    import hostile_mutations as M

    if kind == "keras":
        cfg = json.loads(_zip_member(base["src"], "config.json"))
        return st.one_of(st.tuples(st.just("config"), M.json_edits(cfg)),
                         st.tuples(st.just("weights"), st.lists(M.H5_EDIT, min_size=1, max_size=2)),
                         st.tuples(st.just("zip"), st.lists(M.ZIP_EDIT, min_size=1, max_size=2)))
    if kind == "h5":
        import h5py

        with h5py.File(base["src"]) as f:
            cfg = json.loads(f.attrs["model_config"])
        return st.one_of(st.tuples(st.just("config"), M.json_edits(cfg)),
                         st.tuples(st.just("weights"), st.lists(M.H5_EDIT, min_size=1, max_size=2)))
    if kind == "caffe":
        edit = st.tuples(st.sampled_from(M.CAFFE_FIELDS), st.integers(0, 1000), M.HOSTILE)
        return st.one_of(st.tuples(st.just("prototxt"), st.lists(edit, min_size=1, max_size=3)),
                         st.tuples(st.just("caffemodel"), st.lists(edit, min_size=1, max_size=3)),
                         st.tuples(st.just("length"), st.tuples(st.integers(0, 1000),
                                                                st.sampled_from([-9, -1, 1, 7, 2**20, 2**40]))))
    if kind == "nnir":
        graph = json.loads((base["src"] / "graph.json").read_text())
        header, _ = M.safetensors_parts((base["src"] / "weights.safetensors").read_bytes())
        return st.one_of(st.tuples(st.just("graph"), M.json_edits(graph)),
                         st.tuples(st.just("header"), M.json_edits(header)))
    model = next(n for n in _zip_names(base["src"]) if n.endswith("models/model.json"))
    wcfg = next(n for n in _zip_names(base["src"]) if n.endswith("model_weights_config.json"))
    return st.one_of(
        st.tuples(st.just(model), M.json_edits(json.loads(_zip_member(base["src"], model)))),
        st.tuples(st.just(wcfg), M.json_edits(json.loads(_zip_member(base["src"], wcfg)))),
        st.tuples(st.just("zip"), st.lists(M.ZIP_EDIT, min_size=1, max_size=2)))


def _zip_names(path: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.namelist()


def _zip_member(path: Path, name: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read(name)


def _mutant(kind: str, base: dict, plan, work: Path) -> tuple[Path, list[str]]:
    """Write the mutated file(s) into ``work``; returns (source, extra CLI args)."""
    import hostile_mutations as M

    what, edits = plan
    src = base["src"]
    if kind == "keras":
        raw = src.read_bytes()
        if what == "config":
            cfg = json.loads(_zip_member(src, "config.json"))
            data = M.rebuild_zip(raw, {"config.json": M.dumps(M.apply_json(cfg, edits))})
        elif what == "weights":
            data = M.rebuild_zip(raw, {"model.weights.h5": _edit_h5_bytes(_zip_member(src, "model.weights.h5"),
                                                                           edits, work)})
        else:
            data = M.rebuild_zip(raw, edits=edits)
        out = work / "m.keras"
        out.write_bytes(data)
        return out, []
    if kind == "h5":
        import h5py

        out = work / "m.h5"
        shutil.copyfile(src, out)
        with h5py.File(out, "r+") as f:
            if what == "config":
                f.attrs["model_config"] = M.dumps(M.apply_json(json.loads(f.attrs["model_config"]), edits))
            else:
                M.apply_h5(f, edits)
        return out, []
    if kind == "caffe":
        from google.protobuf import text_format

        from convert.caffe_proto import caffe_pb2

        proto, model = work / "m.prototxt", work / "m.caffemodel"
        shutil.copyfile(src, proto)
        shutil.copyfile(base["weights"], model)
        if what == "length":
            model.write_bytes(M.set_length(model.read_bytes(), *edits))
        elif what == "caffemodel":
            net = caffe_pb2.NetParameter()
            net.ParseFromString(model.read_bytes())
            M.apply_caffe(net, edits)
            model.write_bytes(net.SerializeToString())
        else:
            net = text_format.Parse(proto.read_text(), caffe_pb2.NetParameter())
            M.apply_caffe(net, edits)
            proto.write_text(text_format.MessageToString(net))
        return proto, ["--weights", str(model)]
    if kind == "nnir":
        out = work / "m.nnir"
        shutil.copytree(src, out)
        if what == "graph":
            graph = json.loads((out / "graph.json").read_text())
            (out / "graph.json").write_bytes(M.dumps(M.apply_json(graph, edits)))
        else:
            header, data = M.safetensors_parts((out / "weights.safetensors").read_bytes())
            (out / "weights.safetensors").write_bytes(M.safetensors_join(M.apply_json(header, edits), data))
        return out, []
    out = work / "m.pt2"
    raw = src.read_bytes()
    if what == "zip":
        out.write_bytes(M.rebuild_zip(raw, edits=edits))
    else:
        doc = json.loads(_zip_member(src, what))
        out.write_bytes(M.rebuild_zip(raw, {what: M.dumps(M.apply_json(doc, edits))}))
    return out, []


def _edit_h5_bytes(raw: bytes, edits, work: Path) -> bytes:
    import h5py

    import hostile_mutations as M

    tmp = work / "w.h5"
    tmp.write_bytes(raw)
    with h5py.File(tmp, "r+") as f:
        M.apply_h5(f, edits)
    return tmp.read_bytes()


def child_main(kind: str, folder: str) -> None:
    """Run every example of ``kind`` here; print the counts and peak memory as JSON."""
    from hypothesis import HealthCheck, given, settings

    from robust_models import assert_clean_failure, cli

    d = Path(folder)
    base = _base(kind, d)
    count = {"examples": 0, "converted": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=timedelta(seconds=PER_EXAMPLE_S),
              suppress_health_check=list(HealthCheck))
    @given(plan=_plans(kind, base))
    def run(plan):
        work = Path(tempfile.mkdtemp(dir=d, prefix="mutant_"))
        out = Path(tempfile.mkdtemp(dir=d, prefix="out_"))
        try:
            try:
                src, extra = _mutant(kind, base, plan, work)
            except (ValueError, TypeError, OSError, OverflowError, KeyError):
                return  # the mutation itself cannot be written (h5py refuses it): no file to test
            r = cli("convert", src, *extra, "-o", out / "m.onnx", seconds=PER_EXAMPLE_S)
            count["examples"] += 1
            if r.exit_code == 0:
                assert (out / "m.onnx").exists() and "Traceback" not in r.output, r.output
                count["converted"] += 1
            else:
                assert_clean_failure(r, src, out)
                count["refused"] += 1
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)

    run()
    from peak import peak_rss

    count["peak_mb"] = peak_rss() / 2**20
    print(json.dumps(count))
