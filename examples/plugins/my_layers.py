"""nnconvert plugin: converts the two custom layers of this folder.

    nnconvert --plugin examples/plugins/my_layers.py convert gated_cnn.keras -o gated_cnn.onnx --verify
    nnconvert --plugin examples/plugins/my_layers.py convert examples/plugins/example_torch.py:build \
        -o scaled_tanh.onnx --verify

* Keras ``ChannelGate`` (a custom class) -> built-in IR ops (Sigmoid, Mul): every
  target that supports those ops can then take the model.
* torch custom op ``example::scaled_tanh`` -> a custom IR op ``example.ScaledTanh``,
  exported to ONNX as op ``ScaledTanh`` of domain ``com.example``, defined by an ONNX
  function (so onnxruntime, and any ONNX runtime, can run it without a custom kernel).
"""
import sys
from pathlib import Path

from convert.ir.optable import Attr
from convert.plugins import register_exporter, register_importer, register_op

DOMAIN = "com.example"


# -- Keras: ChannelGate -> Sigmoid + Mul ------------------------------------------
@register_importer("keras", "example>ChannelGate")  # the registered name (class name works too)
def import_channel_gate(ctx, node):
    """y = x * sigmoid(gate); the gate runs along the last (channels-last) axis."""
    ref = node.inputs[0]
    channels_last = tuple(range(ref.rank))  # ask for the input in Keras' own layout
    x = ctx.get(ref, channels_last)
    (gate,) = node.take((ref.shape[-1],))  # checked against the config-implied shape
    g = ctx.op("Sigmoid", ctx.weight("gate", gate), suffix="sigmoid")
    y = ctx.op("Mul", x, g)
    return [ctx.ref(y, ref.shape, channels_last, ref.dtype)]


# Verification runs the original Keras model, so the class must be registered with
# Keras in this process (when Keras is installed at all).
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import example_keras  # noqa: F401,E402
except ImportError:  # no Keras here: converting still works, verifying a .keras source does not
    pass
finally:
    sys.path.pop(0)


# -- torch: example::scaled_tanh -> custom IR op -> ONNX function ---------------------
register_op("example.ScaledTanh", "X", "Y", attrs={"scale": Attr("float", 1.0)},
            doc="tanh(scale * x), elementwise (the example::scaled_tanh torch op)")


@register_importer("torch", "example.scaled_tanh.default")
def import_scaled_tanh(ctx, node):
    x, scale = ctx.args(node)
    return ctx.op("example.ScaledTanh", ctx.v(x), scale=float(scale))


@register_exporter("onnx", "example.ScaledTanh")
def export_scaled_tanh(ctx, node):
    ctx.add_function(_scaled_tanh_function(ctx.opset))
    ctx.emit("ScaledTanh", node.inputs, node.outputs, name=node.name, domain=DOMAIN,
             scale=float(node.attrs.get("scale", 1.0)))


def _scaled_tanh_function(opset: int):
    """ScaledTanh(X; scale) := Tanh(Mul(X, scale)) as an ONNX FunctionProto."""
    from onnx import AttributeProto, helper

    const = helper.make_node("Constant", [], ["s"])
    ref = AttributeProto(name="value_float", ref_attr_name="scale", type=AttributeProto.FLOAT)
    const.attribute.append(ref)
    nodes = [const, helper.make_node("CastLike", ["s", "X"], ["s_x"]),
             helper.make_node("Mul", ["X", "s_x"], ["xs"]), helper.make_node("Tanh", ["xs"], ["Y"])]
    return helper.make_function(DOMAIN, "ScaledTanh", ["X"], ["Y"], nodes,
                                [helper.make_opsetid("", opset)], attributes=["scale"])


# Other targets: a torch exporter handler, for instance, would declare the layer and
# write its forward line -- see convert/exporters/torch/ for the context's API.
