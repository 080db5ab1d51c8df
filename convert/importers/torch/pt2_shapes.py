"""``--input-shape`` for a ``.pt2``: an exported program already fixes which dimensions
are dynamic, so the flag can only narrow it. A number pins a dynamic dimension (checked
against the range torch.export recorded), a name renames it; asking for a dynamic
dimension that was exported static is refused with how to export it dynamically."""
from __future__ import annotations

from ...errors import UsageError


def _is_sym(d) -> bool:
    return hasattr(d, "node")


def _range(ep, expr: str):
    for sym, vr in getattr(ep, "range_constraints", {}).items():
        if str(sym) == expr:
            return vr
    return None


def upper_bound(ep, expr: str) -> int | None:
    """The largest size torch.export recorded for symbol ``expr``; None when unbounded."""
    vr = _range(ep, expr)
    try:
        upper = int(vr.upper) if vr is not None else None
    except (TypeError, ValueError, OverflowError, AttributeError):  # inf, sympy int_oo
        return None
    return upper if upper is not None and 0 < upper < 2**62 else None


def _in_range(vr, value: int) -> bool:
    try:
        return bool(vr.lower <= value) and bool(value <= vr.upper)
    except TypeError:  # an unbounded side torch represents symbolically
        return True


def plan_dims(ep, where: str, inputs: dict[str, tuple], requested: dict[str, tuple] | None
              ) -> tuple[dict[str, str], dict[str, int]]:
    """``inputs``: user input name -> exported shape (ints and SymInts). Returns the
    names to give symbolic dimensions and the symbols pinned to a number."""
    names: dict[str, str] = {}
    fixed: dict[str, int] = {}
    if not requested:
        return names, fixed
    unknown = sorted(set(requested) - set(inputs))
    if unknown:
        raise UsageError(f"{where}: --input-shape names {unknown}; the exported program's inputs are {list(inputs)}")
    for name, dims in requested.items():
        shape = inputs[name]
        shown = "x".join(str(d) for d in shape)
        if len(dims) != len(shape):
            raise UsageError(f"{where}: --input-shape {name} gives {len(dims)} dimensions; the exported input "
                             f"has {len(shape)} ({shown})")
        for axis, (want, have) in enumerate(zip(dims, shape)):
            dynamic = isinstance(want, str) or want is None or want == -1
            if not _is_sym(have):
                if dynamic:
                    raise UsageError(
                        f"{where}: input {name!r} was exported with a static dimension {axis} ({int(have)}), so "
                        f"it cannot be made dynamic here; export it with dynamic_shapes, e.g. torch.export."
                        f"export(model, args, dynamic_shapes={{{name!r}: {{{axis}: torch.export.Dim('batch')}}}})")
                if int(want) != int(have):
                    raise UsageError(f"{where}: input {name!r} was exported with dimension {axis} = {int(have)}, "
                                     f"not {want}; a .pt2 cannot be re-traced at another static size")
                continue
            expr = str(have.node.expr)
            if dynamic:
                if isinstance(want, str):
                    if names.get(expr, want) != want or expr in fixed:
                        raise UsageError(f"{where}: --input-shape gives dimension {expr} two different values")
                    names[expr] = want
                continue
            vr = _range(ep, expr)
            if vr is not None and not _in_range(vr, int(want)):
                raise UsageError(f"{where}: input {name!r} dimension {axis} was exported for sizes "
                                 f"{vr.lower}..{vr.upper}; {want} is outside that range")
            if fixed.get(expr, int(want)) != int(want) or expr in names:
                raise UsageError(f"{where}: --input-shape gives dimension {expr} two different values")
            fixed[expr] = int(want)
    return names, fixed


def pinned(expr, fixed: dict[str, int]) -> int | None:
    """The value of a symbolic size expression once pinned symbols are substituted."""
    if not fixed:
        return None
    if isinstance(expr, str):  # the archive reader's dimensions are expression texts
        from .pt2_expr import ExprError, evaluate, parse

        try:
            return evaluate(parse(expr), fixed)
        except ExprError:
            return None
    subs = {s: fixed[str(s)] for s in getattr(expr, "free_symbols", ()) if str(s) in fixed}
    if not subs:
        return None
    val = expr.subs(subs)
    return int(val) if getattr(val, "is_number", False) else None
