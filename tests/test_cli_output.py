"""Output a user can read: what frameworks write to the process's stdout/stderr (C++
logging, their own log handlers, prints) is captured unless -v/--debug; a progress bar
on a terminal, nothing on a pipe. Run as subprocesses: only real file descriptors show it."""
import pytest

from cli_process import nnconvert
from convert.ir import save
from ir_graphs import conv_bn_graph

NOISY_PLUGIN = """import logging, os
os.write(2, b"I0000 cpu_feature_guard.cc:227] C++ chatter on fd 2\\n")
os.write(1, b"oneDNN custom operations are on (fd 1)\\n")
_log = logging.getLogger("someframework")
_log.addHandler(logging.StreamHandler())  # a framework's own handler, bound to stderr
_log.warning("framework graph dump")
print("framework print on stdout")
"""
NOISE = ("C++ chatter", "oneDNN", "framework graph dump", "framework print")

DATA_DEPENDENT = """import torch
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.export refuses it, loudly
            return self.fc(x)
        return -x
def build():
    return M()
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("output")
    (d / "noisy.py").write_text(NOISY_PLUGIN)
    (d / "dd.py").write_text(DATA_DEPENDENT)
    save(conv_bn_graph(), d / "m.nnir")
    return d


def test_framework_output_only_with_verbose(work):
    r = nnconvert("--plugin", work / "noisy.py", "formats")
    assert r.returncode == 0, r.stderr
    assert "| onnx" in r.stdout or "onnx" in r.stdout
    assert not [n for n in NOISE if n in r.stdout + r.stderr], r.stdout + r.stderr
    r = nnconvert("--plugin", work / "noisy.py", "formats", "-v")
    assert r.returncode == 0 and all(n in r.stdout + r.stderr for n in NOISE), r.stdout + r.stderr


def test_torch_dump_is_not_shown_before_the_one_line_error(work, tmp_path):
    pytest.importorskip("torch")
    r = nnconvert("convert", f"{work}/dd.py:build", "--input-shape", "x:2,4", "-o", tmp_path / "dd.onnx")
    assert r.returncode == 3
    text = r.stdout + r.stderr
    assert "def forward" not in text and "symbolic_shapes" not in text, text
    assert len(text.splitlines()) <= 4 and "error:" in r.stderr, text  # step line, error, its item


def test_progress_bar_on_a_terminal_nothing_on_a_pipe(work, tmp_path):
    args = ("convert", work / "m.nnir", "-o", tmp_path / "m.onnx", "--force", "--verify", "--samples", "3")
    piped = nnconvert(*args)
    assert piped.returncode == 0, piped.stderr
    assert "»" not in piped.stderr and "\r" not in piped.stderr and "%" not in piped.stderr, piped.stderr
    assert "wrote " in piped.stderr and "PASS" in piped.stdout
    tty = nnconvert(*args, tty_stderr=True)
    assert tty.returncode == 0, tty.stderr
    assert "» reading nnir model" in tty.stderr and "verifying" in tty.stderr and "100%" in tty.stderr, tty.stderr
