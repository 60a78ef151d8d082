"""Chroma's own property tests against `segmentdb serve --http-port auto --allow-reset`.

One test per Chroma module (chroma_property_suite.MODULES). Two sizes:
- in `make test`: Chroma's fast preset capped at CAPPED_EXAMPLES examples and CAPPED_STEPS
  stateful steps per test (chroma_example_budget.py), every Chroma test still runs;
- `make test-chroma` / `make test-slow`: Chroma's fast preset as Chroma's CI runs it
  (SEGMENTDB_CHROMA_PRESET=normal or slow for more).
A failure names Chroma's failing tests and shows pytest's report of them.
"""

from __future__ import annotations

import os

import pytest

import chroma_property_suite as suite

CAPPED_EXAMPLES = 3
CAPPED_STEPS = 6
PRESET = os.environ.get("SEGMENTDB_CHROMA_PRESET", "fast")


def _check(result: suite.SuiteResult, service) -> None:
    print(result.summary())
    assert result.returncode == 0 and not result.failed, (
        f"{result.summary()}\n\n--- Chroma's pytest report ---\n"
        f"{suite.failure_report(result.output)}"
        f"\n\n--- segmentdb serve log (tail) ---\n{service.log()[-4000:]}")
    # A run that passed nothing proves nothing (every test skipped or deselected).
    assert result.passed, f"no Chroma test ran:\n{result.summary()}\n{result.output[-4000:]}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("module", suite.MODULES)
def test_chroma_property_module_passes_with_capped_examples(module, chroma_service, tmp_path):
    result = suite.run_module(module, chroma_service.http_host, chroma_service.http_port, tmp_path,
                              preset="fast", max_examples=CAPPED_EXAMPLES, step_count=CAPPED_STEPS)
    _check(result, chroma_service)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("module", suite.MODULES)
def test_chroma_property_module_passes_with_chromas_preset(module, chroma_service, tmp_path):
    result = suite.run_module(module, chroma_service.http_host, chroma_service.http_port, tmp_path,
                              preset=PRESET, timeout=3500)
    _check(result, chroma_service)
