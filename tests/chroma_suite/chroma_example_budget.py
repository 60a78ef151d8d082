"""pytest plugin for the Chroma suite subprocess: cap hypothesis's examples per test.

Chroma's fast preset (50 examples, 50 steps per stateful run) takes ~3 minutes for test_add
alone against Chroma's own server on this 2-core machine, so `make test` runs every Chroma test
with fewer examples and `make test-chroma` (and `make test-slow`) runs the preset as is.

Loaded with `-p chroma_example_budget --chroma-max-examples N [--chroma-step-count M]`.
Chroma's conftest loads its profile at import, and its tests fix `max_examples` in decorators,
so the cap is applied after collection: to each @given test's settings, and as the default
profile that Chroma's stateful tests (run_state_machine_as_test) inherit when they run.
Nothing else of Chroma's settings (deadline, health checks, verbosity) changes.
"""

from __future__ import annotations

import hypothesis


def pytest_addoption(parser):
    group = parser.getgroup("segmentdb chroma suite")
    group.addoption("--chroma-max-examples", type=int, default=None,
                    help="at most this many hypothesis examples per Chroma test")
    group.addoption("--chroma-step-count", type=int, default=None,
                    help="at most this many steps per stateful Chroma test run")


def _capped(current: hypothesis.settings, max_examples, step_count) -> hypothesis.settings:
    changes = {}
    if max_examples is not None:
        changes["max_examples"] = min(current.max_examples, max_examples)
    if step_count is not None:
        changes["stateful_step_count"] = min(current.stateful_step_count, step_count)
    return hypothesis.settings(current, **changes)


def pytest_collection_modifyitems(session, config, items):
    max_examples = config.getoption("--chroma-max-examples")
    step_count = config.getoption("--chroma-step-count")
    if max_examples is None and step_count is None:
        return
    default = _capped(hypothesis.settings.default, max_examples, step_count)
    hypothesis.settings.register_profile("segmentdb-capped", default)
    hypothesis.settings.load_profile("segmentdb-capped")
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None:
            test._hypothesis_internal_use_settings = _capped(current, max_examples, step_count)


def pytest_report_header(config):
    max_examples = config.getoption("--chroma-max-examples")
    step_count = config.getoption("--chroma-step-count")
    if max_examples is None and step_count is None:
        return None
    return f"segmentdb: Chroma's preset capped at {max_examples} examples, {step_count} steps"
