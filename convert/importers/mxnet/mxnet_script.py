"""Runs an MXNet symbol + params in real MXNet. Executed as a script by the interpreter
named in NNCONVERT_MXNET_PYTHON (MXNet's own environment), never imported by nnconvert:
it needs only numpy and mxnet.

    python mxnet_script.py SYMBOL.json PARAMS JOB.json

JOB.json: {"inputs": {mxnet_name: "x.npy"}, "outputs": "out.npz"}. Prints the MXNet
version. Arrays are .npy/.npz read without pickle.
"""
import json
import sys

import numpy as np


def main(symbol, params, job_path):
    import mxnet as mx

    with open(job_path) as f:
        job = json.load(f)
    inputs = {name: np.load(path, allow_pickle=False) for name, path in job["inputs"].items()}
    sym = mx.sym.load(symbol)
    saved = mx.nd.load(params)
    if isinstance(saved, list):  # a file without names: only an empty one is valid here
        saved = {}
    args = {k[4:]: v for k, v in saved.items() if k.startswith("arg:")}
    aux = {k[4:]: v for k, v in saved.items() if k.startswith("aux:")}
    exe = sym.simple_bind(ctx=mx.cpu(), grad_req="null", **{k: v.shape for k, v in inputs.items()})
    for name, arr in exe.arg_dict.items():
        if name in inputs:
            arr[:] = inputs[name]
        elif name in args:
            arr[:] = args[name]
        else:  # labels of loss outputs: never read at inference
            arr[:] = 0
    for name, arr in exe.aux_dict.items():
        arr[:] = aux[name]
    outs = exe.forward(is_train=False)
    np.savez(job["outputs"], **{f"out{i}": o.asnumpy() for i, o in enumerate(outs)})
    print(mx.__version__)


if __name__ == "__main__":
    main(*sys.argv[1:4])
