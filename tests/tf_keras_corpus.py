"""Write legacy ``.h5`` files with tf.keras 2 itself (the ``tf-keras`` package) and record
its outputs: ``python tests/tf_keras_corpus.py OUT_DIR``.

Runs in its own process: tf-keras and Keras 3 cannot both be ``keras`` in one process.
Per model NAME: ``NAME.h5`` and ``NAME.npz`` with inputs ``x<batch>``, tf-keras' outputs
``y<batch>``, the output on another input (``other``) and with a middle kernel scaled
by 1.01 (``scaled``), which the test uses to show the comparison can fail. Also a user's
``Dense`` subclass saved both ways (``user_dense_classes``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keras_signal import give_signal, middle_kernel  # noqa: E402

BATCHES = (1, 3)


def models(k):
    L = k.layers
    seq = k.Sequential([
        L.InputLayer(input_shape=(12, 10, 3)),
        L.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.DepthwiseConv2D(3, padding="same"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(7, activation="tanh"),
        L.Dense(4),
    ], name="sequential_cnn")
    a = k.Input((9, 11, 4), name="image")
    b = k.Input((5,), name="side")
    y = L.Conv2D(5, 3, padding="valid", name="conv")(a)
    y = L.BatchNormalization(name="bn")(y)
    y = L.Activation("swish", name="act")(y)
    y1 = L.AveragePooling2D(2, padding="same", name="avg")(y)
    y2 = L.SeparableConv2D(5, 3, strides=2, padding="same", name="sep")(y)
    y = L.Add(name="sum")([y1, y2])
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Concatenate(name="cat")([y, L.Dense(3, name="side_fc")(b)])
    functional = k.Model([a, b], [L.Dense(4, name="logits")(y), L.Dense(2, name="aux")(y)], name="functional_two_io")
    t = k.Input((6, 5), name="seq")
    r = L.LSTM(7, return_sequences=True, name="lstm")(t)
    r = L.Bidirectional(L.GRU(4, reset_after=True), name="bigru")(r)
    rnn = k.Model(t, L.Dense(3, name="head")(r), name="lstm_gru")
    app = k.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, alpha=0.35,
                                     classifier_activation=None, classes=10)
    return {"sequential_cnn": seq, "functional_two_io": functional, "lstm_gru": rnn, "mobilenet_v2": app}


def user_dense_classes(k, out: Path) -> None:
    """A user's ``Dense`` subclass that doubles its output, saved as ``user_dense_<how>.<ext>``
    (how: registered under ``user>Dense``, or unregistered), beside a built-in ``Dense``
    saved the same way (``builtin_dense.h5``)."""
    class Dense(k.layers.Dense):
        def call(self, x):
            return super().call(x) * 2.0

    registered = k.utils.register_keras_serializable(package="user", name="Dense")(
        type("Dense", (Dense,), {}))
    for how, cls in (("builtin", k.layers.Dense), ("unregistered", Dense), ("registered", registered)):
        x = k.Input((4,), name="x")
        model = k.Model(x, cls(3, name="d")(x))
        for ext in ("h5", "keras"):
            model.save(out / f"{how}_dense.{ext}" if how == "builtin" else out / f"user_dense_{how}.{ext}")


def _inputs(model, batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, *t.shape[1:])).astype("float32") for t in model.inputs]


def _run(model, xs) -> list[np.ndarray]:
    out = model(xs if len(xs) > 1 else xs[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def main(out_dir: str) -> None:
    import tf_keras as k

    k.utils.set_random_seed(0)
    out = Path(out_dir)
    for name, model in models(k).items():
        calib = _inputs(model, 8, seed=0)
        give_signal(model, calib if len(calib) > 1 else calib[0], k=k)
        arrays = {}
        for batch in BATCHES:
            xs = _inputs(model, batch, seed=10 + batch)
            for i, x in enumerate(xs):
                arrays[f"x{batch}_{i}"] = x
            for j, y in enumerate(_run(model, xs)):
                arrays[f"y{batch}_{j}"] = y
        xs = [arrays[f"x1_{i}"] for i in range(len(model.inputs))]
        arrays["other"] = _run(model, _inputs(model, 1, seed=99))[0]
        w = middle_kernel(model)
        keep = w.numpy()
        w.assign(keep * 1.01)
        arrays["scaled"] = _run(model, xs)[0]
        w.assign(keep)
        model.save(out / f"{name}.h5")
        np.savez(out / f"{name}.npz", **arrays)
    user_dense_classes(k, out)


if __name__ == "__main__":
    main(sys.argv[1])
