"""The verification report: a typed object, JSON (schemas/verify-report.schema.json),
Markdown, and the short table the CLI prints."""
from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

from .metrics import OutputMetrics

# Bump when the JSON layout changes incompatibly (schemas/verify-report.schema.json).
REPORT_VERSION = 1


@dataclass
class RunResult:
    """One input set: its seed and shapes, and the metrics of every output."""

    seed: int | None
    shapes: dict[str, list[int]]
    outputs: list[OutputMetrics]
    error: str | None = None  # the target failed to run on these inputs

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.ok for o in self.outputs)


@dataclass
class LayerResult:
    """One IR value compared between both sides; ``layer`` is the source layer that
    starts the group of IR nodes computing it (``covers`` lists the whole group when
    values in between exist on one side only, e.g. a BatchNorm folded into its Conv or
    a Caffe in-place chain)."""

    index: int
    value: str
    layer: str
    layer_type: str
    op: str
    shape: list[int]
    max_abs: float
    mean_abs: float
    max_rel: float
    cosine: float
    allowed: float  # atol + rtol * max|expected|: the largest error any element may have
    ok: bool
    covers: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class VerifyReport:
    source: str
    target: str
    device: str
    providers: list[str]
    runs: list[RunResult] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    layers: list[LayerResult] = field(default_factory=list)
    first_divergence: LayerResult | None = None
    repro: dict[str, str] = field(default_factory=dict)
    plot: str | None = None
    notes: list[str] = field(default_factory=list)
    layer_run: int | None = None  # which input set the per-layer comparison used
    precision: str = "fp32"  # what the target computes in (--precision); the source is the reference
    precision_from: str = ""  # where ``precision`` came from: given, the file's metadata or weights, the default

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    def __repr__(self) -> str:
        worst = max((o.max_abs for o in self.worst()), default=0.0)
        return (f"<VerifyReport {'PASS' if self.ok else 'FAIL'}: {self.source} vs {self.target}, "
                f"{len(self.runs)} run(s), max abs error {worst:.3g}>")

    def worst(self) -> list[OutputMetrics]:
        """Per output name, the metrics of the run where it was worst."""
        best: dict[str, OutputMetrics] = {}
        for r in self.runs:
            for o in r.outputs:
                cur = best.get(o.name)
                if cur is None or (cur.ok and not o.ok) or (cur.ok == o.ok and o.max_abs > cur.max_abs):
                    best[o.name] = o
        return list(best.values())

    def tolerances(self) -> list[str]:
        """The distinct tolerances used, with where they came from, e.g.
        "float32: rtol 0.0001, atol 0.0001 (default float32 cpu)"."""
        seen: list[str] = []
        for r in self.runs:
            for o in r.outputs:
                t = f"{o.dtype}: rtol {o.rtol:g}, atol {o.atol:g} ({o.tolerance_from or 'given'})"
                if t not in seen:
                    seen.append(t)
        return seen

    def _from(self) -> str:
        return f" ({self.precision_from})" if self.precision_from else ""

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data (non-finite numbers as "inf"/"-inf"/"nan")."""
        return _finite({
            "report_version": REPORT_VERSION,
            "verdict": "pass" if self.ok else "fail",
            "source": self.source,
            "target": self.target,
            "device": self.device,
            "precision": self.precision,
            "precision_from": self.precision_from,
            "providers": list(self.providers),
            "environment": dict(self.environment),
            "tolerances": self.tolerances(),
            "runs": [{"seed": r.seed, "shapes": r.shapes, "ok": r.ok, "error": r.error,
                      "outputs": [o.to_json() for o in r.outputs]} for r in self.runs],
            "layer_run": self.layer_run,
            "layers": [asdict(layer) for layer in self.layers],
            "first_divergence": asdict(self.first_divergence) if self.first_divergence else None,
            "repro": dict(self.repro),
            "plot": self.plot,
            "notes": list(self.notes),
        })

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True, allow_nan=False) + "\n"

    def table(self) -> str:
        """The short form the CLI prints: one row per output and input set, the verdict
        with the tolerances used, and the first diverging layer."""
        rows = [("output", "shape", "inputs", "max abs", "max rel", "cosine", "top-1", "outside", "result")]
        for r in self.runs:
            shapes = " ".join("x".join(map(str, v)) for v in r.shapes.values())
            if r.error:
                rows.append(("-", "-", shapes, "-", "-", "-", "-", "-", f"FAIL (target error: {r.error})"))
            for o in r.outputs:
                rows.append((o.name, "x".join(map(str, o.shape)), shapes, f"{o.max_abs:.2e}", f"{o.max_rel:.2e}", f"{o.cosine:.6f}",
                             "-" if o.top1 is None else f"{o.top1:.2f}", f"{o.frac_outside:.2%}",
                             "PASS" if o.ok else "FAIL" + (f" ({o.note})" if o.note else "")))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"verification {verdict}: {self.source} vs {self.target} on {self.device} "
                     f"({', '.join(self.providers) or 'n/a'}), {len(self.runs)} input set(s)")
        if self.precision != "fp32":
            lines.append(f"precision: the target computes in {self.precision}{self._from()}; the float32 source is "
                         "the reference")
        tols = self.tolerances()
        if tols:
            lines.append("tolerance: " + "; ".join(tols) + "  (pass: |target - source| <= atol + rtol * |source|)")
        if self.layers:
            bad = sum(1 for layer in self.layers if not layer.ok)
            lines.append(f"per layer: {len(self.layers)} value(s) compared, {bad} above tolerance")
        if self.first_divergence:
            f = self.first_divergence
            also = f" (with {', '.join(f.covers[1:])})" if len(f.covers) > 1 else ""
            lines.append(f"first diverging layer: {f.layer} ({f.layer_type}){also}, value {f.value!r}, "
                         f"max abs {f.max_abs:.2e} > allowed {f.allowed:.2e}")
        for k, v in self.repro.items():
            lines.append(f"repro {k}: {v}")
        if self.plot:
            lines.append(f"plot: {self.plot}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_markdown(self, relative_to: str | None = None) -> str:
        """The full report; paths of the plot and repro are written relative to the
        Markdown file's folder (``relative_to``) so the image shows where it is opened."""
        rel = _relative(relative_to)
        out = [f"# Verification report: {'PASS' if self.ok else 'FAIL'}", "",
               f"- source: `{self.source}`", f"- target: `{self.target}`",
               f"- device: {self.device} (execution providers that ran: {', '.join(self.providers) or 'n/a'})",
               f"- target precision: {self.precision} ({self.precision_from + '; ' if self.precision_from else ''}"
               "the source is the reference)"]
        out += [f"- tolerance {t}" for t in self.tolerances()]
        out += ["- an element passes when |target - source| <= atol + rtol * |source|; NaN/Inf must match exactly",
                "", "## Environment", "", "| package | version |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in sorted(self.environment.items())]
        out += ["", "## Outputs", "", "| seed | input shapes | output | max abs | mean abs | max rel | cosine | "
                "outside tol | min atol | min rtol | top-1 | top-5 | rtol/atol | result |", "|" + "---|" * 14]
        for r in self.runs:
            shapes = "; ".join(f"{k}: {'x'.join(map(str, v))}" for k, v in r.shapes.items())
            if r.error:
                out.append(f"| {r.seed} | {shapes} | - |" + " - |" * 10 + f" FAIL: target error: {_md(r.error)} |")
            for o in r.outputs:
                res = "PASS" if o.ok else "FAIL" + (f": {_md(o.note)}" if o.note else "")
                out.append(f"| {r.seed} | {shapes} | {o.name} | {o.max_abs:.3e} | {o.mean_abs:.3e} | {o.max_rel:.3e} | "
                           f"{o.cosine:.6f} | {o.frac_outside:.2%} | {o.min_atol:.2e} | {o.min_rtol:.2e} | "
                           f"{'-' if o.top1 is None else f'{o.top1:.2f}'} | {'-' if o.top5 is None else f'{o.top5:.2f}'} | "
                           f"{o.rtol:g}/{o.atol:g} | {res} |")
        if self.layers:
            run = f" (input set {self.layer_run})" if self.layer_run is not None else ""
            out += ["", f"## Per layer{run}", "",
                    "| # | value | layer | type | IR op | shape | max abs | allowed | cosine | result |",
                    "|---|---|---|---|---|---|---|---|---|---|"]
            for layer in self.layers:
                name = layer.layer + (f" (+{len(layer.covers) - 1})" if len(layer.covers) > 1 else "")
                res = "ok" if layer.ok else "**DIVERGES**"
                out.append(f"| {layer.index} | `{layer.value}` | {_md(name)} | {layer.layer_type} | {layer.op} | "
                           f"{'x'.join(map(str, layer.shape))} | {layer.max_abs:.3e} | {layer.allowed:.1e} | "
                           f"{layer.cosine:.6f} | {res} |")
        if self.first_divergence:
            f = self.first_divergence
            out += ["", f"**First diverging layer:** `{f.layer}` ({f.layer_type}, IR op {f.op}), value `{f.value}`: "
                        f"max abs error {f.max_abs:.3e}, allowed {f.allowed:.1e}."]
            if len(f.covers) > 1:
                out.append(f"The compared value is computed by {', '.join(f.covers)}: the values in between exist on "
                           "one side only (fused or in place), so any of these layers may be the cause.")
        elif self.layers:
            out += ["", "No layer is above tolerance."]
        if self.repro:
            out += ["", "Repro (single-layer ONNX model, its input arrays and the source's expected output):", ""]
            out += [f"- {k}: `{rel(v) if k in ('onnx', 'npz') else v}`" for k, v in self.repro.items()]
        if self.plot:
            out += ["", f"![max abs error by depth]({rel(self.plot)})"]
        if self.notes:
            out += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _relative(base: str | None):
    import os

    def rel(path: str) -> str:
        if not base:
            return path
        try:
            return os.path.relpath(path, os.path.dirname(os.path.abspath(base)))
        except ValueError:
            return path

    return rel


def _finite(x: Any) -> Any:
    """JSON has no Infinity/NaN: spell them as strings (the schema allows exactly these)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def environment(source_framework: str = "", source_version: str = "") -> dict[str, str]:
    import numpy
    import onnx
    import onnxruntime

    from .. import __version__

    env = {"nnconvert": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "platform": platform.platform()}
    # "torch.export" / "keras-h5" are formats of the torch / keras frameworks.
    framework = source_framework.split(".")[0].split("-")[0]
    if framework and framework != "nnir":  # the IR has no runtime of its own
        env[framework] = source_version or "unknown"
    return env
