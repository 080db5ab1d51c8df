"""A destination that cannot take the output (full disk, quota, file size limit): one line
naming the destination, exit 3, nothing left behind, and never a crash of the process.

The failing destination is made without privileges: the child process runs under a file
size limit (RLIMIT_FSIZE) with SIGXFSZ ignored, so a write past the limit fails with
EFBIG midway through the file, as a full disk fails; a full disk found before writing is
simulated by reporting no free space."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from convert.cli.main import main

torch = pytest.importorskip("torch")

LIMIT = 1 << 20  # the child's file size limit: a quarter of the model's weights

CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from convert.cli.main import main
sys.argv = ["nnconvert", "convert", {src!r}, "-o", {out!r}]
main()
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.ReLU())
    path = tmp_path_factory.mktemp("write_errors") / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(2, 1024),)), path)
    assert path.stat().st_size > 4 * LIMIT
    return path


def _targets() -> list:
    import importlib.util

    needs = {".pt2": "torch", ".onnx": "onnx", ".tflite": "ai_edge_litert", ".keras": "keras"}
    return [suffix for suffix, module in needs.items() if importlib.util.find_spec(module)]


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file size limits")
@pytest.mark.parametrize("suffix", _targets())
def test_write_failing_midway_is_one_line_and_leaves_nothing(source, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    code = CHILD.format(limit=LIMIT, src=str(source), out=str(out))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    # torch's zip writer, left unfinished, used to abort the process when collected (134)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert lines == [lines[0]] and lines[0].startswith(f"error: cannot write {out}: "), r.stderr[-2000:]
    assert "nothing was written" in lines[0]
    assert "terminate called" not in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary folder


def test_no_free_space_is_refused_before_writing(source, tmp_path, monkeypatch, capsys):
    import shutil

    real = shutil.disk_usage

    def full(path):
        return real(path)._replace(free=1024)

    monkeypatch.setattr(shutil, "disk_usage", full)
    out = tmp_path / "out.pt2"
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(source), "-o", str(out)], standalone_mode=True)
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert f"error: cannot write {out}: No space left on device (4.0 MiB needed, 0.0 MiB free)" in err
    assert list(tmp_path.iterdir()) == []
