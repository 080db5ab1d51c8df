"""ONNX Attention with a KV cache (past/present key and value, nonpad_kv_seqlen), window
bounds and the scores output, to PyTorch and back to ONNX, against onnxruntime running
the source model."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402
from onnx_run import run_ort as _ort, run_torch as _torch  # noqa: E402

B, HQ, HKV, SQ, P, D = 2, 4, 2, 3, 5, 8
OPSET = 25


def _model(inputs: dict, outputs: list[str], **attrs):
    names = ["Q", "K", "V", "attn_mask", "past_key", "past_value", "nonpad_kv_seqlen"]
    order = [n if n in inputs else "" for n in names]
    while not order[-1]:
        order.pop()
    all_outs = ["Y", "present_key", "present_value", "qk_matmul_output"]
    node = helper.make_node("Attention", order, [o if o in outputs else "" for o in all_outs[:max(
        all_outs.index(o) for o in outputs) + 1]], **attrs)
    types = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.bool_): TensorProto.BOOL,
             np.dtype(np.int64): TensorProto.INT64}
    g = helper.make_graph([node], "attention",
                          [helper.make_tensor_value_info(k, types[v.dtype], v.shape) for k, v in inputs.items()],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])


def _feeds(seed: int, past: bool = True, mask: str | None = None, nonpad: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    total = SQ + (P if past else 0)
    f = {"Q": rng.normal(size=(B, HQ, SQ, D)), "K": rng.normal(size=(B, HKV, SQ, D)),
         "V": rng.normal(size=(B, HKV, SQ, D))}
    if mask == "bool":
        f["attn_mask"] = rng.random((SQ, total)) < 0.8
    elif mask == "float":
        f["attn_mask"] = rng.normal(size=(B, 1, SQ, total - 1))  # one key short: padded with "masked"
    if past:
        f["past_key"], f["past_value"] = rng.normal(size=(B, HKV, P, D)), rng.normal(size=(B, HKV, P, D))
    if nonpad:
        f["nonpad_kv_seqlen"] = np.array([SQ, SQ - 1], np.int64)
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in f.items()}


CASES = {  # name: (feeds options, outputs, attributes)
    "past-present": (dict(), ["Y", "present_key", "present_value"], {}),
    "past-causal": (dict(), ["Y", "present_key", "present_value"], {"is_causal": 1}),
    "past-bool-mask-causal": (dict(mask="bool"), ["Y", "present_key", "present_value"], {"is_causal": 1}),
    "past-short-float-mask": (dict(mask="float"), ["Y"], {"softcap": 2.0}),
    "scores-mode0": (dict(), ["Y", "qk_matmul_output"], {"is_causal": 1}),
    "scores-mode2-softcap": (dict(mask="float"), ["Y", "qk_matmul_output"], {"qk_matmul_output_mode": 2, "softcap": 3.0}),
    "scores-mode3": (dict(past=False), ["Y", "qk_matmul_output"], {"qk_matmul_output_mode": 3, "is_causal": 1}),
    "window-left": (dict(), ["Y"], {"left_window_size": 2, "is_causal": 1}),
    "window-both": (dict(past=False), ["Y"], {"left_window_size": 1, "right_window_size": 1}),
    "nonpad-causal": (dict(past=False, nonpad=True), ["Y"], {"is_causal": 1}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_onnxruntime(name):
    opts, outputs, attrs = CASES[name]
    feeds = _feeds(0, **opts)
    model = _model(feeds, outputs, **attrs)
    want = _ort(model, feeds)
    graph = convert.from_onnx(model)
    got = _torch(graph, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.allclose(g, w, rtol=1e-5, atol=1e-5), np.abs(g - w).max()
    for g, w in zip(_ort(convert.to_onnx(graph, OPSET), feeds), want):  # ONNX round trip
        assert np.allclose(g, w, rtol=1e-5, atol=1e-5)
    # a 1% change of the cache (or of K without one) moves Y far past the tolerance
    key = "past_value" if "past_value" in feeds else "V"
    moved = _torch(graph, {**feeds, key: feeds[key] * np.float32(1.01)})[0]
    assert np.abs(moved - want[0]).max() > 1e-3


def test_cache_steps_equal_one_causal_pass():
    """Decoding in two steps through present -> past gives the one-pass causal result."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(1, HQ if t == "q" else HKV, 6, D)).astype(np.float32) for t in "qkv")
    full = _torch(convert.from_onnx(_model({"Q": q, "K": k, "V": v}, ["Y"], is_causal=1)), {"Q": q, "K": k, "V": v})[0]
    step = convert.from_onnx(_model(_feeds(0), ["Y", "present_key", "present_value"], is_causal=1))
    y, pk, pv = _torch(step, {"Q": q[:, :, 4:], "K": k[:, :, 4:], "V": v[:, :, 4:],
                              "past_key": k[:, :, :4], "past_value": v[:, :, :4]})
    assert np.allclose(y, full[:, :, 4:], atol=1e-5) and np.array_equal(pk, k) and np.array_equal(pv, v)


def test_plain_attention_targets_refuse_the_cache_by_name():
    from convert.errors import NNConvertError

    feeds = _feeds(0)
    graph = convert.from_onnx(_model(feeds, ["Y", "present_key", "present_value"]))
    with pytest.raises(NNConvertError, match="past_key"):
        convert.to_onnx(graph, 17)
