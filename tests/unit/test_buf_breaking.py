"""The `buf breaking` gate (`make breaking-protos`, run by .ci/run) really refuses a breaking
change: a removed field and a renumbered one fail against the current protos, an added field
passes, and the Makefile target passes against the committed HEAD."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUF = REPO / ".buf" / "node_modules" / ".bin" / "buf"


@pytest.fixture(scope="module")
def buf() -> Path:
    if not BUF.exists():  # `make lint-protos` installs it; install it the same way
        result = subprocess.run(["make", "-s", str(BUF.relative_to(REPO))], cwd=REPO,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"installing buf from npm failed:\n{result.stderr}"
    return BUF


def _copy(target: Path) -> Path:
    shutil.copytree(REPO / "protos", target / "protos")
    shutil.copy(REPO / "buf.yaml", target / "buf.yaml")
    return target


def _breaking(buf: Path, changed: Path, against: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(buf), "breaking", str(changed), "--against", str(against),
                           "--error-format", "json"],
                          capture_output=True, text=True, timeout=300)


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / "protos" / "segmentdb" / "v1" / "common.proto"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old, new, rule", [
    ("  bytes data = 2;\n", "", "FIELD_NO_DELETE"),
    ("  bytes data = 2;\n", "  bytes data = 3;\n", "FIELD_NO_DELETE"),
])
def test_a_breaking_change_fails(buf, tmp_path, old, new, rule):
    against = _copy(tmp_path / "against")
    changed = _copy(tmp_path / "changed")
    _edit(changed, old, new)
    result = _breaking(buf, changed, against)
    assert result.returncode != 0
    assert rule in result.stdout + result.stderr


def test_an_added_field_passes(buf, tmp_path):
    against = _copy(tmp_path / "against")
    changed = _copy(tmp_path / "changed")
    _edit(changed, "  bytes data = 2;\n", "  bytes data = 2;\n  uint32 count = 3;\n")
    result = _breaking(buf, changed, against)
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_target_checks_against_a_git_revision(buf):
    # Against HEAD itself: the mechanics (git archive of buf.yaml + protos, buf breaking on
    # the extracted tree) work in this checkout, worktree or fresh clone alike.
    result = subprocess.run(["make", "-s", "breaking-protos", "BREAKING_BASE=HEAD"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
