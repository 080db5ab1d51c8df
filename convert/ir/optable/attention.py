"""Attention: scaled dot-product attention as one op (ONNX opset 23-25 `Attention`),
with the KV cache (past/present key and value, per-batch valid lengths) and the
sliding-window and scores outputs of opsets 24-25."""
from . import declare
from .spec import Attr

declare("Attention", "attention", "Q K V attn_mask? past_key? past_value? nonpad_kv_seqlen?",
        "Y present_key? present_value? qk_matmul_output?", attrs={
            "is_causal": Attr("int", 0, "1: query i attends to keys j <= i + offset (see the semantics)"),
            "scale": Attr("float", 0.0, "0: 1/sqrt(head_size)"),
            "q_num_heads": Attr("int", 0, "heads of 3-D Q (B, S, H*D); 0 for 4-D inputs"),
            "kv_num_heads": Attr("int", 0, "heads of 3-D K/V; 0 for 4-D inputs"),
            "softcap": Attr("float", 0.0, "0: none; else scores = softcap * tanh(scores / softcap)"),
            "left_window_size": Attr("int", -1, "-1: unbounded; else keys j >= i + offset - left only"),
            "right_window_size": Attr("int", -1, "-1: unbounded; else keys j <= i + offset + right only"),
            "qk_matmul_output_mode": Attr("int", 0, "qk_matmul_output: 0/1 scaled (softcapped) scores, "
                                      "2: plus the mask, 3: softmax probabilities"),
            "softmax_precision": Attr("str", "", "'': float32 at least; the inputs' float16/bfloat16: "
                                      "every step in that dtype, as ONNX's default"),
        }, doc="""
    Y = softmax(scale * Q K^T + mask) V per head. 4-D Q is (B, Hq, Sq, D), K (B, Hkv, Skv, D),
    V (B, Hkv, Skv, Dv), Y (B, Hq, Sq, Dv); 3-D inputs are (B, S, H*D) with the head counts
    in the attributes, and Y is then (B, Sq, Hq*Dv). Hq must be a multiple of Hkv: each K/V
    head serves Hq/Hkv consecutive query heads (grouped-query attention). A boolean mask is
    True where attention is allowed; a float mask is added to the scores; it broadcasts to
    (B, Hq, Sq, Skv), and one shorter than the keys is padded with "masked". Softmax is
    computed in float32 at least, unless softmax_precision names the inputs' half dtype:
    then, as ONNX's function body without softmax_precision, Q and K are each scaled by
    sqrt(scale) rounded to that dtype, and the scores, the exponentials, their sum, the
    probabilities and Y are each rounded to it. A query row with every key masked gives 0.
    KV cache: past_key/past_value (B, Hkv, P, D), always 4-D, are concatenated before K/V
    along the sequence; present_key/present_value are those concatenations. Positions:
    query i sits at i + offset, offset = P with a past, nonpad_kv_seqlen[b] - Sq with
    per-batch valid key lengths (keys j >= nonpad_kv_seqlen[b] are masked), else 0 (so
    is_causal without a cache is upper-left aligned, as torch's). is_causal and the
    window bounds mask keys by that position. qk_matmul_output is (B, Hq, Sq, Skv).""")

# Ports and attributes beyond plain (cache-free, single-output) attention: exporters
# that implement only plain attention refuse a node using any of them.
EXTENDED_INPUTS = {4: "past_key", 5: "past_value", 6: "nonpad_kv_seqlen"}
EXTENDED_OUTPUTS = {1: "present_key", 2: "present_value", 3: "qk_matmul_output"}
EXTENDED_ATTRS = {"left_window_size": -1, "right_window_size": -1, "softmax_precision": ""}


def extensions(node) -> list[tuple[str, object]]:
    """(port or attribute, value) for each KV-cache port, extra output or window bound
    that ``node`` uses; empty for plain attention."""
    out = [(name, node.inputs[i]) for i, name in EXTENDED_INPUTS.items() if i < len(node.inputs) and node.inputs[i]]
    out += [(name, node.outputs[i]) for i, name in EXTENDED_OUTPUTS.items() if i < len(node.outputs) and node.outputs[i]]
    out += [(k, node.attrs[k]) for k, default in EXTENDED_ATTRS.items() if node.attrs.get(k, default) != default]
    return out


declare("RotaryEmbedding", "attention", "X cos_cache sin_cache position_ids?", attrs={
    "interleaved": Attr("int", 0, "1: rotate pairs (x0, x1), (x2, x3), ...; 0: the two halves"),
    "rotary_embedding_dim": Attr("int", 0, "leading features of each head rotated; 0: the whole head"),
    "num_heads": Attr("int", 0, "heads of 3-D X (B, S, H*D); 0 for 4-D X"),
}, onnx=False, doc="""
    Rotary position embedding (ONNX opset 23). X is (B, H, S, D) or (B, S, H*D). With
    position_ids (B, S), cos/sin rows are gathered from caches (max_pos, r/2); without, the
    caches are (B, S, r/2). Per head, the first r features x1 (even ones when interleaved)
    and x2 (odd ones, or the second half) become x1*cos - x2*sin and x1*sin + x2*cos, written
    back in place; features past r pass through.""")
declare("LinearAttention", "attention", "query key value past_state? decay? beta?", "output present_state?", attrs={
    "q_num_heads": Attr("int"), "kv_num_heads": Attr("int"),
    "scale": Attr("float", 0.0, "0: 1/sqrt(d_k)"),
    "update_rule": Attr("str", "gated_delta", choices=("linear", "gated", "delta", "gated_delta")),
}, onnx=False, doc="""
    Linear attention as its recurrence over time steps (ONNX opset 27), in float32: per KV
    head a state S (d_k, d_v), from past_state (B, H_kv, d_k, d_v) or zeros; gated rules
    first scale S by exp(decay_t) (decay per head or per key feature), delta rules replace
    v_t by beta_t * (v_t - S^T k_t); then S += k_t v_t^T and o_t = scale * q_t^T S (each KV
    head serving q_num_heads / kv_num_heads query heads). query/key/value/decay/beta are
    (B, T, H*D); present_state is the last S.""")
