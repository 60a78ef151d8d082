"""The committed stubs under segmentdb/ must be exactly what `make protos` generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _generated(out: Path) -> dict[str, bytes]:
    protos = sorted(str(p.relative_to(REPO / "protos")) for p in (REPO / "protos").rglob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(REPO / "protos"),
         f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *protos],
        check=True,
    )
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_committed_stubs_match_protos(tmp_path):
    fresh = _generated(tmp_path)
    assert fresh, "protoc generated nothing"
    committed = {
        path: (REPO / path).read_bytes() if (REPO / path).exists() else None for path in fresh
    }
    stale = sorted(path for path, data in fresh.items() if committed[path] != data)
    assert not stale, f"stale generated code, run `make protos`: {stale}"


def test_no_orphan_stubs():
    """A stub whose .proto was deleted must be deleted too."""
    protos = {p.relative_to(REPO / "protos").with_suffix("") for p in (REPO / "protos").rglob("*.proto")}
    for stub in (REPO / "segmentdb").rglob("*_pb2*.py*"):
        stem = stub.relative_to(REPO)
        base = str(stem).split("_pb2")[0]
        assert Path(base) in protos, f"{stem} has no .proto; delete it or run `make protos`"
