"""Outputs: atomic (multi-file targets included), kept unless --force, nothing partial
after a SIGKILL mid-write, and byte-identical across runs for every target."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convert.files import TMP_PREFIX
from robust_models import cli, env_without_gpu, listing, make_nnir

CLI = [sys.executable, "-c", "from convert.cli.main import main; main()"]
REPO = Path(__file__).resolve().parent.parent

# target file name, extra args, the files it writes (the named target last)
MULTI_FILE = [
    ("onnx-external-data", "m.onnx", ["--external-data"], ["m.onnx", "m.onnx.data"]),
    ("caffe", "m.prototxt", [], ["m.caffemodel", "m.prototxt"]),
    ("torch-source", "m_src", ["--to", "torch-source"], ["m_src.py", "m_src.safetensors"]),
]


@pytest.fixture(scope="module")
def nnir(tmp_path_factory):
    return make_nnir(tmp_path_factory.mktemp("src"))


@pytest.mark.parametrize("name,target,extra,files", MULTI_FILE, ids=[m[0] for m in MULTI_FILE])
def test_multi_file_outputs_are_kept_unless_force(nnir, tmp_path, name, target, extra, files):
    out = tmp_path / "out"
    r = cli("convert", nnir, "-o", out / target, *extra)
    assert r.exit_code == 0, r.output
    written = listing(out)
    if files is not None:
        assert written == sorted(files)
    assert not [p for p in written if p.startswith(TMP_PREFIX)]
    before = {p: (out / p).stat().st_mtime_ns for p in written}
    # A second run without --force: refused, every existing file untouched.
    r = cli("convert", nnir, "-o", out / target, *extra)
    assert r.exit_code == 2 and "--force" in r.output
    assert {p: (out / p).stat().st_mtime_ns for p in listing(out)} == before
    # A companion file alone (e.g. only FILE.onnx.data) also blocks the run.
    entry = next(p for p in written if p == target or p.endswith(".py"))
    companions = [p for p in written if p != entry]
    if companions:
        (out / entry).unlink()
        r = cli("convert", nnir, "-o", out / target, *extra)
        assert r.exit_code == 2 and companions[0] in r.output
        assert listing(out) == sorted(companions)
    r = cli("convert", nnir, "-o", out / target, *extra, "--force")
    assert r.exit_code == 0 and listing(out) == written


def test_failed_conversion_keeps_the_existing_output(tmp_path):
    """--force replaces a file only when the new one is complete."""
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous model")
    bad = tmp_path / "bad.nnir"
    bad.mkdir()
    (bad / "graph.json").write_text("{")
    r = cli("convert", bad, "-o", out, "--force")
    assert r.exit_code == 3 and out.read_bytes() == b"previous model"
    assert listing(tmp_path) == ["bad.nnir", "m.onnx"]


SLOW_WRITER = textwrap.dedent("""
    # Test plugin: the ONNX writer writes its files, signals, then hangs (killed by the test).
    import os, time
    from pathlib import Path
    import convert.exporters.onnx.file as onnx_file

    _save = onnx_file.save

    def slow_save(graph, path, **kw):
        files = _save(graph, path, **kw)
        Path(os.environ["NNCONVERT_TEST_SIGNAL"]).write_text(str(path))
        time.sleep(120)
        return files

    onnx_file.save = slow_save
""")


def test_sigkill_mid_write_leaves_no_output(nnir, tmp_path):
    plugin = tmp_path / "slow_writer.py"
    plugin.write_text(SLOW_WRITER)
    out = tmp_path / "out"
    sig = tmp_path / "writing"
    env = env_without_gpu() | {"NNCONVERT_TEST_SIGNAL": str(sig)}
    proc = subprocess.Popen(CLI + ["--plugin", str(plugin), "convert", str(nnir), "-o", str(out / "m.onnx"),
                                   "--external-data"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not sig.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert sig.exists(), "the writer never started"
        tmp_file = Path(sig.read_text())
        assert tmp_file.exists() and tmp_file.parent.name.startswith(TMP_PREFIX)  # written, not yet renamed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # Only the hidden temporary folder remains: no file with the target's name.
    assert [p for p in listing(out) if not p.startswith(TMP_PREFIX)] == []
    assert not (out / "m.onnx").exists() and not (out / "m.onnx.data").exists()
    # The next conversion into the folder removes the dead run's temporary folder.
    r = cli("convert", nnir, "-o", out / "m.onnx")
    assert r.exit_code == 0 and listing(out) == ["m.onnx"]


DETERMINISM_SCRIPT = textwrap.dedent("""
    import sys
    from convert.api import convert_file
    src, out = sys.argv[1], sys.argv[2]
    for name, to in [("m.onnx", None), ("m_ext.onnx", None), ("m.pt2", None), ("m_src", "torch-source"),
                     ("m.keras", None), ("m.prototxt", None), ("m2.nnir", None)]:
        convert_file(src, f"{out}/{name}", to_fmt=to, writer_options={"external": True} if "ext" in name else {})
""")


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_outputs_are_byte_identical_across_runs(nnir, tmp_path):
    """Two processes, seconds apart, same input and options: the same bytes for every target."""
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        out.mkdir()
        r = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT, str(nnir), str(out)], env=env_without_gpu(),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        runs.append(_digests(out))
        time.sleep(1.1)  # zip timestamps have 2 s resolution: make sure a clock tick passes
    assert set(runs[0]) >= {"m.onnx", "m_ext.onnx", "m_ext.onnx.data", "m.pt2", "m.keras", "m.prototxt",
                            "m.caffemodel", "m2.nnir/graph.json", "m2.nnir/weights.safetensors"}
    differ = sorted(k for k in runs[0] if runs[0][k] != runs[1].get(k))
    assert differ == []


@pytest.mark.parametrize("target,files,entry", [
    ("m.onnx", ["m.onnx", "m.onnx.data"], "m.onnx"),
    ("m.prototxt", ["m.prototxt", "m.caffemodel"], "m.prototxt"),
    ("m_src", ["m_src.py", "m_src.safetensors"], "m_src.py"),
], ids=["onnx-external", "caffe", "torch-source"])
def test_the_entry_file_is_renamed_last(tmp_path, monkeypatch, target, files, entry):
    """A kill between two renames leaves companions without the file that refers to
    them, never a model file whose weights are missing."""
    import convert.files as cio

    moved = []
    real = os.replace
    monkeypatch.setattr(cio.os, "replace", lambda a, b: (moved.append(Path(b).name), real(a, b)))
    with cio.atomic_output(tmp_path / target) as tmp:
        for name in files:
            (tmp.parent / name).write_bytes(b"x")
    assert sorted(moved) == sorted(files) and moved[-1] == entry
