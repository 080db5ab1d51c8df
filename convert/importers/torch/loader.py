"""Load PyTorch model files: ``.pt2`` (torch.export), ``file.py:factory`` (+ state_dict),
and, only when trusted, pickled ``.pt``/``.pth`` modules."""
from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...errors import ModelLoadError, NNConvertError, UsageError, shorten
from ...flags import flag, shape_hint
from ...loaded import LoadedModel
from .trace import as_tuple, convert_program

_FACTORY = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")
DYNAMIC_EXAMPLE_SIZE = 2  # example size for a dynamic dimension (0 and 1 would be specialised)


def load(path: str, *, weights: str | None = None, trust_pickle: bool = False,
         input_shapes: dict[str, tuple] | None = None, bridge: bool = False) -> LoadedModel:
    """``bridge``: the pre-flight check's import, unsupported nodes in ``.gaps``."""
    m = _FACTORY.match(str(path))
    gaps: list | None = [] if bridge else None
    try:
        if m:
            return _with_gaps(_load_factory(m["file"], m["attr"], weights, input_shapes, gaps), gaps)
        p = Path(path)
        if not p.is_file():
            raise ModelLoadError(path, "no such file")
        if p.suffix == ".pt2":
            return _with_gaps(_load_pt2(p, trust_pickle, input_shapes, gaps), gaps)
        if p.suffix in (".pt", ".pth", ".bin"):
            return _with_gaps(_load_pickle(p, trust_pickle, input_shapes, gaps), gaps)
        raise ModelLoadError(path, "not a PyTorch model (expected model.pt2, file.py:factory or a .pt/.pth file)")
    except NNConvertError:
        raise
    except Exception as e:  # noqa: BLE001  (one clear line instead of a traceback)
        raise ModelLoadError(path, f"{type(e).__name__}: {_first_line(e)}") from e


def _with_gaps(loaded: LoadedModel, gaps: list | None) -> LoadedModel:
    loaded.gaps = list(gaps or [])
    return loaded


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


# -- .pt2 ---------------------------------------------------------------------
def _load_pt2(p: Path, trust_pickle: bool = False, input_shapes: dict[str, tuple] | None = None,
              gaps: list | None = None) -> LoadedModel:
    """By default the archive reader (no torch, nothing from the file evaluated);
    ``trust_pickle`` (``--trust-code``) lets torch.export.load read the file as it is."""
    if trust_pickle:
        return _load_pt2_with_torch(p, input_shapes, gaps)
    from .pt2_archive import read_pt2
    from .pt2_program import build_program

    archive = read_pt2(p)
    graph, origin = convert_program(build_program(archive), None, p.stem, input_shapes, _budget(p, archive),
                                    gaps)
    del archive
    ins, outs = [v.name for v in graph.inputs], [v.name for v in graph.outputs]
    cache: dict[str, Any] = {}

    def module():
        # torch reads only what the reader validated (see safe_load.load_validated). The
        # archive is read again here, for verification only: holding the first reading
        # would keep every original weight alive while the passes replace them.
        if "m" not in cache:
            from .safe_load import load_validated

            cache["m"] = load_validated(read_pt2(p)).module()
        return cache["m"]

    def run(inputs):
        return make_runner(module(), ins, outs)(inputs)

    def run_layers(inputs, value_names):
        return make_layer_runner(module(), ins, origin)(inputs, value_names)

    return LoadedModel(graph, "torch.export", str(p), run=run, run_layers=run_layers,
                       framework_version=_installed_torch_version())


def _budget(p: Path, archive):
    """The file's budget (limits.Budget), charged with the archive's own tensors: what is
    left bounds the constants the importer creates from declared shapes."""
    from ... import limits

    budget = limits.Budget(str(p), p.stat().st_size)
    for kind, arrays in (("weight", archive.state_dict), ("constant", archive.constants)):
        for name, arr in arrays.items():
            budget.claim(f"{kind} {name!r}", arr.shape, arr.itemsize)
    return budget


