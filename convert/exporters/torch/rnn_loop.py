"""LSTM / GRU / RNN written out as a loop over time steps, for what nn.LSTM / nn.GRU /
nn.RNN cannot express: direction reverse, GRU linear_before_reset=0, peepholes, cell
clipping, input_forget, other gate activations and per-batch sequence lengths. The equations are ONNX's, in the
IR's gate order (LSTM i, o, f, c; GRU z, r, h)."""
from __future__ import annotations

from ...ir.optable.rnn import DEFAULT_ACTIVATIONS
from .context import TorchContext, attr, py, unsupported_attr

_ACT = {"Sigmoid": "torch.sigmoid", "Tanh": "torch.tanh", "Relu": "torch.relu"}


def needs_loop(node) -> bool:
    ins = list(node.inputs) + [""] * 8
    acts = list(attr(node, "activations") or [])
    dirs = 2 if attr(node, "direction") == "bidirectional" else 1
    if node.op == "RNN":
        plain = all(a == (acts or ["Tanh"])[0] for a in acts) and (acts or ["Tanh"])[0] in ("Tanh", "Relu")
    else:
        plain = not acts or acts == list(DEFAULT_ACTIVATIONS[node.op]) * dirs
    return (attr(node, "direction") == "reverse" or bool(ins[4]) or attr(node, "clip") is not None or not plain
            or (node.op == "LSTM" and (bool(attr(node, "input_forget")) or bool(ins[7])))
            or (node.op == "GRU" and not attr(node, "linear_before_reset")))


def _activations(node, dirs: int) -> list[list[str]]:
    """Per direction, the torch functions of the op's activation slots."""
    acts = list(attr(node, "activations") or list(DEFAULT_ACTIVATIONS[node.op]) * dirs)
    per = len(DEFAULT_ACTIVATIONS[node.op])
    bad = [a for a in acts if a not in _ACT]
    if bad or len(acts) != per * dirs:
        raise unsupported_attr("activations", acts, f"{', '.join(_ACT)} ({per} per direction)")
    return [[_ACT[a] for a in acts[d * per:(d + 1) * per]] for d in range(dirs)]


def export_rnn_loop(ctx: TorchContext, node) -> None:
    ins = list(node.inputs) + [""] * 8
    hidden, layout = int(attr(node, "hidden_size")), attr(node, "layout")
    dirs = 2 if attr(node, "direction") == "bidirectional" else 1
    acts = _activations(node, dirs)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op]
    clip = attr(node, "clip")
    x = ctx.tmp("x")
    ctx.line(f"{x} = {ctx.x(ins[0])}" + (".transpose(0, 1)" if layout == 1 else ""))  # (seq, batch, input)
    w, r = ctx.x(ins[1]), ctx.x(ins[2])
    ys, hs, cs = [], [], []
    for d in range(dirs):
        reverse = d == 1 or attr(node, "direction") == "reverse"
        xw, h, c, steps, t = (ctx.tmp(f"{n}{d}") for n in ("xw", "h", "c", "ys", "t"))
        bias = f" + {ctx.x(ins[3])}[{d}, :{gates * hidden}]" if ins[3] else ""
        ctx.line(f"{xw} = {x} @ {w}[{d}].T{bias}")
        zeros = f"{x}.new_zeros({x}.shape[1], {hidden})"
        h0 = ctx.x(ins[5]) + (".transpose(0, 1)" if layout == 1 else "") if ins[5] else ""
        c0 = ctx.x(ins[6]) + (".transpose(0, 1)" if layout == 1 else "") if ins[6] else ""
        ctx.line(f"{h} = {h0}[{d}]" if h0 else f"{h} = {zeros}")
        if node.op == "LSTM":
            ctx.line(f"{c} = {c0}[{d}]" if c0 else f"{c} = {zeros}")
        ctx.line(f"{steps} = []")
        rb = f"{ctx.x(ins[3])}[{d}, {gates * hidden}:]" if ins[3] else "0"
        body = _step(node, ctx, d, acts[d], w, r, rb, xw, h, c, t, hidden, clip, ins)
        out = h
        if ins[4]:  # past its sequence's length a batch entry keeps its state and outputs 0
            live, hp, cp = ctx.tmp(f"live{d}"), ctx.tmp(f"h_prev{d}"), ctx.tmp(f"c_prev{d}")
            body = [f"{hp} = {h}", f"{cp} = {c}" if node.op == "LSTM" else "pass", *body,
                    f"{live} = ({t} < {ctx.x(ins[4])})[:, None]", f"{h} = torch.where({live}, {h}, {hp})"]
            if node.op == "LSTM":
                body.append(f"{c} = torch.where({live}, {c}, {cp})")
            out = f"torch.where({live}, {h}, 0)"
        order = f"range({x}.shape[0] - 1, -1, -1)" if reverse else f"range({x}.shape[0])"
        ctx.line(f"for {t} in {order}: {'; '.join(body)}; {steps}.append({out})")
        ys.append(f"torch.stack({steps}[::-1] if {reverse} else {steps})")
        hs.append(h)
        cs.append(c)
    outs = list(node.outputs) + ["", "", ""]
    if outs[0]:  # IR Y: (seq, dirs, batch, hidden), or (batch, seq, dirs, hidden) for layout 1
        y = f"torch.stack([{', '.join(ys)}], 1)"
        ctx.assign(outs[0], y + (".permute(2, 0, 1, 3)" if layout == 1 else ""))
    for value, states in ((outs[1], hs), (outs[2], cs)):
        if value:
            ctx.assign(value, f"torch.stack([{', '.join(states)}], {1 if layout == 1 else 0})")


