"""Trained-like weights for Keras models built with their initialisers, and the checks
that prove a comparison can fail.

At their initialisers real networks are nearly dead (BatchNorm statistics 0/1, zero
biases, layer-scale 1e-6), so a wrong conversion can still match. Here every parameter
that holds one constant value is redrawn at random, and BatchNorm moving statistics
become those of a calibration batch.
"""
from __future__ import annotations

import contextlib

import numpy as np

_STAT_WORDS = ("moving_mean", "moving_variance", "count", "seed")


def randomize_constants(model, rng: np.random.Generator) -> None:
    """Redraw every trainable-like weight that holds a single value (biases, gammas, betas,
    layer scales): zeros become N(0, 0.1), anything else c * U(0.5, 1.5) (or U(0.5, 1.5)
    when |c| is tiny, e.g. ConvNeXt's 1e-6 layer scale)."""
    for w in model.weights:
        if any(s in _path(w) for s in _STAT_WORDS) or "int" in str(w.dtype):
            continue
        a = np.asarray(w)
        if a.size == 0 or not np.all(a == a.flat[0]):
            continue
        c = float(a.flat[0])
        if c == 0.0:
            new = rng.normal(0.0, 0.1, a.shape)
        elif abs(c) < 1e-3:
            new = rng.uniform(0.5, 1.5, a.shape)
        else:
            new = c * rng.uniform(0.5, 1.5, a.shape)
        w.assign(new.astype(a.dtype))
    refresh_normalization(model)


def refresh_normalization(model) -> None:
    """Keras' Normalization caches mean/variance from its adapt weights: after those are
    assigned (here, or by ``set_weights``) the cache must follow, or Keras runs stale values."""
    for layer in _all_layers(model):
        if hasattr(layer, "finalize_state") and layer.__class__.__name__ == "Normalization" and layer.built:
            layer.finalize_state()


def _path(w) -> str:
    return getattr(w, "path", None) or w.name  # Keras 3 / tf.keras 2


def calibrate_batchnorm(model, x: np.ndarray, k=None) -> int:
    """Set each BatchNormalization's moving mean/variance to the statistics of its input on
    ``x``. The inputs are taken in training mode, where every BatchNorm upstream normalises
    with the batch's own statistics: the same values as calibrating one layer after the
    other, in one pass, as long as nothing else acts differently in training mode, so
    dropout and drop-connect (EfficientNet, ConvNeXt) are switched off for that pass (left
    on, they calibrate every BatchNorm on inputs the network never sees at inference, and
    the signal dies out in the deep stages). ``k`` is the Keras module (tf_keras for
    tf.keras 2 models). Returns how many BatchNorm layers were set."""
    if k is None:
        import keras as k

    layers = list(_all_layers(model))
    bns = [layer for layer in layers if isinstance(layer, k.layers.BatchNormalization)]
    if not bns:
        return 0
    probe = k.Model(model.inputs, [bn.input for bn in bns])
    with _no_dropout(layers):
        ins = probe(x, training=True)
    ins = ins if isinstance(ins, (list, tuple)) else [ins]
    for bn, t in zip(bns, ins):
        t = np.asarray(t, dtype=np.float64)
        axis = bn.axis if isinstance(bn.axis, int) else bn.axis[0]
        red = tuple(a for a in range(t.ndim) if a != axis % t.ndim)
        bn.moving_mean.assign(t.mean(axis=red).astype("float32"))
        bn.moving_variance.assign(t.var(axis=red).astype("float32"))
    return len(bns)


_DROP_RATES = ("rate", "drop_path_rate")  # Dropout*/StochasticDepth's probability attributes


@contextlib.contextmanager
def _no_dropout(layers):
    """Dropout-like layers act as identity in training mode until the block ends."""
    kept = []
    for layer in layers:
        if _is_dropout(layer):
            for attr in _DROP_RATES:
                if isinstance(getattr(layer, attr, None), (int, float)):
                    kept.append((layer, attr, getattr(layer, attr)))
                    setattr(layer, attr, 0.0)
    try:
        yield
    finally:
        for layer, attr, v in kept:
            setattr(layer, attr, v)


