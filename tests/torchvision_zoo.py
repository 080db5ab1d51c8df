"""torchvision models for the corpus test: built with ``weights=None``, then given weights
that carry signal (random values where the initialiser wrote a constant, BatchNorm running
statistics from a calibration batch), at small input sizes.

Also the ``file.py:factory`` the corpus converts (``build``: the model named by the
``NNCONVERT_ZOO_MODEL`` environment variable, weights from ``--weights``)."""
from __future__ import annotations

import os


def import_torchvision():
    """torchvision, also beside a CPU-only torch: the index's torchvision wheel is a CUDA
    build whose C extension (detection ops) cannot load there, and torchvision then fails
    registering fake kernels for ``torchvision::nms``/``qnms``. The classification models
    are plain Python and never call those ops, so declaring the two schemas is enough."""
    import torch

    try:
        import torchvision
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            raise
        lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR901
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.lib = lib  # keep the library alive
        import torchvision
    return torchvision


def skip_without_torchvision() -> None:
    """Skip the calling test module (at import) where torchvision is not installed."""
    import pytest

    try:
        import_torchvision()
    except ImportError:
        pytest.skip("torchvision is not installed (pip install 'nnconvert[vision]')", allow_module_level=True)


# name -> (builder kwargs, input H=W). The smallest variant of each family.
MODELS: dict[str, tuple[dict, int]] = {
    "resnet18": ({}, 32),
    "resnext50_32x4d": ({}, 32),
    "wide_resnet50_2": ({}, 32),
    "mobilenet_v2": ({}, 32),
    "mobilenet_v3_small": ({}, 32),
    "efficientnet_b0": ({}, 32),
    "efficientnet_v2_s": ({}, 32),
    "regnet_x_400mf": ({}, 32),
    "regnet_y_400mf": ({}, 32),
    "densenet121": ({}, 32),
    "googlenet": ({"aux_logits": False, "init_weights": True}, 32),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, 75),
    "shufflenet_v2_x0_5": ({}, 32),
    "squeezenet1_1": ({}, 48),
    "mnasnet0_5": ({}, 32),
    "vgg11": ({}, 224),  # the smallest input whose features fill the 7x7 adaptive pool
    "alexnet": ({}, 224),  # likewise 6x6
    "convnext_tiny": ({}, 32),
    "vit_b_16": ({"image_size": 32}, 32),
    "swin_t": ({}, 64),
    "maxvit_t": ({}, 224),
}


# Dense prediction: name -> (torchvision.models submodule, input H=W). Segmentation models
# return {"out": ...}; a detection model's ``backbone`` (body + FPN) returns one map per level.
DENSE: dict[str, tuple[str, int]] = {
    "lraspp_mobilenet_v3_large": ("segmentation", 64),
    "deeplabv3_mobilenet_v3_large": ("segmentation", 64),
    "fcn_resnet50": ("segmentation", 64),
    "fasterrcnn_mobilenet_v3_large_fpn": ("detection", 96),
    "retinanet_resnet50_fpn": ("detection", 64),
}


def build_dense(name: str, seed: int = 0):
    """A segmentation model, or a detection model's backbone + FPN, with signal-carrying
    weights (no pretrained weights anywhere: ``weights_backbone=None`` too), in eval mode."""
    import torch

    tv = import_torchvision()
    family, size = DENSE[name]
    torch.manual_seed(seed)
    model = getattr(getattr(tv.models, family), name)(weights=None, weights_backbone=None)
    if family == "detection":  # the rest needs torchvision's compiled ops (nms, roi_align)
        model = model.backbone
    give_signal(model, size, seed)
    return model


def main_path_kernels(model) -> list:
    """Kernels on the main path, in order: not those of a squeeze-and-excitation gate, which
    only rescales channels by a gently varying factor (a 1% change to mobilenet_v3_small's
    largest middle gate kernel moved the logits by ~1x the tolerance, its expand
    convolution beside it by ~20x)."""
    gates = {id(p) for m in model.modules() if "SqueezeExcitation" in type(m).__name__ for p in m.parameters()}
    return [p for p in model.parameters() if p.dim() >= 2 and id(p) not in gates]


def outputs(out) -> list:
    """A model's outputs as numpy arrays, in order (a dict's values, as torch.export flattens them)."""
    if isinstance(out, dict):
        return [v.numpy() for v in out.values()]
    return [out.numpy()]