def _installed_torch_version() -> str:
    """The torch that would run the source, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch").split("+")[0]
    except PackageNotFoundError:
        return ""


def _load_pt2_with_torch(p: Path, input_shapes: dict[str, tuple] | None = None,
                         gaps: list | None = None) -> LoadedModel:
    import zipfile

    from .safe_load import load_trusted, quiet_export_log

    if not zipfile.is_zipfile(p):
        raise ModelLoadError(str(p), "not a torch.export archive (not a zip file: truncated or corrupted?)")
    try:
        with quiet_export_log():
            ep = load_trusted(p)
    except NNConvertError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(str(p), f"not a readable torch.export archive (truncated or corrupted?): "
                                     f"{_first_line(e)}") from e
    graph, origin = convert_program(ep, None, p.stem, input_shapes, gaps=gaps)
    module = ep.module()
    return _loaded(graph, origin, module, "torch.export", str(p), fx_module=module)


# -- file.py:factory ----------------------------------------------------------
def _import_file(file: str):
    path = Path(file)
    if not path.is_file():
        raise ModelLoadError(file, "no such file")
    name = f"nnconvert_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(file, f"importing it failed: {type(e).__name__}: {_first_line(e)}") from e
    finally:
        sys.path.pop(0)
    return mod


def _load_factory(file: str, attr: str, weights: str | None, input_shapes, gaps: list | None = None) -> LoadedModel:
    import torch

    mod = _import_file(file)
    factory = getattr(mod, attr, None)
    if factory is None or not callable(factory):
        raise ModelLoadError(file, f"has no callable {attr!r}")
    module = factory()
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(file, f"{attr}() returned {type(module).__name__}, not a torch.nn.Module")
    if weights:
        _load_weights(module, weights)
    args, axes = _examples(module, mod, input_shapes, f"{file}:{attr}")
    return _from_module(module, args, axes, "torch.py", f"{file}:{attr}", gaps)


def _load_weights(module, weights: str) -> None:
    import torch

    if not Path(weights).is_file():
        raise ModelLoadError(weights, "no such file")
    try:
        sd = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(weights, f"not a state_dict readable with weights_only=True: {_first_line(e)}") from e
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise ModelLoadError(weights, f"holds a {type(sd).__name__}, not a state_dict")
    missing, unexpected = [], []
    try:
        res = module.load_state_dict(sd, strict=False)
        missing, unexpected = list(res.missing_keys), list(res.unexpected_keys)
    except Exception as e:  # noqa: BLE001  (shape mismatches)
        # torch's first line only says "Error(s) in loading state_dict": keep the detail.
        err = ModelLoadError(weights, f"does not fit the model: {shorten(str(e))}")
        err.full = f"{weights}: does not fit the model: {e}"
        raise err from e
    if missing or unexpected:
        raise ModelLoadError(weights, f"does not fit the model: missing keys {missing[:5]}, "
                                      f"unexpected keys {unexpected[:5]}")


def _forward_args(module) -> tuple[list[str], list[str]]:
    """forward()'s positional argument names, and those without a default."""
    params = [(n, p) for n, p in inspect.signature(module.forward).parameters.items()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [n for n, _ in params], [n for n, p in params if p.default is p.empty]


def _examples(module, mod, input_shapes, where: str) -> tuple[tuple, list[set[int]]]:
    """Example inputs from --input-shape (a number is a static size, a name or -1 a
    dynamic one), else example_inputs()/EXAMPLE_INPUTS in the file (batch dynamic)."""
    import torch

    names, required = _forward_args(module)
    examples = _file_examples(mod) if mod is not None else None
    if input_shapes:
        unknown = sorted(set(input_shapes) - set(names))
        if unknown:
            raise UsageError(f"{where}: input shapes are given for {unknown}, which are not forward() "
                             f"arguments {names}")
        missing = [n for n in required if n not in input_shapes]
        if missing:
            raise UsageError(f"{where}: forward() argument(s) {missing} have no shape; pass "
                             f"{shape_hint({n: ('D0', 'D1', '...') for n in missing})}")
        args, axes = [], []
        for n in names:
            if n not in input_shapes:
                break
            dims = list(input_shapes[n])
            dyn = {i for i, d in enumerate(dims) if isinstance(d, str) or d is None or d == -1}
            sizes = [DYNAMIC_EXAMPLE_SIZE if i in dyn else int(d) for i, d in enumerate(dims)]
            like = examples[len(args)] if examples is not None and len(examples) > len(args) else None
            args.append(_example_of(sizes, like))
            axes.append(dyn)
        return tuple(args), axes
    if examples is None:
        raise ModelLoadError(where, f"no example inputs: pass {_example_hint(required or names)}"
                                    + (" (or define example_inputs() in the file)" if mod is not None else ""))
    return examples, [{0} for _ in examples]


def _file_examples(mod) -> tuple | None:
    """example_inputs() or EXAMPLE_INPUTS of the model's file, if it has them."""
    fn = getattr(mod, "example_inputs", None)
    if callable(fn):
        return as_tuple(fn())
    if getattr(mod, "EXAMPLE_INPUTS", None) is not None:
        return as_tuple(mod.EXAMPLE_INPUTS)
    return None


def _example_of(sizes: list[int], like):
    """An example input of ``sizes`` (--input-shape). Where the file's own example is an
    integer or bool tensor (token ids, masks), its values are repeated to the new size, so
    ids stay within the vocabulary; otherwise random floats."""
    import numpy as np
    import torch

    if isinstance(like, torch.Tensor) and not like.is_floating_point() and like.numel():
        return torch.from_numpy(np.resize(like.detach().cpu().numpy(), sizes).copy())
    return torch.randn(*sizes)


def _example_hint(names: list[str]) -> str:
    return shape_hint({n: ("batch", 3, 224, 224) for n in (names or ["x"])})


# -- pickled modules -----------------------------------------------------------
def _load_pickle(p: Path, trust_pickle: bool, input_shapes, gaps: list | None = None) -> LoadedModel:
    import torch

    if not trust_pickle:
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001
            raise ModelLoadError(str(p), "is a pickled module; unpickling runs arbitrary code, so it is refused. "
                                         f"Pass {flag('trust_pickle')} if you trust the file, or use "
                                         f"file.py:factory with {flag('weights', 'STATE_DICT.pt')}") from None
        raise ModelLoadError(str(p), f"holds only weights ({type(obj).__name__}); pass the model code as "
                                     f"file.py:factory with {flag('weights', str(p))}")
    # The classes of a pickled module live in the user's code: like a script calling
    # torch.load, find them beside the file and in the working directory.
    extra = [str(p.resolve().parent), str(Path.cwd())]
    sys.path[:0] = extra
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        raise ModelLoadError(str(p), f"the pickled module needs Python module {e.name!r}, which is neither "
                                     f"beside the file nor in the working directory nor installed") from e
    finally:
        del sys.path[:len(extra)]
    if not isinstance(obj, torch.nn.Module):
        raise ModelLoadError(str(p), f"holds a {type(obj).__name__}, not a torch.nn.Module; pass the model "
                                     f"code as file.py:factory with {flag('weights', str(p))}")
    if not input_shapes:
        raise ModelLoadError(str(p), f"no example inputs: pass {_example_hint(_forward_args(obj)[1])}")
    args, axes = _examples(obj, None, input_shapes, str(p))
    return _from_module(obj, args, axes, "torch.pickle", str(p), gaps)


# -- running --------------------------------------------------------------------
def _from_module(module, args: tuple, axes, fmt: str, path: str, gaps: list | None = None) -> LoadedModel:
    from .fx.front import from_module  # torch.fx when it can, else torch.export

    graph, origin, gm, ep = from_module(module, args, dynamic_batch=axes, input_names=None, gaps=gaps)
    return _loaded(graph, origin, module, fmt, path, fx_module=gm, ep=ep)


def _loaded(graph, origin, module, fmt: str, path: str, fx_module=None, ep=None) -> LoadedModel:
    run = make_runner(module, [v.name for v in graph.inputs], [v.name for v in graph.outputs])
    fx = fx_module if fx_module is not None else (ep.module() if ep is not None else None)
    run_layers = make_layer_runner(fx, [v.name for v in graph.inputs], origin) if fx is not None else None
    return LoadedModel(graph, fmt, path, run=run, run_layers=run_layers, framework_version=_torch_version(),
                       source_params=sum(p.numel() for p in module.parameters()))


def _tensors(inputs: dict, names: list[str]) -> list:
    import torch

    missing = [n for n in names if n not in inputs]
    if missing:
        from ...errors import UsageError

        raise UsageError(f"missing input(s) {missing}; the model takes {names}")
    # Copies: a model that writes into its input (x.relu_()) must not change the caller's arrays.
    return [torch.from_numpy(np.array(inputs[n], copy=True, order="C")) for n in names]


def make_runner(module, in_names: list[str], out_names: list[str]) -> Callable[[dict], dict]:
    """LoadedModel.run: the source module in torch, keyed by the graph's names."""

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch
        from torch.utils._pytree import tree_flatten

        with torch.no_grad():
            out = module(*_tensors(inputs, in_names))
        leaves = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        return {n: t.detach().cpu().numpy() for n, t in zip(out_names, leaves)}

    return run


def make_layer_runner(fx_module, in_names: list[str], origin: dict[str, str]):
    """LoadedModel.run_layers: intermediate FX node results for IR values that have one."""

    def run_layers(inputs: dict[str, np.ndarray], value_names: list[str]) -> dict[str, np.ndarray]:
        import torch

        wanted = {origin[v]: v for v in value_names if v in origin}
        found: dict[str, Any] = {}

        class Recorder(torch.fx.Interpreter):
            def run_node(self, n):
                res = super().run_node(n)
                if n.name in wanted and isinstance(res, torch.Tensor):
                    # A copy: a later in-place op (relu_) would change the recorded array;
                    # bfloat16 (a bf16 target's layers) widened exactly, numpy has no bfloat16.
                    t = res.detach().cpu()
                    found[wanted[n.name]] = (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()
                return res

        with torch.no_grad():
            Recorder(fx_module).run(*_tensors(inputs, in_names))
        return found

    return run_layers
