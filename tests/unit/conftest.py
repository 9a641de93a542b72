"""Unit tests never reach a network: every unit test runs with tests/network_guard.py installed, and
a test that tried to use the network fails even if the code under test caught the refusal. A test
that needs a broker or a server belongs in tests/integration.
"""
from __future__ import annotations

import pytest

from tests import network_guard


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Yields the list of refused attempts (a test of the guard itself clears it)."""
    attempts = network_guard.install(monkeypatch)
    yield attempts
    if attempts:
        pytest.fail(f"unit test used the network (move it to tests/integration): {attempts}", pytrace=False)