def _step(node, ctx: TorchContext, d: int, act: list[str], w: str, r: str, rb: str, xw: str, h: str, c: str,
          t: str, hidden: int, clip, ins: list[str]) -> list[str]:
    """The statements of one time step (h and c updated in place)."""
    def clipped(e: str) -> str:
        return f"({e}).clamp({py(-float(clip))}, {py(float(clip))})" if clip is not None else e

    g = ctx.tmp(f"g{d}")
    if node.op == "RNN":
        return [f"{h} = {act[0]}({clipped(f'{xw}[{t}] + {h} @ {r}[{d}].T + {rb}')})"]
    if node.op == "GRU":
        zr, hh = ctx.tmp(f"zr{d}"), ctx.tmp(f"hh{d}")
        rh = f"{r}[{d}, {2 * hidden}:]"
        rbh = f"{rb}[{2 * hidden}:]" if rb != "0" else "0"
        rbzr = f"{rb}[:{2 * hidden}]" if rb != "0" else "0"
        lines = [f"{zr} = {act[0]}({clipped(f'{xw}[{t}, :, :{2 * hidden}] + {h} @ {r}[{d}, :{2 * hidden}].T + {rbzr}')})"]
        z, rr = f"{zr}[:, :{hidden}]", f"{zr}[:, {hidden}:]"
        if attr(node, "linear_before_reset"):
            pre = f"{xw}[{t}, :, {2 * hidden}:] + {rr} * ({h} @ {rh}.T + {rbh})"
        else:
            pre = f"{xw}[{t}, :, {2 * hidden}:] + ({rr} * {h}) @ {rh}.T + {rbh}"
        lines += [f"{hh} = {act[1]}({clipped(pre)})", f"{h} = (1 - {z}) * {hh} + {z} * {h}"]
        return lines
    # LSTM: i, o, f, c blocks; peepholes P = [Pi, Po, Pf]
    p = ctx.x(ins[7]) if ins[7] else None
    pi, po, pf = ((f"{p}[{d}, {k * hidden}:{(k + 1) * hidden}] * " for k in range(3)) if p else ("0 * ",) * 3)
    i, o, f, cc = (ctx.tmp(f"{n}{d}") for n in ("i", "o", "f", "cc"))
    blk = [f"{g}[:, {k * hidden}:{(k + 1) * hidden}]" for k in range(4)]
    lines = [f"{g} = {xw}[{t}] + {h} @ {r}[{d}].T + {rb}",
             f"{i} = {act[0]}({clipped(f'{blk[0]} + {pi}{c}')})"]
    if attr(node, "input_forget"):
        lines.append(f"{f} = 1 - {i}")
    else:
        lines.append(f"{f} = {act[0]}({clipped(f'{blk[2]} + {pf}{c}')})")
    lines += [f"{cc} = {act[1]}({clipped(blk[3])})", f"{c} = {f} * {c} + {i} * {cc}",
              f"{o} = {act[0]}({clipped(f'{blk[1]} + {po}{c}')})", f"{h} = {o} * {act[2]}({c})"]
    return lines
