"""core.gcpause: the cyclic collector is off inside the block and as it was after it."""
from __future__ import annotations

import gc

import pytest

from core import gcpause


@pytest.fixture(autouse=True)
def restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("before, raises", [(True, False), (False, False), (True, True), (False, True)])
def test_paused_then_restored(before, raises):
    (gc.enable if before else gc.disable)()
    with pytest.raises(RuntimeError) if raises else _nothing():
        with gcpause.paused():
            assert not gc.isenabled()
            if raises:
                raise RuntimeError("boom")
    assert gc.isenabled() is before


def test_nested_pauses_end_enabled():
    gc.enable()
    with gcpause.paused():
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it off: leaves it off
    assert gc.isenabled()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
