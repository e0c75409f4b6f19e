"""The generated messages and stubs of proto/predict/v1/predict.proto.

They are generated with grpcio-tools into volley_predict/_gen/ (git-ignored)
the first time they are needed, or by `python -m volley_predict.proto`; the
proto is compiled from the repository's proto/ root so that its file name in
reflection is predict/v1/predict.proto, as in the Rust server.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[3] / "proto"
PROTO_FILE = "predict/v1/predict.proto"
GEN = Path(__file__).resolve().parent / "_gen"


def generate(force: bool = False) -> Path:
    """Writes the stubs into _gen/ unless they are newer than the .proto."""
    src = PROTO_ROOT / PROTO_FILE
    out = GEN / "predict" / "v1" / "predict_pb2_grpc.py"
    if not force and out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return GEN
    from grpc_tools import protoc

    GEN.mkdir(parents=True, exist_ok=True)
    # Generate next to _gen and rename, so that two servers starting at once
    # never import a half-written module.
    tmp = Path(tempfile.mkdtemp(dir=GEN.parent, prefix="_gen."))
    rc = protoc.main(["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"--python_out={tmp}",
                      f"--grpc_python_out={tmp}", str(src)])
    if rc != 0:
        raise RuntimeError(f"protoc failed on {src} (exit {rc})")
    (GEN / "predict" / "v1").mkdir(parents=True, exist_ok=True)
    for name in ("predict_pb2.py", "predict_pb2_grpc.py"):
        os.replace(tmp / "predict" / "v1" / name, GEN / "predict" / "v1" / name)
    for d in (tmp / "predict" / "v1", tmp / "predict", tmp):
        d.rmdir()
    return GEN


def load():
    """(predict_pb2, predict_pb2_grpc), generating them first if needed."""
    gen = str(generate())
    if gen not in sys.path:
        # The generated grpc module imports "predict.v1.predict_pb2".
        sys.path.insert(0, gen)
    return (importlib.import_module("predict.v1.predict_pb2"),
            importlib.import_module("predict.v1.predict_pb2_grpc"))


if __name__ == "__main__":
    print(generate(force=True))
