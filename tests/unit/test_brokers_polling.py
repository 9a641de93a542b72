"""brokers.polling: the pause rule after an early empty poll, and the polite loop around it."""
from __future__ import annotations

import pytest

from brokers.polling import kafka_poll, pause_after, poll_politely


@pytest.mark.parametrize("empty, left, expect", [
    (True, 0.5, 0.2),     # empty and early: pause
    (True, 0.05, 0.05),   # never past the wait
    (True, 0.0, 0.0),     # wait used up: return
    (True, -1.0, 0.0),
    (False, 0.5, 0.0),    # records: never pause
])
def test_pause_after(empty, left, expect):
    assert pause_after(empty, left, 0.2) == pytest.approx(expect)


class FakeTime:
    def __init__(self):
        self.t = 0.0
        self.sleeps: list[float] = []

    def clock(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


def test_instant_empty_answers_are_paused_not_spun():
    ft = FakeTime()
    calls = []
    got = poll_politely(lambda left: calls.append(left) or {}, 1.0, pause_s=0.2, clock=ft.clock, sleep=ft.sleep)
    assert got == {}
    assert 5 <= len(calls) <= 6 and sum(ft.sleeps) == pytest.approx(1.0)  # ~5 asks in 1 s, not thousands
    assert all(s <= 0.2 + 1e-9 for s in ft.sleeps)


def test_a_poll_that_blocks_for_its_wait_is_not_paused():
    ft = FakeTime()

    def blocking(left):
        ft.t += left
        return {}
    assert poll_politely(blocking, 0.5, clock=ft.clock, sleep=ft.sleep) == {} and ft.sleeps == []


def test_records_return_at_once():
    ft = FakeTime()
    answers = iter([{}, {}, {"tp": [1]}])
    assert poll_politely(lambda left: next(answers), 5.0, clock=ft.clock, sleep=ft.sleep) == {"tp": [1]}
    assert len(ft.sleeps) == 2


class FakeConsumer:
    def __init__(self, assigned):
        self.assigned, self.timeouts = assigned, []

    def assignment(self):
        return {"tp"} if self.assigned else set()

    def poll(self, timeout_ms, max_records):
        self.timeouts.append(timeout_ms)
        return {}


@pytest.mark.parametrize("assigned, first_step", [(True, 0), (False, 100)])
def test_kafka_poll_steps(assigned, first_step):
    ft = FakeTime()
    c = FakeConsumer(assigned)
    kafka_poll(c, 0.5, 10, clock=ft.clock, sleep=ft.sleep)
    assert c.timeouts[0] == first_step and all(t <= 100 for t in c.timeouts)
