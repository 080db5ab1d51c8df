"""The verification report: a typed object, JSON (schemas/verify-report.schema.json),
Markdown, and the short table the CLI prints."""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

from .metrics import OutputMetrics

REPORT_VERSION = 1


@dataclass
class RunResult:
    """One input set: its seed and shapes, and the metrics of every output."""

    seed: int | None
    shapes: dict[str, list[int]]
    outputs: list[OutputMetrics]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)


@dataclass
class LayerResult:
    value: str
    layer: str
    layer_type: str
    op: str
    max_abs: float
    max_rel: float
    ok: bool


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

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.ok for r in self.runs)

    def worst(self) -> list[OutputMetrics]:
        """Per output name, the metrics of the run where it was worst."""
        best: dict[str, OutputMetrics] = {}
        for r in self.runs:
            for o in r.outputs:
                cur = best.get(o.name)
                if cur is None or (cur.ok and not o.ok) or (cur.ok == o.ok and o.max_abs > cur.max_abs):
                    best[o.name] = o
        return list(best.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "verdict": "pass" if self.ok else "fail",
            "source": self.source,
            "target": self.target,
            "device": self.device,
            "providers": list(self.providers),
            "environment": dict(self.environment),
            "runs": [{"seed": r.seed, "shapes": r.shapes, "ok": r.ok, "outputs": [o.to_json() for o in r.outputs]}
                     for r in self.runs],
            "layers": [vars(layer) for layer in self.layers],
            "first_divergence": vars(self.first_divergence) if self.first_divergence else None,
            "repro": dict(self.repro),
            "plot": self.plot,
            "notes": list(self.notes),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True, default=_num) + "\n"

    def table(self) -> str:
        rows = [("output", "shape", "max abs", "max rel", "cosine", "top-1", "rtol/atol", "result")]
        for r in self.runs:
            for o in r.outputs:
                rows.append((o.name, "x".join(map(str, o.shape)), f"{o.max_abs:.2e}", f"{o.max_rel:.2e}",
                             f"{o.cosine:.6f}", "-" if o.top1 is None else f"{o.top1:.2f}",
                             f"{o.rtol:g}/{o.atol:g}", "PASS" if o.ok else "FAIL" + (f" ({o.note})" if o.note else "")))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"verification {verdict}: {self.source} vs {self.target} on {self.device} "
                     f"({', '.join(self.providers) or 'n/a'}), {len(self.runs)} input set(s)")
        if self.first_divergence:
            f = self.first_divergence
            lines.append(f"first diverging layer: {f.layer} ({f.layer_type}, IR {f.op}) max abs {f.max_abs:.2e}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        out = [f"# Verification report: {'PASS' if self.ok else 'FAIL'}", "",
               f"- source: `{self.source}`", f"- target: `{self.target}`",
               f"- device: {self.device} (providers: {', '.join(self.providers) or 'n/a'})", "",
               "## Environment", "", "| package | version |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in sorted(self.environment.items())]
        out += ["", "## Outputs", "", "| seed | input shapes | output | max abs | mean abs | max rel | cosine | "
                "outside tol | min atol | top-1 | top-5 | rtol/atol | result |", "|" + "---|" * 13]
        for r in self.runs:
            shapes = "; ".join(f"{k}: {'x'.join(map(str, v))}" for k, v in r.shapes.items())
            for o in r.outputs:
                out.append(f"| {r.seed} | {shapes} | {o.name} | {o.max_abs:.3e} | {o.mean_abs:.3e} | {o.max_rel:.3e} | "
                           f"{o.cosine:.6f} | {o.frac_outside:.2%} | {o.min_atol:.2e} | "
                           f"{'-' if o.top1 is None else f'{o.top1:.2f}'} | {'-' if o.top5 is None else f'{o.top5:.2f}'} | "
                           f"{o.rtol:g}/{o.atol:g} | {'PASS' if o.ok else 'FAIL'} |")
        if self.layers:
            out += ["", "## Per layer", "", "| # | layer | type | IR op | max abs | max rel | result |", "|---|---|---|---|---|---|---|"]
            for i, layer in enumerate(self.layers):
                out.append(f"| {i} | {layer.layer} | {layer.layer_type} | {layer.op} | {layer.max_abs:.3e} | "
                           f"{layer.max_rel:.3e} | {'ok' if layer.ok else 'DIVERGES'} |")
        if self.first_divergence:
            f = self.first_divergence
            out += ["", f"**First diverging layer:** `{f.layer}` ({f.layer_type}, IR op {f.op}), max abs error {f.max_abs:.3e}."]
        if self.repro:
            out += ["", "Repro files: " + ", ".join(f"`{v}`" for v in self.repro.values())]
        if self.plot:
            out += ["", f"![error by depth]({self.plot})"]
        if self.notes:
            out += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _num(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


def environment(source_framework: str = "", source_version: str = "") -> dict[str, str]:
    import numpy
    import onnx
    import onnxruntime

    from .. import __version__

    env = {"nnconvert": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "platform": platform.platform()}
    if source_framework:
        env[source_framework] = source_version or "unknown"
    return env
