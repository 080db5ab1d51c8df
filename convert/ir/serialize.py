"""Save and load the IR: ``model.nnir/graph.json`` + ``weights.safetensors``. No pickle."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvalidGraphError, ModelLoadError
from ..limits import load_json
from ..progress import Progress
from . import safetensors
from .graph import Graph, Node, Value
from .validate import validate

GRAPH_FILE = "graph.json"
WEIGHTS_FILE = "weights.safetensors"


def dumps(graph: Graph) -> str:
    return json.dumps(graph.to_json(), indent=1, sort_keys=True) + "\n"


def save(graph: Graph, folder: str | Path, progress: Progress | None = None) -> Path:
    """Write the graph folder (callers wanting atomicity write to a temp folder and rename)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / GRAPH_FILE).write_text(dumps(graph))
    safetensors.write(folder / WEIGHTS_FILE, graph.weights, progress=progress)
    return folder


def from_json(d: dict, weights: dict) -> Graph:
    if d.get("format") != "nnir":
        raise ValueError("not an nnir graph.json")
    return Graph(
        name=d["name"],
        inputs=[Value.from_json(v) for v in d["inputs"]],
        outputs=[Value.from_json(v) for v in d["outputs"]],
        nodes=[Node.from_json(n) for n in d["nodes"]],
        weights=weights,
        values={v["name"]: Value.from_json(v) for v in d.get("values", [])},
        metadata=dict(d.get("metadata", {})),
    )


def load(folder: str | Path, mmap: bool = True) -> Graph:
    folder = Path(folder)
    try:
        if not folder.is_dir():
            raise ValueError("not a folder (an .nnir model is a folder with graph.json)")
        d = load_json(str(folder), (folder / GRAPH_FILE).read_bytes(), GRAPH_FILE)
        if not isinstance(d, dict):
            raise ValueError(f"{GRAPH_FILE} is not a JSON object")
        weights = safetensors.read(folder / WEIGHTS_FILE, mmap=mmap) if (folder / WEIGHTS_FILE).exists() else {}
        g = from_json(d, weights)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
        raise ModelLoadError(str(folder), f"not a readable nnir folder ({type(e).__name__}: {e})") from e
    missing = [k for k in d.get("weights", {}) if k not in weights]
    if missing:
        raise ModelLoadError(str(folder), f"weights missing from {WEIGHTS_FILE}: {', '.join(missing[:5])}")
    declared = d.get("weights", {})
    wrong = [f"{k}: {tuple(weights[k].shape)} {weights[k].dtype}, graph.json says {tuple(v.get('shape', ()))} "
             f"{v.get('dtype')}" for k, v in sorted(declared.items()) if isinstance(v, dict)
             and (list(weights[k].shape) != list(v.get("shape", weights[k].shape))
                  or str(weights[k].dtype) != v.get("dtype", str(weights[k].dtype)))]
    if wrong:
        raise ModelLoadError(str(folder), f"{WEIGHTS_FILE} does not match graph.json: {'; '.join(wrong[:5])}")
    try:
        validate(g)
    except InvalidGraphError as e:  # the file is what is wrong: name it
        raise ModelLoadError(str(folder), str(e)) from e
    return g
