"""Fixtures for the end-to-end tests: a fresh collection per test on the session service."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture()
def collection(client, collection_name):
    """An empty l2 collection, deleted after the test."""
    created = client.create_collection(collection_name)
    yield created
    _drop(client, collection_name)


@pytest.fixture()
def make_collection(client, collection_name):
    """Factory: make_collection(suffix="", **create_kwargs); every one is deleted after."""
    made: list[str] = []

    def make(suffix: str = "", **kwargs):
        name = f"{collection_name}{suffix}"
        made.append(name)
        return client.create_collection(name, **kwargs)

    yield make
    for name in made:
        _drop(client, name)


@pytest.fixture()
def rng():
    return np.random.default_rng(20240531)


def _drop(client, name: str) -> None:
    from segmentdb.errors import NotFoundError

    try:
        client.delete_collection(name)
    except NotFoundError:
        pass


@pytest.fixture(scope="session")
def lifecycle(request):
    """The lead's tests/conftest.py module (start_service / stop_service helpers).

    Both conftest files are module "conftest" to Python, so `from conftest import ...` is
    ambiguous; ask pytest for the root one by its file instead.
    """
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "conftest.py"
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == root:
            return plugin
    raise RuntimeError(f"{root} is not loaded")
