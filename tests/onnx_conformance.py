"""The ONNX backend conformance suite (``onnx.backend.test.case.node``) run through
ONNX -> IR -> PyTorch module, and ONNX -> IR -> ONNX in onnxruntime.

The denominator is the in-scope cases that onnxruntime itself runs correctly on the
case's own model. Outputs are compared as ONNX's own backend harness compares them: at
the case's rtol/atol (1e-3/1e-7 for node cases, float16 included), bfloat16 at an rtol of
at least 2**-6 (two bfloat16 steps), as that harness widens it.
``python tests/onnx_conformance.py --write`` regenerates the README's per-op table;
``test_onnx_conformance.py`` fails when it drifts.
"""
from __future__ import annotations

import functools
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- onnx-conformance:start", "<!-- onnx-conformance:end -->"

# Reviewed: op families that are not tensor programs an IR of numeric tensors can hold.
OUT_OF_SCOPE = {
    # strings
    "StringNormalizer", "StringConcat", "StringSplit", "RegexFullMatch", "TfIdfVectorizer",
    # sequences, maps, optionals
    "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert", "SequenceLength",
    "SequenceMap", "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalGetElement",
    "OptionalHasElement",
    # random generators
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli",
    # training
    "Adagrad", "Adam", "Momentum", "Gradient", "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss",
    # signal processing
    "DFT", "STFT", "MelWeightMatrix", "HannWindow", "HammingWindow", "BlackmanWindow",
    # image decoding
    "ImageDecoder",
    # loops over subgraphs
    "Loop", "Scan",
}
# Element types outside the IR (string, unsigned > 8 bit, complex, float8/4, int4).
_IR_TYPES = {1, 2, 3, 5, 6, 7, 9, 10, 11, 16}


# Operand positions the IR needs as constants (axes, shapes, pads, scales, bounds): where
# a case feeds them as graph inputs, they are frozen to the case's (fixed) values, the
# way a deployed model holds them as initializers.
OPERANDS = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Squeeze": (1,), "Unsqueeze": (1,),
    "Pad": (1, 2, 3), "Resize": (1, 2, 3), "Split": (1,), "TopK": (1,), "Clip": (1, 2), "ConstantOfShape": (0,),
    "Range": (0, 1, 2), "OneHot": (1, 2), "CumSum": (1,), "Upsample": (1,), "Dropout": (1, 2), "Trilu": (1,),
    "CenterCropPad": (1,), "NonMaxSuppression": (2, 3, 4), "CumProd": (1,), "AffineGrid": (1,),
    "CausalConvWithState": (1, 2), "Col2Im": (1, 2),
    # trained parameters, which real models store as initializers
    "Conv": (1, 2), "ConvTranspose": (1, 2), "BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2),
    "LayerNormalization": (1, 2), "GroupNormalization": (1, 2), "PRelu": (1,),
    "LSTM": (1, 2, 3, 7), "GRU": (1, 2, 3), "RNN": (1, 2, 3),
    **{op: (1,) for op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceSumSquare", "ReduceL1",
                           "ReduceL2", "ReduceProd", "ReduceLogSumExp", "ReduceLogSum")},
}


def frozen(case):
    """The case's model with its operand inputs turned into initializers, and the names
    of the inputs that remain. An ``_expanded`` case (the op's function body) takes the
    op's inputs in the op's order, so those at the op's operand positions are frozen too."""
    from onnx import numpy_helper

    g = case.model.graph
    inputs = [vi.name for vi in g.input if vi.name not in {t.name for t in g.initializer}]
    operand = {n.input[k] for n in g.node for k in OPERANDS.get(n.op_type, ()) if k < len(n.input)}
    if case.name.endswith("_expanded"):
        operand |= {inputs[k] for k in OPERANDS.get(_op_of(case, _schema_names()), ()) if k < len(inputs)}
    freeze = [i for i in inputs if i in operand]
    if not freeze:
        return case.model, inputs
    m = type(case.model)()
    m.CopyFrom(case.model)
    feeds = dict(zip(inputs, case.data_sets[0][0]))
    for name in freeze:
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(feeds[name]), name))
    keep = [vi for vi in m.graph.input if vi.name not in freeze]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    return m, [i for i in inputs if i not in freeze]


