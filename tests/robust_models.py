"""Small valid model files of every readable format, for the bad-input, safety and
output tests. Each is derived from one tiny IR graph (conv + BN + ReLU) through
nnconvert's own writers, except the torch factory file and the legacy .h5 (written by
Keras itself)."""
from __future__ import annotations

import os
import signal
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from convert.api import convert_file
from convert.cli.main import main
from convert.ir import save
from ir_graphs import conv_bn_graph

TORCH_FACTORY = textwrap.dedent("""
    import torch


    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


    def build():
        torch.manual_seed(0)
        return Tiny()


    def example_inputs():
        return (torch.randn(1, 3, 6, 6),)
""")


def make_nnir(folder: Path) -> Path:
    path = folder / "m.nnir"
    save(conv_bn_graph(), path)
    return path


def make_caffe(folder: Path, nnir: Path) -> tuple[Path, Path]:
    files = convert_file(str(nnir), str(folder / "m.prototxt")).files
    proto = next(f for f in files if f.suffix == ".prototxt")
    model = next(f for f in files if f.suffix == ".caffemodel")
    return proto, model


def make_pt2(folder: Path, nnir: Path) -> Path:
    return convert_file(str(nnir), str(folder / "m.pt2")).files[0]


def make_keras(folder: Path, nnir: Path) -> Path:
    return convert_file(str(nnir), str(folder / "m.keras")).files[0]


def make_h5(folder: Path, keras_file: Path) -> Path:
    import keras

    model = keras.saving.load_model(str(keras_file), compile=False)
    path = folder / "m.h5"
    model.save(str(path))
    return path


def make_torch_factory(folder: Path) -> tuple[Path, Path]:
    """(model.py, state_dict.pt) for ``model.py:build --weights state.pt``."""
    import torch

    py = folder / "tiny_model.py"
    py.write_text(TORCH_FACTORY)
    ns: dict = {}
    exec(compile(TORCH_FACTORY, str(py), "exec"), ns)
    sd = folder / "tiny_state.pt"
    torch.save(ns["build"]().state_dict(), sd)
    return py, sd


def nan_nnir(folder: Path) -> Path:
    """The graph with one NaN and one Inf weight value."""
    g = conv_bn_graph()
    w = np.array(g.weights["w"], copy=True)
    w.flat[0], w.flat[1] = np.nan, np.inf
    g.weights["w"] = w
    path = folder / "nan.nnir"
    save(g, path)
    return path


class TimedOut(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Fail (instead of hanging the suite) when the body runs longer than ``seconds``."""

    def _raise(*_):
        raise TimedOut(f"no result within {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(*args, seconds: int = 60):
    with time_limit(seconds):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def assert_clean_failure(r, source: Path | str, out_dir: Path, code: int = 3, culprit: Path | None = None) -> None:
    """The bad-input contract: exit ``code``, one error line naming the file, no
    traceback, nothing written next to the output."""
    text = r.output
    assert r.exit_code == code, f"exit {r.exit_code}: {text}\n{r.exception!r}"
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    named = Path(str(culprit or source).split(".py:")[0]).name
    assert named in errors[0], text
    leftovers = [p.name for p in out_dir.iterdir()] if out_dir.exists() else []
    assert leftovers == [], leftovers


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def env_without_gpu() -> dict:
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env
