"""--input-shape on a .pt2: a dynamic batch stays dynamic (verified at two sizes), a
number pins it, a name renames it; a static export cannot be made dynamic (exit 2 with
how to export it), and no flag is ever ignored."""
from __future__ import annotations

import json

import onnx
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from click.testing import CliRunner  # noqa: E402

from convert.cli.main import main  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4 * 6 * 7, 5)

    def forward(self, x):
        y = self.act(self.conv(x))
        return self.fc(y.view(y.size(0), -1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pt2")
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(2, 3, 8, 9)
    dims = {"dynamic": {"x": {0: torch.export.Dim("batch")}}, "static": None,
            "bounded": {"x": {0: torch.export.Dim("batch", min=2, max=8)}}}
    for name, dyn in dims.items():
        torch.export.save(torch.export.export(model, (x,), dynamic_shapes=dyn), d / f"{name}.pt2")
    return d


def _convert(src, out, *extra):
    rep = out.with_suffix(".json")
    r = CliRunner().invoke(main, ["convert", str(src), "-o", str(out), "--verify", "--report", str(rep), *extra],
                           catch_exceptions=False)
    runs = json.loads(rep.read_text())["runs"] if rep.exists() else []
    return r, [tuple(run["shapes"]["x"]) for run in runs]


def _input_dims(path):
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param or d.dim_value for d in dims]


def test_dynamic_batch_stays_dynamic(files, tmp_path):
    out = tmp_path / "m.onnx"
    r, shapes = _convert(files / "dynamic.pt2", out)
    assert r.exit_code == 0, r.output
    assert _input_dims(out) == ["batch", 3, 8, 9]
    assert len({s[0] for s in shapes}) == 2  # verified at two batch sizes


def test_number_pins_a_dynamic_dimension(files, tmp_path):
    out = tmp_path / "m.onnx"
    r, shapes = _convert(files / "dynamic.pt2", out, "--input-shape", "x:4,3,8,9")
    assert r.exit_code == 0, r.output
    assert _input_dims(out) == [4, 3, 8, 9]
    assert shapes == [(4, 3, 8, 9)]


def test_name_renames_a_dynamic_dimension(files, tmp_path):
    out = tmp_path / "m.onnx"
    r, shapes = _convert(files / "dynamic.pt2", out, "--input-shape", "x:N,3,8,9")
    assert r.exit_code == 0, r.output
    assert _input_dims(out) == ["N", 3, 8, 9]
    assert len({s[0] for s in shapes}) == 2


@pytest.mark.parametrize("flag,expect", [
    ("x:batch,3,8,9", "export it with dynamic_shapes"),
    ("x:-1,3,8,9", "export it with dynamic_shapes"),
    ("x:5,3,8,9", "exported with dimension 0 = 2, not 5"),
    ("x:2,3,8", "gives 3 dimensions; the exported input has 4"),
    ("image:2,3,8,9", "inputs are ['x']"),
], ids=["symbolic", "minus_one", "other_number", "rank", "unknown_name"])
def test_static_export_refuses_what_it_cannot_do(files, tmp_path, flag, expect):
    out = tmp_path / "m.onnx"
    r, _ = _convert(files / "static.pt2", out, "--input-shape", flag)
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0] and "Traceback" not in r.output
    assert not out.exists()


def test_static_export_with_its_own_shape_converts(files, tmp_path):
    out = tmp_path / "m.onnx"
    r, shapes = _convert(files / "static.pt2", out, "--input-shape", "x:2,3,8,9")
    assert r.exit_code == 0, r.output
    assert shapes == [(2, 3, 8, 9)]


def test_pinned_size_outside_exported_range_is_refused(files, tmp_path):
    out = tmp_path / "m.onnx"
    r, _ = _convert(files / "bounded.pt2", out, "--input-shape", "x:16,3,8,9")
    assert r.exit_code == 2 and "2..8" in r.output and "outside" in r.output, r.output
    r, shapes = _convert(files / "bounded.pt2", out, "--input-shape", "x:8,3,8,9")
    assert r.exit_code == 0 and shapes == [(8, 3, 8, 9)], r.output
