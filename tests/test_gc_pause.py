"""The collector pause: the collector is back on afterwards, garbage made inside is still
collected (nothing is kept from it for good), and someone else's frozen objects stay frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from evtool.gc_pause import gc_paused


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield None
    if not was:
        gc.disable()


def test_paused_inside_and_resumed_after(collector_on: object) -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: only the outermost resumes
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_cycle_made_inside_is_collected_later(collector_on: object) -> None:
    with gc_paused():
        ref = _cycle()
        gc.collect()  # explicit collections still run; automatic ones do not
        assert ref() is None
        ref = _cycle()
    assert ref() is not None  # handed to the oldest generation, not scanned on the way out
    assert gc.get_freeze_count() == 0  # and not frozen for good
    gc.collect()
    assert ref() is None


def test_objects_frozen_by_someone_else_stay_frozen(collector_on: object) -> None:
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            _cycle()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_resumed_after_an_error(collector_on: object) -> None:
    with pytest.raises(ValueError, match="boom"), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()
