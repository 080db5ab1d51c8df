"""Transformers: onnxruntime latency of nnconvert's ONNX (opset 17: MatMul/Softmax; opset
23: the Attention op) against torch.onnx's dynamo export of the same module, and the
torch result (the generated module, which ``.pt2`` files hold) against the original module.

    python bench/bench_transformers.py [--runs 20] [--models vit_b_16,bert] [--threads 2]

ViT-B/16 is torchvision's (random weights, 224x224, batch 1); the BERT-style encoder is
written below (6 layers, width 384, 6 heads, sequence 128, batch 1). Latencies are medians
of ``--runs`` calls timed round-robin, so every file sees the same machine load."""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, WIDTH, HEADS, LAYERS, SEQ = 1000, 384, 6, 6, 128


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv, self.proj = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
        self.ln1, self.ln2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
        self.up, self.down = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x, mask):
        b, s, _ = x.shape
        q, k, v = (t.view(b, s, HEADS, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, s, WIDTH)
        x = self.ln1(x + self.proj(y))
        return self.ln2(x + self.down(F.gelu(self.up(x))))


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, WIDTH), nn.Embedding(512, WIDTH)
        self.blocks = nn.ModuleList(_Block() for _ in range(LAYERS))

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.cumsum(torch.ones_like(ids), 1) - 1)
        mask = (ids != 0)[:, None, None, :]
        for b in self.blocks:
            x = b(x, mask)
        return x


def build(name: str):
    torch.manual_seed(0)
    if name == "bert":
        ids = torch.randint(1, VOCAB, (1, SEQ))
        ids[0, -9:] = 0  # padding
        return Bert().eval(), ids
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from torchvision_zoo import import_torchvision  # the workaround for a CPU-only torch beside torchvision

    model = import_torchvision().models.vit_b_16(weights=None).eval()
    nn.init.normal_(model.heads.head.weight, std=0.02)  # zero at init: the logits would all be 0
    return model, torch.randn(1, 3, 224, 224)


def _median_ms(fns: dict, runs: int) -> dict:
    times: dict = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(runs):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def bench(name: str, runs: int, threads: int) -> list[tuple]:
    import onnxruntime as ort

    from convert.exporters.onnx import to_onnx
    from convert.exporters.torch import to_torch
    from convert.importers.torch import from_torch
    from convert.passes import optimize

    model, x = build(name)
    with torch.no_grad():
        ref = model(x).numpy()
    t = time.perf_counter()
    graph = optimize(from_torch(model, (x,)))
    files = {f"nnconvert opset {o}": to_onnx(graph, o).SerializeToString() for o in (17, 23)}
    convert_s = time.perf_counter() - t
    t = time.perf_counter()
    program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
    files["torch.onnx dynamo"] = program.model_proto.SerializeToString()
    dynamo_s = time.perf_counter() - t
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = threads, 1, 3
    sessions = {k: ort.InferenceSession(b, so, providers=["CPUExecutionProvider"]) for k, b in files.items()}
    feeds = {k: {s.get_inputs()[0].name: x.numpy()} for k, s in sessions.items()}
    errs = {k: float(np.abs(s.run(None, feeds[k])[0] - ref).max()) for k, s in sessions.items()}
    ort_ms = _median_ms({k: (lambda s=s, k=k: s.run(None, feeds[k])) for k, s in sessions.items()}, runs)
    converted = to_torch(graph).eval()
    torch.set_num_threads(threads)
    with torch.no_grad():
        errs["nnconvert torch module"] = float(np.abs(converted(x).numpy() - ref).max())
        torch_ms = _median_ms({"original module": lambda: model(x), "nnconvert torch module": lambda: converted(x)},
                              runs)
    rows = [(name, "onnxruntime", k, ort_ms[k], errs[k]) for k in files]
    rows += [(name, "torch", k, torch_ms[k], errs.get(k, 0.0)) for k in torch_ms]
    print(f"{name}: nnconvert convert {convert_s:.1f} s (both opsets), torch.onnx dynamo {dynamo_s:.1f} s")
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", default="vit_b_16,bert")
    a = p.parse_args()
    rows = [r for m in a.models.split(",") for r in bench(m, a.runs, a.threads)]
    print("| model | runtime | file / module | median ms | max abs err vs torch |\n|---|---|---|---:|---:|")
    for m, rt, k, ms, err in rows:
        print(f"| {m} | {rt} | {k} | {ms:.2f} | {err:.1e} |")


if __name__ == "__main__":
    main()
