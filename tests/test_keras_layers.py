"""Per-layer Keras cases: convert the saved .keras file (no TensorFlow in the converter)
and compare onnxruntime against Keras' own output on the same random inputs."""
from __future__ import annotations

import pytest

from keras_cases import check, keras, make_inputs, randomize, seq_model

pytest.importorskip("keras")
L = keras().layers

# fp32 default tolerance; a case names its own only with a reason.
CASES = {
    # -- convolutions: 'same' at odd and even sizes, strides, dilation, groups --------
    "conv2d_valid": lambda: seq_model((7, 7, 3), L.Conv2D(4, 3)),
    "conv2d_same_odd_s1": lambda: seq_model((7, 7, 3), L.Conv2D(4, 3, padding="same")),
    "conv2d_same_even_s2": lambda: seq_model((8, 8, 3), L.Conv2D(4, 3, strides=2, padding="same")),
    "conv2d_same_odd_s2": lambda: seq_model((7, 7, 3), L.Conv2D(4, 3, strides=2, padding="same")),
    "conv2d_same_k4_s2": lambda: seq_model((9, 10, 3), L.Conv2D(4, 4, strides=2, padding="same")),
    "conv2d_same_k2_s1": lambda: seq_model((6, 6, 3), L.Conv2D(4, 2, padding="same")),
    "conv2d_same_dilation2": lambda: seq_model((9, 9, 3), L.Conv2D(4, 3, dilation_rate=2, padding="same")),
    "conv2d_groups2": lambda: seq_model((6, 6, 4), L.Conv2D(6, 3, groups=2)),
    "conv2d_nobias_relu": lambda: seq_model((6, 6, 3), L.Conv2D(4, 3, use_bias=False, activation="relu")),
    "conv2d_rect_strides": lambda: seq_model((8, 9, 3), L.Conv2D(4, (3, 2), strides=(2, 3), padding="same")),
    "conv1d_same_even_s2": lambda: seq_model((8, 3), L.Conv1D(4, 3, strides=2, padding="same")),
    "conv1d_causal_dilation": lambda: seq_model((9, 3), L.Conv1D(4, 3, dilation_rate=2, padding="causal")),
    "conv3d_same_s2": lambda: seq_model((6, 5, 4, 2), L.Conv3D(3, 3, strides=2, padding="same")),
    "conv3d_valid": lambda: seq_model((5, 5, 5, 2), L.Conv3D(3, 2)),
    "conv1d_transpose_valid_s2": lambda: seq_model((5, 3), L.Conv1DTranspose(4, 3, strides=2)),
    "conv2d_transpose_same_s2": lambda: seq_model((4, 5, 3), L.Conv2DTranspose(4, 3, strides=2, padding="same")),
    "conv2d_transpose_same_k4_s2": lambda: seq_model((4, 4, 3), L.Conv2DTranspose(4, 4, strides=2, padding="same")),
    "conv2d_transpose_valid_k2_s3": lambda: seq_model((4, 4, 3), L.Conv2DTranspose(4, 2, strides=3)),
    "conv2d_transpose_outpad": lambda: seq_model(
        (4, 4, 3), L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)),
    "depthwise2d_same_s2_mult2": lambda: seq_model(
        (8, 8, 3), L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)),
    "depthwise2d_valid_dilation": lambda: seq_model((9, 9, 3), L.DepthwiseConv2D(3, dilation_rate=2)),
    "depthwise1d_same": lambda: seq_model((8, 3), L.DepthwiseConv1D(3, padding="same", depth_multiplier=2)),
    "separable2d_same_s2": lambda: seq_model((8, 8, 3), L.SeparableConv2D(5, 3, strides=2, padding="same")),
    "separable2d_dilation_relu": lambda: seq_model(
        (9, 9, 3), L.SeparableConv2D(5, 3, dilation_rate=2, depth_multiplier=2, activation="relu")),
    "separable1d_same": lambda: seq_model((8, 3), L.SeparableConv1D(5, 3, padding="same")),
    # -- pooling -------------------------------------------------------------------------
    "maxpool2d_valid": lambda: seq_model((7, 7, 3), L.MaxPooling2D(2)),
    "maxpool2d_same_odd": lambda: seq_model((7, 7, 3), L.MaxPooling2D(2, padding="same")),
    "maxpool2d_same_k3_s2_even": lambda: seq_model((8, 8, 3), L.MaxPooling2D(3, strides=2, padding="same")),
    "avgpool2d_valid_s1": lambda: seq_model((6, 6, 3), L.AveragePooling2D(3, strides=1)),
    "avgpool2d_same_odd": lambda: seq_model((7, 7, 3), L.AveragePooling2D(2, padding="same")),
    "avgpool2d_same_k3_s2_even": lambda: seq_model((8, 8, 3), L.AveragePooling2D(3, strides=2, padding="same")),
    "maxpool1d_same": lambda: seq_model((7, 3), L.MaxPooling1D(2, padding="same")),
    "avgpool1d_valid": lambda: seq_model((8, 3), L.AveragePooling1D(3, strides=2)),
    "maxpool3d_valid": lambda: seq_model((4, 4, 4, 2), L.MaxPooling3D(2)),
    "avgpool3d_same": lambda: seq_model((5, 5, 5, 2), L.AveragePooling3D(2, padding="same")),
    "gap2d": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.GlobalAveragePooling2D()),
    "gap2d_keepdims": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.GlobalAveragePooling2D(keepdims=True)),
    "gmp2d": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.GlobalMaxPooling2D()),
    "gmp2d_keepdims": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.GlobalMaxPooling2D(keepdims=True)),
    "gap1d_on_dense": lambda: seq_model((6, 3), L.Dense(4), L.GlobalAveragePooling1D()),
    "gmp1d_on_conv": lambda: seq_model((6, 3), L.Conv1D(4, 3), L.GlobalMaxPooling1D()),
    "gap3d_keepdims": lambda: seq_model((4, 4, 4, 2), L.GlobalAveragePooling3D(keepdims=True)),
    "gmp3d": lambda: seq_model((4, 4, 4, 2), L.GlobalMaxPooling3D()),
    # -- normalisation ---------------------------------------------------------------------
    "batchnorm_after_conv": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.BatchNormalization()),
    "batchnorm_dense": lambda: seq_model((6,), L.Dense(4), L.BatchNormalization(epsilon=1e-2)),
    "batchnorm_axis1": lambda: seq_model((4, 5, 6), L.BatchNormalization(axis=1)),
    "batchnorm_no_center_scale": lambda: seq_model((5, 5, 3), L.BatchNormalization(center=False, scale=False)),
    "batchnorm_sequence": lambda: seq_model((5, 3), L.Dense(4), L.BatchNormalization()),
    "layernorm_last": lambda: seq_model((5, 6), L.LayerNormalization()),
    "layernorm_after_conv": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.LayerNormalization()),
    "layernorm_3axes": lambda: seq_model((3, 4, 5), L.LayerNormalization(axis=[1, 2, 3])),
    "layernorm_no_center_scale": lambda: seq_model((6,), L.LayerNormalization(center=False, scale=False)),
    "normalization_given": lambda: seq_model((4, 4, 3), L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0])),
    "normalization_invert": lambda: seq_model((3,), L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0], invert=True)),
    "unit_normalization": lambda: seq_model((6,), L.UnitNormalization()),
    # -- regularisation: identities at inference ----------------------------------------------
    "dropout": lambda: seq_model((6,), L.Dense(4), L.Dropout(0.5)),
    "spatial_dropout2d": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.SpatialDropout2D(0.3)),
    "spatial_dropout1d": lambda: seq_model((5, 3), L.SpatialDropout1D(0.3)),
    "gaussian_noise": lambda: seq_model((6,), L.GaussianNoise(0.5)),
    "gaussian_dropout": lambda: seq_model((6,), L.GaussianDropout(0.5)),
    "alpha_dropout": lambda: seq_model((6,), L.AlphaDropout(0.5)),
    # -- dense and shapes ------------------------------------------------------------------
    "dense_2d_softmax": lambda: seq_model((6,), L.Dense(5, activation="softmax")),
    "dense_3d": lambda: seq_model((4, 6), L.Dense(5, activation="tanh")),
    "dense_on_conv_4d": lambda: seq_model((4, 4, 3), L.Conv2D(4, 3, padding="same"), L.Dense(5)),
    "dense_nobias": lambda: seq_model((6,), L.Dense(5, use_bias=False)),
    "flatten_dense_after_conv": lambda: seq_model((5, 5, 3), L.Conv2D(4, 3), L.Flatten(), L.Dense(3)),
    "reshape_after_conv": lambda: seq_model((4, 4, 3), L.Conv2D(4, 3, padding="same"), L.Reshape((8, -1)), L.Dense(2)),
    "reshape_to_image": lambda: seq_model((12,), L.Reshape((2, 2, 3)), L.Conv2D(2, 1)),
    "permute_after_conv": lambda: seq_model((4, 5, 3), L.Conv2D(4, 1), L.Permute((3, 1, 2)), L.Conv2D(2, 1)),
    "permute_sequence": lambda: seq_model((4, 6), L.Permute((2, 1)), L.Dense(3)),
    "repeat_vector": lambda: seq_model((5,), L.RepeatVector(3)),
    "embedding": lambda: seq_model((5,), L.Embedding(10, 4), L.Flatten(), L.Dense(3), dtype="int32"),
    "embedding_float_ids": lambda: seq_model((5,), L.Embedding(10, 4)),
    "rescaling": lambda: seq_model((4, 4, 3), L.Rescaling(1 / 127.5, offset=-1)),
    # -- padding, cropping, upsampling --------------------------------------------------------
    "zero_padding2d": lambda: seq_model((4, 4, 3), L.ZeroPadding2D(((1, 2), (0, 3))), L.Conv2D(2, 3)),
    "zero_padding1d": lambda: seq_model((4, 3), L.ZeroPadding1D((2, 1))),
    "zero_padding3d": lambda: seq_model((3, 3, 3, 2), L.ZeroPadding3D(1)),
    "cropping2d": lambda: seq_model((6, 6, 3), L.Conv2D(2, 1), L.Cropping2D(((1, 0), (2, 1)))),
    "cropping1d": lambda: seq_model((6, 3), L.Cropping1D((1, 2))),
    "cropping3d": lambda: seq_model((4, 4, 4, 2), L.Cropping3D(((1, 0), (0, 1), (1, 1)))),
    "upsampling1d": lambda: seq_model((4, 3), L.UpSampling1D(3)),
    "upsampling2d_nearest": lambda: seq_model((3, 4, 2), L.UpSampling2D((2, 3))),
    "upsampling2d_bilinear": lambda: seq_model((3, 4, 2), L.UpSampling2D(2, interpolation="bilinear")),
    "upsampling3d": lambda: seq_model((2, 2, 2, 2), L.UpSampling3D(2)),
    # -- activation layers -----------------------------------------------------------------------
    "relu_max6": lambda: seq_model((6,), L.ReLU(max_value=6.0)),
    "relu_negative_slope": lambda: seq_model((6,), L.ReLU(negative_slope=0.1)),
    "relu_threshold": lambda: seq_model((6,), L.ReLU(threshold=0.5)),
    "relu_all_options": lambda: seq_model((6,), L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.3)),
    "leaky_relu_layer": lambda: seq_model((6,), L.LeakyReLU(negative_slope=0.2)),
    "prelu_conv_shared": lambda: seq_model((4, 4, 3), L.Conv2D(4, 1), L.PReLU(shared_axes=[1, 2])),
    "prelu_full": lambda: seq_model((4, 4, 3), L.Conv2D(4, 1), L.PReLU()),
    "elu_layer": lambda: seq_model((6,), L.ELU(alpha=0.5)),
    "softmax_layer_conv_channels": lambda: seq_model((4, 4, 3), L.Conv2D(4, 1), L.Softmax()),
    "softmax_layer_axis1": lambda: seq_model((4, 4, 3), L.Conv2D(4, 1), L.Softmax(axis=1)),
}

ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "hard_swish", "hard_silu",
               "silu", "swish", "gelu", "tanh", "softmax", "softplus", "softsign", "linear", "exponential", "mish",
               "celu", "hard_tanh", "log_sigmoid", "log_softmax"]
