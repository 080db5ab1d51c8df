"""torch.fx front end: leaf modules -> the ATen calls their forward() makes.

One function per layer, ``(lx, node, module) -> new node (or structure)``; the handlers
in ops_*.py then emit the IR, so layer semantics live in one place.
"""
from __future__ import annotations

from .front import TV, register


def _aten():
    import torch

    return torch.ops.aten


def _x(lx, node, i: int = 0):
    return lx.a(node.args[i]) if len(node.args) > i else None


def _one_input(lx, node) -> None:
    if len(node.args) != 1 or node.kwargs:
        lx.fail("arguments", len(node.args) + len(node.kwargs), "one input")


def _module(ctx, node):
    """The submodule a one-input ``call_module`` node runs."""
    _one_input(ctx, node)
    return ctx.module(node)


def _p(lx, node, mod, attr: str):
    return lx.param(f"{node.target}.{attr}", getattr(mod, attr, None))


@register("module:Conv1d", "module:Conv2d", "module:Conv3d")
def import_conv(ctx, node):
    mod = _module(ctx, node)
    aten, nsp = _aten(), int(type(mod).__name__[4])
    x, padding = _x(ctx, node), mod.padding
    if mod.padding_mode != "zeros":  # torch pads explicitly, then convolves without padding
        if isinstance(padding, str):
            ctx.fail("padding", padding, f"with padding_mode={mod.padding_mode!r}")
        pad = [int(p) for p in mod._reversed_padding_repeated_twice]
        xv = ctx.meta(node.args[0])
        grown = TV(tuple(d if not isinstance(d, int) or i < 2 else d + pad[2 * (len(xv.shape) - 1 - i)] +
                         pad[2 * (len(xv.shape) - 1 - i) + 1] for i, d in enumerate(xv.shape)), xv.dtype)
        x = ctx.emit(aten.pad.default, (x, pad, mod.padding_mode, None), val=grown, primary=False)
        padding = [0] * nsp
    target = getattr(aten, f"conv{nsp}d").padding if isinstance(padding, str) else getattr(aten, f"conv{nsp}d").default
    return ctx.emit(target, (x, _p(ctx, node, mod, "weight"), _p(ctx, node, mod, "bias"), list(mod.stride),
                            padding if isinstance(padding, str) else list(padding), list(mod.dilation), mod.groups))


@register("module:ConvTranspose1d", "module:ConvTranspose2d", "module:ConvTranspose3d")
def import_conv_transpose(ctx, node):
    mod = _module(ctx, node)
    if mod.padding_mode != "zeros":
        ctx.fail("padding_mode", mod.padding_mode)
    nsp = int(type(mod).__name__[13])
    ov = getattr(_aten(), f"conv_transpose{nsp}d")
    target = ov.default if nsp == 1 else ov.input
    return ctx.emit(target, (_x(ctx, node), _p(ctx, node, mod, "weight"), _p(ctx, node, mod, "bias"), list(mod.stride),
                            list(mod.padding), list(mod.output_padding), mod.groups, list(mod.dilation)))


@register("module:BatchNorm1d", "module:BatchNorm2d", "module:BatchNorm3d")
def import_batch_norm(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().batch_norm.default,
                   (_x(ctx, node), _p(ctx, node, mod, "weight"), _p(ctx, node, mod, "bias"),
                    _p(ctx, node, mod, "running_mean"), _p(ctx, node, mod, "running_var"), False,
                    float(mod.momentum or 0.0), float(mod.eps), False))


@register("module:LayerNorm")
def import_layer_norm(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().layer_norm.default, (_x(ctx, node), list(mod.normalized_shape), _p(ctx, node, mod, "weight"),
                                                _p(ctx, node, mod, "bias"), float(mod.eps), False))


@register("module:RMSNorm")
def import_rms_norm(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().rms_norm.default, (_x(ctx, node), list(mod.normalized_shape), _p(ctx, node, mod, "weight"),
                                              mod.eps))