def unit_scale(model, x: np.ndarray, k=None) -> int:
    """For a network without normalisation layers (VGG): scale each layer's kernel and bias,
    in order, so its output has unit standard deviation on ``x`` (layer-sequential
    unit-variance, as a trained net keeps its activations at scale; Glorot-initialised
    ReLU stacks shrink them a hundredfold). Returns the number of layers scaled."""
    if k is None:
        import keras as k

    norm = (k.layers.BatchNormalization, k.layers.LayerNormalization)
    layers = list(_all_layers(model))
    if any(isinstance(layer, norm) for layer in layers):
        return 0
    dense = (k.layers.Conv1D, k.layers.Conv2D, k.layers.Conv3D, k.layers.Dense)
    weighted = [layer for layer in layers if isinstance(layer, dense)]
    for layer in weighted:
        probe = k.Model(model.inputs, layer.output)
        std = float(np.std(np.asarray(probe(x, training=False), dtype=np.float64)))
        if std > 0:
            layer.set_weights([w / std for w in layer.get_weights()])
    return len(weighted)


def damp_residual_branches(model, factor: float, k=None) -> int:
    """Scale gamma and beta of each BatchNormalization that ends a residual branch (through
    dropout-like layers, into an ``Add`` whose other input feeds that branch) by ``factor``.
    Trained deep residual nets keep these small (zero-initialised last gammas, normalisation-
    free nets' scaled branches), so the residual stream grows slowly and each block stays
    close to the identity; at unit gammas 50+ blocks amplify float32 rounding (and any
    input) more per block. Returns how many branches were damped."""
    if k is None:
        import keras as k

    damped = 0
    for layer in _all_layers(model):
        if not isinstance(layer, k.layers.Add) or not isinstance(layer.input, (list, tuple)):
            continue
        for i, t in enumerate(layer.input):
            bn = _producer(t)
            while bn is not None and _is_dropout(bn):
                bn = _producer(bn.input)
            if not isinstance(bn, k.layers.BatchNormalization):
                continue
            others = [u for j, u in enumerate(layer.input) if j != i]
            if any(_feeds(u, bn.input) for u in others):
                for w in (bn.gamma, bn.beta):
                    if w is not None:
                        w.assign(np.asarray(w) * factor)
                damped += 1
    return damped


def _producer(t):
    history = getattr(t, "_keras_history", None)
    return history[0] if history else None


def _is_dropout(layer) -> bool:
    name = type(layer).__name__
    return "Dropout" in name or "StochasticDepth" in name


def _feeds(src, t, depth: int = 40) -> bool:
    """Whether tensor ``src`` is an ancestor of tensor ``t`` within ``depth`` operations."""
    seen, todo = set(), [(t, 0)]
    while todo:
        u, d = todo.pop()
        if u is src:
            return True
        op = _producer(u)
        if op is None or d >= depth or id(op) in seen:
            continue
        seen.add(id(op))
        ins = op.input if isinstance(op.input, (list, tuple)) else [op.input]
        todo.extend((v, d + 1) for v in ins)
    return False


def give_signal(model, x_calib: np.ndarray, seed: int = 0, k=None, residual_scale: float | None = None) -> None:
    """Trained-like weights: constants redrawn, (with ``residual_scale``) residual branches
    damped, BatchNorm calibrated on ``x_calib``, unnormalised stacks scaled to unit variance."""
    randomize_constants(model, np.random.default_rng(seed))
    if residual_scale is not None:
        damp_residual_branches(model, residual_scale, k)
    calibrate_batchnorm(model, x_calib, k)
    unit_scale(model, x_calib, k)


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _all_layers(layer)
        else:
            yield layer


def middle_kernel(model):
    """The largest-rank weight of the layer halfway through the model (a real kernel)."""
    kernels = [w for w in model.weights if "kernel" in _path(w) and len(w.shape) >= 2]
    return kernels[len(kernels) // 2]


def tolerance(ref: np.ndarray) -> float:
    """1e-4 of the output scale (at least 1e-4): the corpus tolerance on logits."""
    return 1e-4 * max(1.0, float(np.max(np.abs(ref))))


def assert_moves(ref: np.ndarray, other: np.ndarray, what: str, factor: float = 5.0) -> None:
    """``other`` (another input, or a 1% weight change) differs from ``ref`` far past the tolerance."""
    diff = float(np.max(np.abs(np.asarray(other) - np.asarray(ref))))
    assert diff > factor * tolerance(ref), f"{what} moved the output by only {diff:.3g} (tolerance {tolerance(ref):.3g})"


def scaled_kernel_output(model, x: np.ndarray, scale: float = 1.01) -> np.ndarray:
    """Keras' (first) output with the middle kernel scaled by ``scale`` (restored afterwards)."""
    w = middle_kernel(model)
    keep = np.asarray(w).copy()
    w.assign(keep * scale)
    try:
        out = model(x, training=False)
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)
    finally:
        w.assign(keep)