def tolerance(ref) -> float:
    """The corpus' tolerance on the largest absolute error: ``1e-4 * max(1, max|ref|)``."""
    import numpy as np

    return 1e-4 * max(1.0, float(np.abs(ref).max()))


def assert_signal(model, x, other) -> None:
    """The reference itself must react: another input and a 1% change to the largest
    main-path kernel of the middle third move some output far past its tolerance
    (``1e-4 * max(1, max|ref|)``)."""
    import numpy as np
    import torch

    with torch.no_grad():
        ref = outputs(model(x))
        moved_by_input = outputs(model(other))
        weights = main_path_kernels(model)
        third = len(weights) // 3
        w = max(weights[third:len(weights) - third] or weights, key=lambda p: p.numel())
        w.mul_(1.01)
        try:
            nudged = outputs(model(x))
        finally:
            w.div_(1.01)

    def moved(got) -> float:  # the largest move in tolerances of any output
        return max(float(np.abs(g - r).max()) / tolerance(r) for g, r in zip(got, ref))

    assert moved(moved_by_input) > 100, "another input barely moves the outputs"
    assert moved(nudged) > 10, "a 1% change to a middle weight barely moves the outputs"


def build_model(name: str, seed: int = 0):
    """The named model with signal-carrying weights, in eval mode."""
    import torch

    tv = import_torchvision()
    kwargs, size = MODELS[name]
    torch.manual_seed(seed)
    model = getattr(tv.models, name)(weights=None, **kwargs)
    give_signal(model, size, seed)
    return model


def give_signal(model, size: int, seed: int = 0) -> None:
    """Constant-initialised parameters (biases 0, norm scales 1, layer scales) drawn at
    random, then BatchNorm running statistics set to a calibration batch's statistics."""
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            w, b = getattr(m, "weight", None), getattr(m, "bias", None)
            if isinstance(w, torch.nn.Parameter) and w.dim() >= 2 and isinstance(b, torch.nn.Parameter) \
                    and _constant(b) and float(b.reshape(-1)[0]) == 0.0:
                # A bias on the scale of the layer's output, so it does not drown the signal.
                out_std = float(w.std()) * (w[0].numel() ** 0.5)
                b.copy_(torch.randn(b.shape, generator=g) * 0.1 * out_std)
        for p in model.parameters():
            if _constant(p):
                flat = p.reshape(-1)
                if float(flat[0]) == 0.0:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                else:
                    p.copy_(torch.rand(p.shape, generator=g) + 0.5)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one batch gives exactly its statistics
        # At tiny inputs the last stages are 1x1: a larger calibration batch gives BN
        # enough samples per channel (too few make eval-mode activations explode). At the
        # size the model runs at: statistics taken at another size do not match the deep
        # stages' activations there (calibrated at 2x the size, mobilenet_v3_small's
        # features varied 5x less with the input than their constant part).
        cal = (64, size) if size < 96 else (4, size)
        x = torch.randn(cal[0], 3, cal[1], cal[1], generator=g)
        model.eval()
        norms = (torch.nn.LayerNorm, torch.nn.GroupNorm)
        if bns:
            # Only BatchNorm in training mode: dropout and stochastic depth left on would
            # calibrate the deep stages on inputs inference never sees.
            for m in bns:
                m.train()
            model(x)
            model.eval()
        elif not any(isinstance(m, norms) for m in model.modules()):
            _unit_scale(model, x)


def _unit_scale(model, x) -> None:
    """For a network without normalisation (AlexNet, VGG, SqueezeNet): scale each conv and
    linear layer's weight and bias, in order, so its output has unit standard deviation on
    ``x`` (layer-sequential unit variance, as a trained network keeps its activations at
    scale; its initialisers shrink them a hundredfold over a few layers)."""
    import torch

    class Seen(Exception):
        """Stops the forward pass once the layer's output is known."""

    def stop(_m, _i, out):
        raise Seen(float(out.double().std()))

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            hook = m.register_forward_hook(stop)
            try:
                model(x)
                continue  # the layer does not run on this input
            except Seen as e:
                std = e.args[0]
            finally:
                hook.remove()
            if std > 0:
                m.weight.div_(std)
                if m.bias is not None:
                    m.bias.div_(std)


def _constant(p) -> bool:
    flat = p.reshape(-1)
    return flat.numel() > 1 and bool((flat == flat[0]).all())


def build():
    """``file.py:factory`` entry for the CLI/loader path: NNCONVERT_ZOO_MODEL names the model."""
    return build_model(os.environ["NNCONVERT_ZOO_MODEL"])
