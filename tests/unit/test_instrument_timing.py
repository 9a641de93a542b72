"""Recorder, decorator and context manager: durations and outcomes land in the window."""
from __future__ import annotations

import threading

import pytest

from instrument.timing import Recorder, exception_name


class Clock:
    def __init__(self, t: int = 1_000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


class Declined(Exception):
    pass


def test_decorator_counts_successes_and_failures_by_class():
    clock = Clock()
    rec = Recorder("payment", "kafka", "c1", clock_ms=clock)

    @rec.timed
    def handle(x: int) -> int:
        if x % 3 == 0:
            raise Declined("card declined")
        if x % 5 == 0:
            raise KeyError(x)
        return x

    for i in range(1, 16):
        raised = Declined if i % 3 == 0 else KeyError if i % 5 == 0 else None
        if raised is None:
            assert handle(i) == i
        else:
            with pytest.raises(raised):  # the decorator counts the failure and re-raises it
                handle(i)
    clock.t = 6_000
    s = rec.swap(dropped=3)
    assert s.count == 15
    assert s.errors == {exception_name(Declined): 5, "KeyError": 2}
    assert (s.start_ms, s.end_ms, s.dropped) == (1_000, 6_000, 3)
    assert handle.__name__ == "handle"


def test_context_manager_times_the_block_and_reraises():
    rec = Recorder("inventory", "rabbitmq")
    with rec.time():
        pass
    with pytest.raises(ValueError):
        with rec.time():
            raise ValueError("boom")
    s = rec.swap()
    assert s.count == 2 and s.errors == {"ValueError": 1}
    assert s.sketch._max >= 0


def test_swap_starts_a_fresh_window():
    clock = Clock()
    rec = Recorder("n", "kafka", clock_ms=clock)
    rec.record(0.5)
    clock.t = 2_000
    first = rec.swap()
    clock.t = 3_000
    second = rec.swap()
    assert (first.count, second.count) == (1, 0)
    assert (second.start_ms, second.end_ms) == (2_000, 3_000)


def test_concurrent_records_are_not_lost():
    rec = Recorder("n", "kafka")
    threads = [threading.Thread(target=lambda: [rec.record(0.001) for _ in range(5_000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.swap().count == 20_000


@pytest.mark.parametrize("kwargs, message", [
    ({"consumer": "", "broker": "kafka"}, "consumer name is empty"),     # nothing to label series with
    ({"consumer": "x", "broker": "nats"}, "broker must be one of"),      # only the two brokers exist
])
def test_bad_recorder_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Recorder(**kwargs)


@pytest.mark.parametrize("exc_type, name", [
    (ValueError, "ValueError"),                                  # builtins are shown bare
    (Declined, f"{__name__}.Declined"),                          # others carry their module
])
def test_exception_name(exc_type, name):
    assert exception_name(exc_type) == name
