"""Layer classes keras.applications defines for its own models (not public layers), imported
exactly from the module that defines them, and a user's class of the same name refused."""
from __future__ import annotations

import numpy as np
import pytest

from keras_cases import check, keras, make_inputs, randomize


def _scaled_residual(layer):
    k = keras()
    x = k.Input((5, 6, 4), name="x")
    branch = k.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    return k.Model(x, k.layers.ReLU(name="relu")(layer([x, branch])))


def _application_scale(scale: float):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    return CustomScaleLayer(scale=scale, name="scale")


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_inception_resnet_custom_scale_layer_matches_keras(fmt, tmp_path):
    import convert

    model = _scaled_residual(_application_scale(0.17))
    randomize(model)
    path = tmp_path / f"m.{fmt}"
    model.save(path)
    graph = convert.from_keras(path)
    xs = make_inputs(model, batch=2)
    check(graph, model, xs)
    # The scale is read, not assumed: another scale gives other outputs.
    other = _scaled_residual(_application_scale(0.5))
    other.set_weights(model.get_weights())
    moved = np.abs(np.asarray(other(xs[0])) - np.asarray(model(xs[0]))).max()
    assert moved > 0.1


def test_a_user_class_named_like_it_is_refused(tmp_path):
    import convert
    from convert.errors import UnsupportedError

    k = keras()

    class CustomScaleLayer(k.layers.Layer):  # same name, other module, other meaning
        def __init__(self, scale, **kw):
            super().__init__(**kw)
            self.scale = scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

        def call(self, inputs):
            return inputs[0] * inputs[1] * self.scale

    model = _scaled_residual(CustomScaleLayer(2.0, name="scale"))
    model.save(tmp_path / "m.keras")
    with pytest.raises(UnsupportedError) as e:
        convert.from_keras(tmp_path / "m.keras")
    assert "CustomScaleLayer" in str(e.value) and "custom layer class" in str(e.value)


@pytest.mark.parametrize("registered", [False, True])
def test_a_user_class_named_like_a_builtin_layer_is_refused(registered, tmp_path):
    """Same class name and the same weight shapes as ``keras.layers.Dense``, other arithmetic:
    importing it as the built-in would convert without an error and give wrong numbers."""
    import convert
    from convert.errors import UnsupportedError

    k = keras()

    class Dense(k.layers.Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, shape):
            self.kernel = self.add_weight(shape=(shape[-1], self.units))
            self.bias = self.add_weight(shape=(self.units,))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

        def call(self, x):
            return k.ops.matmul(x * 2.0, self.kernel) + self.bias

    if registered:
        Dense = k.saving.register_keras_serializable(package="user")(Dense)
    x = k.Input((4,), name="x")
    k.Model(x, Dense(3, name="d")(x)).save(tmp_path / "m.keras")
    with pytest.raises(UnsupportedError) as e:
        convert.from_keras(tmp_path / "m.keras")
    assert "d (Dense)" in str(e.value) and "custom layer class" in str(e.value)


@pytest.mark.parametrize("marks", [{"module": "mypkg.layers", "registered_name": "Dense"},
                                   {"registered_name": "Dense"}, {"class_name": "mypkg>Dense"}])
def test_an_h5_layer_that_says_it_is_not_keras_own_is_refused(marks, tmp_path):
    """A legacy ``.h5`` config naming a ``Dense`` with a module or registered name no Keras
    writer gives its own classes: refused by layer name, not read as ``keras.layers.Dense``."""
    import json

    import h5py

    import convert
    from convert.errors import UnsupportedError

    k = keras()
    x = k.Input((4,), name="x")
    path = tmp_path / "m.h5"
    k.Model(x, k.layers.Dense(3, name="d")(x)).save(path)
    assert [n.op for n in convert.from_keras(path).nodes] == ["Gemm"]  # as written: Keras' own
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        cfg["config"]["layers"][1].update(marks)
        f.attrs["model_config"] = json.dumps(cfg)
    with pytest.raises(UnsupportedError) as e:
        convert.from_keras(path)
    assert "d (" in str(e.value) and "custom layer class" in str(e.value), str(e.value)