@dataclass
class Case:
    name: str
    op: str
    scope: str       # "" when in scope, else why not
    ort_ok: bool
    torch_ok: bool
    onnx_ok: bool
    error: str = ""


@functools.lru_cache(maxsize=1)
def _schema_names() -> dict[str, str]:
    import onnx

    return {s.name.lower(): s.name for s in onnx.defs.get_all_schemas() if s.domain in ("", "ai.onnx")}


def _op_of(case, schema_names: dict[str, str]) -> str:
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    key = case.name[5:].replace("_", "").lower()
    best = max((k for k in schema_names if key.startswith(k)), key=len, default="")
    return schema_names.get(best, nodes[0].op_type)


def _scope(case) -> str:
    g = case.model.graph
    for n in g.node:
        if n.domain not in ("", "ai.onnx"):
            return f"domain {n.domain}"
        if n.op_type in OUT_OF_SCOPE:
            return n.op_type
    for vi in list(g.input) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            return "non-tensor type"
        if vi.type.tensor_type.elem_type not in _IR_TYPES:
            return "dtype"
    return ""


def _close(got, want, rtol: float, atol: float) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    if want.dtype.name == "bfloat16":  # two bfloat16 steps, as ONNX's harness; compared in float64
        rtol = max(rtol, 2 ** -6)
    if want.dtype.kind in "fc" or want.dtype.name == "bfloat16":
        return bool(np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                equal_nan=True))
    return bool(np.array_equal(got, want))


def _all_close(outs, want, case) -> bool:
    return len(outs) == len(want) and all(_close(g, w, case.rtol, case.atol) for g, w in zip(outs, want))


def _ort(model_bytes, feeds: dict):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    # some cases hold 0-d inputs as numpy scalars, which onnxruntime's run() does not take
    return sess.run(None, {k: np.asarray(v) for k, v in feeds.items()})


def run_case(case) -> tuple[bool, bool, bool, str]:
    """(onnxruntime ok, torch ok, ONNX round trip ok, first error)."""
    import torch

    import convert
    from convert.exporters.onnx import to_onnx

    g = case.model.graph
    inputs = [vi.name for vi in g.input if vi.name not in {t.name for t in g.initializer}]
    ort_ok = True
    try:
        for feeds, want in case.data_sets:
            if not _all_close(_ort(case.model.SerializeToString(), dict(zip(inputs, feeds))), want, case):
                ort_ok = False
    except Exception:  # noqa: BLE001
        ort_ok = False
    model, kept = frozen(case)
    datasets = [([f for name, f in zip(inputs, feeds) if name in kept], want) for feeds, want in case.data_sets]
    try:
        graph = convert.from_onnx(model)
    except Exception as e:  # noqa: BLE001
        return ort_ok, False, False, f"import: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    torch_ok, onnx_ok, error = True, True, ""
    try:
        module = convert.to_torch(graph)
        for feeds, want in datasets:
            with torch.no_grad():
                out = module(*[torch.from_numpy(np.array(f)) for f in feeds])
            out = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
            if not _all_close(out, want, case):
                torch_ok, error = False, "torch: outputs differ"
    except Exception as e:  # noqa: BLE001
        torch_ok, error = False, f"torch: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    try:
        # written at the case's own opset where that is newer than the default (as --opset would)
        opset = max([17] + [o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx")])
        data = to_onnx(graph, opset).SerializeToString()
        ir_inputs = [v.name for v in graph.inputs]
        for feeds, want in datasets:
            if not _all_close(_ort(data, dict(zip(ir_inputs, feeds))), want, case):
                onnx_ok = False
    except Exception:  # noqa: BLE001
        onnx_ok = False
    return ort_ok, torch_ok, onnx_ok, error


@functools.lru_cache(maxsize=1)
def collect() -> tuple:
    """The suite's cases (collecting them takes ~30 s: once per process)."""
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(collect_testcases())


def run_keras(case) -> bool:
    """The case through ONNX -> IR -> Keras model, compared with its expected outputs.
    Raises UnsupportedError where the Keras exporter refuses an op or attribute."""
    import convert

    model, kept = frozen(case)
    g = case.model.graph
    inputs = [vi.name for vi in g.input if vi.name not in {t.name for t in g.initializer}]
    keras_model = convert.to_keras(convert.optimize(convert.from_onnx(model)))
    for feeds, want in case.data_sets:
        xs = [f for name, f in zip(inputs, feeds) if name in kept]
        out = keras_model(xs if len(xs) > 1 else xs[0])
        if not _all_close([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])], want, case):
            return False
    return True


