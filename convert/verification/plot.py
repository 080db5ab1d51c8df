"""Error against depth for every compared layer, as a PNG (matplotlib, optional)."""
from __future__ import annotations

from pathlib import Path

from .report import LayerResult

FLOOR = 1e-12  # exact zeros drawn here on the log axis


def matplotlib_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def plot_layers(layers: list[LayerResult], path: str | Path, title: str = "") -> str:
    """Max abs error per compared value (log scale), the error each may have (atol +
    rtol * max|source|), and the first divergence marked. Returns the path written."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in CI and on servers
    import matplotlib.pyplot as plt

    xs = [layer.index for layer in layers]
    err = [max(layer.max_abs, FLOOR) if layer.max_abs == layer.max_abs else 1e30 for layer in layers]
    allowed = [max(layer.allowed, FLOOR) for layer in layers]
    n = len(layers)
    fig, ax = plt.subplots(figsize=(min(max(8.0, 0.32 * n + 4.5), 18.0), 4.8), dpi=110)
    ax.semilogy(xs, err, "-o", color="#1f77b4", ms=4, lw=1.4, label=f"max abs error\n(exact 0 drawn at {FLOOR:g})")
    ax.step(xs, allowed, where="mid", color="#2ca02c", ls="--", lw=1.2, label="allowed (atol + rtol·max|source|)")
    bad = [(x, e) for x, e, layer in zip(xs, err, layers) if not layer.ok]
    if bad:
        ax.scatter([b[0] for b in bad], [b[1] for b in bad], color="#d62728", zorder=3, s=28, label="above tolerance")
        first = next(layer for layer in layers if not layer.ok)
        fx, fy = first.index, err[first.index]
        ax.axvline(fx, color="#d62728", lw=1, alpha=0.5)
        ax.annotate(f"first divergence:\n{first.layer} ({first.layer_type})", (fx, fy), xytext=(12, -28),
                    textcoords="offset points", color="#d62728", fontsize=9,
                    arrowprops={"arrowstyle": "->", "color": "#d62728"})
    if n <= 40:
        ax.set_xticks(xs)
        ax.set_xticklabels([_short(layer.layer) for layer in layers], rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("compared layer (graph order)")
    ax.set_ylabel("max abs error (log)")
    ax.set_title(title or "error by depth", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def _short(name: str, width: int = 22) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]
