"""The hostile-file contract, checked in a child process: a crafted model file ends in
the expected exit code with one error line naming the file, writes no marker, leaves
no output, stays under a peak-memory bound (the child's own ``VmHWM``) and finishes
within a generous time bound (a hang shows as the child's timeout)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The CLI in-process, then its own peak resident memory on the last stderr line.
# VmHWM, not ru_maxrss: Linux carries the parent's peak into a child's ru_maxrss across
# fork+exec, so a large test process would show in every child.
_DRIVER = """
import sys
from convert.cli.main import main
try:
    main(sys.argv[1:], prog_name="nnconvert")
finally:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    sys.stderr.write("\\nmaxrss_kb=%d\\n" % int(hwm[0].split()[1]))
"""

# Peak memory of a child that imports numpy, h5py, protobuf and onnx: a few hundred MB.
# A hostile size that is materialised shows as gigabytes.
SMALL_MB = 1200
# A child that also imports torch or Keras/TensorFlow.
FRAMEWORK_MB = 2500


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_mb: float

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return e


def nnconvert(*args, seconds: int = 120, cwd: Path | None = None) -> Run:
    """Run the CLI in a child process; a child still running after ``seconds`` fails the test."""
    p = subprocess.run([sys.executable, "-c", _DRIVER, *[str(a) for a in args]], capture_output=True, text=True,
                       timeout=seconds, env=env(), cwd=cwd or REPO)
    m = re.search(r"maxrss_kb=(\d+)\s*$", p.stderr)
    peak = int(m.group(1)) / 1024 if m else float("inf")
    return Run(p.returncode, p.stdout, p.stderr[:m.start()] if m else p.stderr, peak)


def assert_refused(r: Run, named: Path | str, *, code: int = 3, out_dir: Path | None = None,
                   marker: Path | None = None, peak_mb: float = SMALL_MB, says: str | None = None) -> str:
    """The contract for a refused file; returns the error line."""
    text = r.stdout + r.stderr
    assert r.code == code, f"exit {r.code}:\n{text}"
    assert "Traceback" not in text, text
    assert len(r.errors) == 1, text
    line = r.errors[0]
    assert Path(str(named)).name in line, line
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), repr(text)  # no raw control characters
    if says is not None:
        assert says in line, line
    if marker is not None:
        assert not marker.exists(), "the file ran code"
    if out_dir is not None:
        left = sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
        assert left == [], left
    assert r.peak_mb < peak_mb, f"peak memory {r.peak_mb:.0f} MB (bound {peak_mb} MB)"
    return line