def run_all(progress: bool = False) -> list[Case]:
    import warnings

    import onnx

    cases = collect()
    names = _schema_names()
    out = []
    logging_off()
    for k, case in enumerate(cases):
        op, scope = _op_of(case, names), _scope(case)
        scope = scope or (op if op in OUT_OF_SCOPE else "")  # an _expanded form of an out-of-scope op
        if scope:
            out.append(Case(case.name, op, scope, False, False, False))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ort_ok, torch_ok, onnx_ok, err = run_case(case)
        out.append(Case(case.name, op, "", ort_ok, torch_ok, onnx_ok, err))
        if progress and k % 100 == 0:
            print(k, file=sys.stderr)
    return out


def logging_off() -> None:
    import logging

    logging.getLogger("convert").setLevel(logging.ERROR)


def table(cases: list[Case]) -> str:
    """The README block: totals, then per op the in-scope cases onnxruntime passes and ours."""
    counted = [c for c in cases if not c.scope and c.ort_ok]
    torch_pass = sum(c.torch_ok for c in counted)
    onnx_pass = sum(c.onnx_ok for c in counted)
    per: dict[str, Counter] = {}
    for c in counted:
        per.setdefault(c.op, Counter()).update(cases=1, torch=int(c.torch_ok), onnx=int(c.onnx_ok))
    import onnx
    import onnxruntime

    lines = [f"{START} (generated by: python tests/onnx_conformance.py --write) -->", "",
             f"onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}: {len(cases)} cases; {sum(1 for c in cases if c.scope)} out of scope; "
             f"{sum(1 for c in cases if not c.scope and not c.ort_ok)} in scope that onnxruntime itself fails; "
             f"of the remaining {len(counted)}: **{torch_pass} ({100 * torch_pass / max(len(counted), 1):.1f}%) "
             f"pass to PyTorch**, {onnx_pass} ({100 * onnx_pass / max(len(counted), 1):.1f}%) through the ONNX "
             "round trip.", "",
             "| ONNX op | cases | to PyTorch | ONNX round trip |", "|---|---:|---:|---:|"]
    for op in sorted(per):
        c = per[op]
        lines.append(f"| {op} | {c['cases']} | {c['torch']} | {c['onnx']} |")
    lines += ["", END]
    return "\n".join(lines)


def readme_block() -> str:
    text = README.read_text()
    m = re.search(re.escape(START) + r".*?" + re.escape(END), text, re.S)
    return m.group(0) if m else ""


def write_readme(block: str) -> None:
    text = README.read_text()
    old = readme_block()
    README.write_text(text.replace(old, block) if old else text.rstrip("\n") + "\n\n" + block + "\n")


if __name__ == "__main__":
    t0 = time.perf_counter()
    results = run_all(progress="-v" in sys.argv)
    print(f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if "--failures" in sys.argv:
        for c in results:
            if not c.scope and c.ort_ok and not c.torch_ok:
                print(c.name, c.op, c.error)
    if "--write" in sys.argv:
        write_readme(table(results))
    print(table(results).splitlines()[2])
