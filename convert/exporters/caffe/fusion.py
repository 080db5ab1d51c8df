"""The activations the Caffe writer runs in place on the top of the layer before them."""
from __future__ import annotations

from ...passes.fuse_activation import Fusion

# IR ops whose Caffe neuron layer may run in place
IN_PLACE = ("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Abs", "Softplus", "Clip")
FUSION = Fusion(lambda n: n.op in IN_PLACE)