@register("module:GroupNorm")
def import_group_norm(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().group_norm.default, (_x(ctx, node), int(mod.num_groups), _p(ctx, node, mod, "weight"),
                                                _p(ctx, node, mod, "bias"), float(mod.eps), False))


@register("module:Linear")
def import_linear(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().linear.default, (_x(ctx, node), _p(ctx, node, mod, "weight"), _p(ctx, node, mod, "bias")))


@register("module:Embedding")
def import_embedding(ctx, node):
    mod = _module(ctx, node)
    if mod.max_norm is not None:
        ctx.fail("max_norm", mod.max_norm, "renormalises the table in place")
    return ctx.emit(_aten().embedding.default, (_p(ctx, node, mod, "weight"), _x(ctx, node)))


# -- pooling ------------------------------------------------------------------------
@register("module:MaxPool1d", "module:MaxPool2d", "module:MaxPool3d")
def import_max_pool(ctx, node):
    mod = _module(ctx, node)
    if mod.return_indices:
        ctx.fail("return_indices", True)
    nsp = int(type(mod).__name__[7])
    return ctx.emit(getattr(_aten(), f"max_pool{nsp}d").default,
                   (_x(ctx, node), _l(mod.kernel_size), _l(mod.stride), _l(mod.padding), _l(mod.dilation),
                    bool(mod.ceil_mode)))


@register("module:AvgPool1d", "module:AvgPool2d", "module:AvgPool3d")
def import_avg_pool(ctx, node):
    mod = _module(ctx, node)
    nsp = int(type(mod).__name__[7])
    args = [_x(ctx, node), _l(mod.kernel_size), _l(mod.stride), _l(mod.padding), bool(mod.ceil_mode),
            bool(mod.count_include_pad)]
    if nsp > 1:
        args.append(mod.divisor_override)
    return ctx.emit(getattr(_aten(), f"avg_pool{nsp}d").default, tuple(args))


def _adaptive_size(lx, node, mod) -> list:
    spatial = lx.meta(node.args[0]).shape[-_nsp(mod):]
    out = mod.output_size if isinstance(mod.output_size, (list, tuple)) else [mod.output_size] * len(spatial)
    return [s if o is None else int(o) for o, s in zip(out, spatial)]


def _nsp(mod) -> int:
    return int(type(mod).__name__[-2])


@register("module:AdaptiveAvgPool1d", "module:AdaptiveAvgPool2d", "module:AdaptiveAvgPool3d")
def import_adaptive_avg_pool(ctx, node):
    mod = _module(ctx, node)
    size = ctx.static(_adaptive_size(ctx, node, mod), "output_size")
    return ctx.emit(getattr(_aten(), f"adaptive_avg_pool{_nsp(mod)}d").default, (_x(ctx, node), size))


@register("module:AdaptiveMaxPool1d", "module:AdaptiveMaxPool2d", "module:AdaptiveMaxPool3d")
def import_adaptive_max_pool(ctx, node):
    mod = _module(ctx, node)
    if mod.return_indices:
        ctx.fail("return_indices", True)
    size = ctx.static(_adaptive_size(ctx, node, mod), "output_size")
    v = ctx.meta()
    n = ctx.emit(getattr(_aten(), f"adaptive_max_pool{_nsp(mod)}d").default, (_x(ctx, node), size), val=[v, v])
    return ctx.getitems(n, [v, v])[0]


