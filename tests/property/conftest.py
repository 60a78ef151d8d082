"""Fixtures for the property tests: module-scoped clients on the session service.

Hypothesis re-runs a test body many times; function-scoped fixtures would not be reset
between examples, so these tests take module-scoped ones and create what they need.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def module_client(service):
    import segmentdb

    c = segmentdb.Client(service.address)
    yield c
    c.close()
