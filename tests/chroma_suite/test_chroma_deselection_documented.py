"""Every Chroma test we leave out is listed, with its reason, in docs/chroma-compat.md.

DESELECTED (chroma_property_suite.py) is the one list the harness uses; the docs table under
"Chroma tests left out" must hold the same ids with the same reasons, and every id must name a
test that Chroma's module really has (pytest's --deselect ignores an id that matches nothing,
so a renamed Chroma test would otherwise drop out of the list silently... or stay in it).
"""

from __future__ import annotations

import re
from pathlib import Path

import chroma_property_suite as suite

DOC = Path(__file__).resolve().parents[2] / "docs" / "chroma-compat.md"
SECTION = "## Chroma tests left out (deselected)"


def documented_deselections() -> dict[str, str]:
    text = DOC.read_text()
    assert SECTION in text, f"{DOC} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_docs_list_exactly_the_deselected_chroma_tests_with_their_reasons():
    assert documented_deselections() == suite.DESELECTED


def test_every_deselected_id_names_a_chroma_test(tmp_path):
    for test_id in suite.DESELECTED:
        module = test_id.split("::")[0].removesuffix(".py")
        assert module in suite.MODULES, f"{test_id}: not one of the modules we run"
        collected = suite.collect_ids(module, tmp_path / module)
        name = test_id.split("::", 1)[1]
        assert any(c.startswith(f"{test_id}[") for c in collected), (
            f"{test_id} matches no collected Chroma test; collected: {collected}")


def test_a_deselected_id_leaves_the_run_and_nothing_else_does(tmp_path):
    """The mechanism itself: a --deselect that matched nothing would be silent."""
    everything = suite.collect_ids("test_collections", tmp_path / "all")
    fewer = suite.collect_ids("test_collections", tmp_path / "fewer",
                              {"test_collections.py::test_collections": "example"})
    assert any(c.startswith("test_collections.py::test_collections[") for c in everything)
    assert not any(c.startswith("test_collections.py::test_collections[") for c in fewer)
    assert set(fewer) == {c for c in everything
                          if not c.startswith("test_collections.py::test_collections[")}
    assert any(c.startswith("test_collections.py::test_previously_failing_one[") for c in fewer)


def test_the_harness_runs_every_module_issue_8_names():
    for module in suite.MODULES:
        assert (suite.PROPERTY_DIR / f"{module}.py").is_file(), module