for _a in ACTIVATIONS:
    # On a conv output, so axis-bearing activations (softmax) see the channels-first layout.
    CASES[f"activation_{_a}"] = (lambda a: lambda: seq_model((4, 4, 3), L.Conv2D(4, 1), L.Activation(a)))(_a)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_from_keras_file(case, tmp_path):
    from convert.importers.keras import load

    model = CASES[case]()
    randomize(model)
    path = tmp_path / "m.keras"
    model.save(path)
    graph = load(str(path)).graph
    check(graph, model, make_inputs(model))


H5_CASES = ["conv2d_same_even_s2", "batchnorm_after_conv", "separable2d_same_s2", "depthwise2d_same_s2_mult2",
            "flatten_dense_after_conv", "embedding", "prelu_conv_shared"]


@pytest.mark.parametrize("case", H5_CASES)
def test_layer_from_h5_file(case, tmp_path):
    from convert.importers.keras import load

    model = CASES[case]()
    randomize(model)
    path = tmp_path / "m.h5"
    model.save(path)
    check(load(str(path)).graph, model, make_inputs(model))


@pytest.mark.parametrize("case", ["conv2d_same_even_s2", "permute_after_conv", "dense_3d", "gap2d_keepdims"])
def test_layer_from_live_model_nchw(case):
    from convert.importers.keras import from_keras

    model = CASES[case]()
    randomize(model)
    check(from_keras(model, io_layout="nchw"), model, make_inputs(model), io_layout="nchw")
