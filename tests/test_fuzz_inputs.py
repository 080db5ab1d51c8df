"""Property-based bad input: hypothesis mutates valid model files (truncation, bit
flips, overwritten and inserted bytes) and every result must keep the contract: exit 0
with the output written, or exit 3 with one error line naming the file, no traceback,
no output. Bounded and derandomized so the suite stays fast and reproducible."""
from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robust_models import assert_clean_failure, cli, listing, make_caffe, make_keras, make_nnir, make_pt2

FUZZ = settings(max_examples=30, deadline=timedelta(seconds=30), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_src")
    nnir = make_nnir(d)
    proto, caffemodel = make_caffe(d, nnir)
    return {"nnir-weights": nnir / "weights.safetensors", "nnir-graph": nnir / "graph.json", "prototxt": proto,
            "caffemodel": caffemodel, "keras": make_keras(d, nnir), "pt2": make_pt2(d, nnir), "_nnir": nnir}


@st.composite
def mutations(draw, size: int):
    """A list of (kind, position, value) edits applied in order."""
    n = draw(st.integers(1, 3))
    return [(draw(st.sampled_from(["flip", "truncate", "overwrite", "insert", "delete"])),
             draw(st.integers(0, max(size - 1, 0))), draw(st.binary(min_size=1, max_size=16)))
            for _ in range(n)]


def mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for kind, pos, val in edits:
        pos = min(pos, max(len(buf) - 1, 0))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << (val[0] % 8)
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "overwrite":
            buf[pos:pos + len(val)] = val
        elif kind == "insert":
            buf[pos:pos] = val
        elif kind == "delete":
            del buf[pos:pos + len(val)]
    return bytes(buf)


def check_contract(source: Path, extra: list, culprit: Path | None = None) -> None:
    out = Path(tempfile.mkdtemp(prefix="fuzz_out_"))
    try:
        r = cli("convert", source, *extra, "-o", out / "m.onnx", seconds=60)
        if r.exit_code == 0:
            assert listing(out) == ["m.onnx"] and "Traceback" not in r.output
        else:
            assert_clean_failure(r, source, out, culprit=culprit)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _case(files, key: str, data: bytes, work: Path):
    """Place the mutated bytes; returns (source, extra args, damaged file)."""
    if key.startswith("nnir"):
        nnir = work / "m.nnir"
        shutil.copytree(files["_nnir"], nnir)
        damaged = nnir / files[key].name
        damaged.write_bytes(data)
        return nnir, [], nnir
    damaged = work / files[key].name
    damaged.write_bytes(data)
    if key == "prototxt":
        return damaged, ["--weights", str(files["caffemodel"])], damaged
    return damaged, [], damaged


@pytest.mark.parametrize("key", ["nnir-weights", "nnir-graph", "prototxt", "caffemodel", "keras", "pt2"])
def test_mutated_files_keep_the_contract(files, key):
    raw = files[key].read_bytes()

    @FUZZ
    @given(edits=mutations(len(raw)))
    def run(edits):
        work = Path(tempfile.mkdtemp(prefix="fuzz_in_"))
        try:
            source, extra, _ = _case(files, key, mutate(raw, edits), work)
            check_contract(source, extra)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    run()