def _l(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


# -- resampling and padding ---------------------------------------------------------
@register("module:Upsample")
def import_upsample(ctx, node):
    mod = _module(ctx, node)
    from .functions import interpolate

    return interpolate(ctx, _x(ctx, node), mod.size, mod.scale_factor, mod.mode, mod.align_corners, None)


@register("module:PixelShuffle")
def import_pixel_shuffle(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().pixel_shuffle.default, (_x(ctx, node), int(mod.upscale_factor)))


@register("module:ZeroPad1d", "module:ZeroPad2d", "module:ZeroPad3d", "module:ConstantPad1d",
          "module:ConstantPad2d", "module:ConstantPad3d")
def import_constant_pad(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().pad.default, (_x(ctx, node), list(mod.padding), "constant", float(mod.value)))


@register("module:ReflectionPad1d", "module:ReflectionPad2d", "module:ReflectionPad3d",
          "module:ReplicationPad1d", "module:ReplicationPad2d", "module:ReplicationPad3d")
def import_pad(ctx, node):
    mod = _module(ctx, node)
    mode = "reflect" if type(mod).__name__.startswith("Reflection") else "replicate"
    return ctx.emit(_aten().pad.default, (_x(ctx, node), list(mod.padding), mode, None))


# -- shape layers -------------------------------------------------------------------
@register("module:Flatten")
def import_flatten(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().flatten.using_ints, (_x(ctx, node), mod.start_dim, mod.end_dim))


@register("module:Unflatten")
def import_unflatten(ctx, node):
    mod = _module(ctx, node)
    return ctx.emit(_aten().unflatten.int, (_x(ctx, node), mod.dim, list(mod.unflattened_size)))


@register("module:Identity")
def import_identity(ctx, node):
    return _x(ctx, node)


@register("module:Dropout", "module:Dropout1d", "module:Dropout2d", "module:Dropout3d", "module:AlphaDropout",
          "module:FeatureAlphaDropout")
def import_dropout(ctx, node):
    mod = _module(ctx, node)
    aten, name = _aten(), type(mod).__name__
    target = aten.alpha_dropout.default if name == "AlphaDropout" else aten.feature_alpha_dropout.default \
        if name == "FeatureAlphaDropout" else aten.dropout.default if name == "Dropout" else aten.feature_dropout.default
    return ctx.emit(target, (_x(ctx, node), float(mod.p), False))



# -- recurrent layers ---------------------------------------------------------------
def _rnn_states(lx, node, mod, n_states: int) -> list:
    """Initial states as given, else zeros of the traced (layers*dirs, batch, hidden) shape."""
    import torch

    if len(node.args) > 1 and node.args[1] is not None:
        hx = lx.a(node.args[1])
        return list(hx) if isinstance(hx, (list, tuple)) else [hx]
    out = lx.meta()[1]
    states = list(out) if isinstance(out, (list, tuple)) else [out]
    return [lx.emit(_aten().zeros.default, (list(s.shape),), val=TV(s.shape, torch.float32), primary=False)
            for s in states[:n_states]]


def _rnn(lx, node, mod, target, n_states: int):
    if len(node.args) > 2 or node.kwargs:
        lx.fail("arguments", len(node.args) + len(node.kwargs))
    if getattr(mod, "proj_size", 0):
        lx.fail("proj_size", mod.proj_size, "LSTM projections are not supported")
    xv = lx.meta(node.args[0])
    if len(xv.shape) != 3:
        lx.fail("input rank", len(xv.shape), "batched 3-D input")
    states = _rnn_states(lx, node, mod, n_states)
    params = [lx.param(f"{node.target}.{name}", getattr(mod, name)) for name in mod._flat_weights_names]
    out = lx.meta()
    seq_val, st = out[0], out[1]
    st_vals = list(st) if isinstance(st, (list, tuple)) else [st]
    hx = states if n_states == 2 else states[0]
    n = lx.emit(target, (lx.a(node.args[0]), hx, params, bool(mod.bias), int(mod.num_layers), float(mod.dropout),
                         False, bool(mod.bidirectional), bool(mod.batch_first)), val=[seq_val, *st_vals])
    items = lx.getitems(n, [seq_val, *st_vals])
    return (items[0], tuple(items[1:])) if n_states == 2 else (items[0], items[1])


@register("module:LSTM")
def import_lstm(ctx, node):
    mod = ctx.module(node)
    return _rnn(ctx, node, mod, _aten().lstm.input, 2)


@register("module:GRU")
def import_gru(ctx, node):
    mod = ctx.module(node)
    return _rnn(ctx, node, mod, _aten().gru.input, 1)


@register("module:RNN")
def import_rnn(ctx, node):
    mod = ctx.module(node)
    target = _aten().rnn_relu.input if mod.nonlinearity == "relu" else _aten().rnn_tanh.input
    return _rnn(ctx, node, mod, target, 1)
