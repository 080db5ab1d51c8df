"""A custom Keras layer (the kind of class nnconvert refuses unless a plugin maps it).

ChannelGate scales each channel by sigmoid(gate): y = x * sigmoid(g), g of shape (C,)
on the last (channels-last) axis.
"""
import keras


@keras.saving.register_keras_serializable(package="example")
class ChannelGate(keras.layers.Layer):
    def build(self, input_shape):
        self.gate = self.add_weight(name="gate", shape=(input_shape[-1],), initializer="random_normal")

    def call(self, x):
        return x * keras.ops.sigmoid(self.gate)


def build_model(path: str) -> None:
    """A small CNN with the custom layer in the middle, random weights, saved to ``path``."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = ChannelGate(name="gate")(x)
    x = keras.layers.ReLU(name="relu")(x)
    model = keras.Model(inp, x, name="gated_cnn")
    model.layers[2].gate.assign(keras.random.normal((4,), seed=1))
    model.save(path)


if __name__ == "__main__":
    import sys

    build_model(sys.argv[1] if len(sys.argv) > 1 else "gated_cnn.keras")
