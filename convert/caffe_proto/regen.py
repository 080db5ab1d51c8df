"""Regenerate caffe_pb2.py from schemas/caffe.proto.

Run ``python -m convert.caffe_proto.regen`` with grpcio-tools installed
(``pip install --no-deps grpcio-tools``; its bundled protoc must not be newer than the
installed protobuf runtime). The generated file is committed, so users need only protobuf.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parents[1] / "schemas"


def main() -> int:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{SCHEMAS}", f"--python_out={HERE}", str(SCHEMAS / "caffe.proto")]
    return subprocess.call(cmd)


if __name__ == "__main__":
    raise SystemExit(main())
