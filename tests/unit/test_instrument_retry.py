"""Retry delays and the retry loop with an injected clock, sleep and randomness."""
from __future__ import annotations

import pytest

from instrument.retry import RetryExhausted, RetryPolicy, backoff_delay, retry_call


@pytest.mark.parametrize("policy, n, rand, expected", [
    (RetryPolicy(base_s=0.1, jitter="none"), 1, 0.5, 0.1),                    # first retry waits base
    (RetryPolicy(base_s=0.1, jitter="none"), 4, 0.5, 0.8),                    # doubles each time
    (RetryPolicy(base_s=1, max_delay_s=5, jitter="none"), 10, 0.5, 5.0),      # capped at the maximum
    (RetryPolicy(base_s=1, multiplier=3, jitter="none"), 3, 0.5, 9.0),        # other multipliers
    (RetryPolicy(base_s=1, jitter="full"), 3, 0.25, 1.0),                     # full jitter: delay * rand
    (RetryPolicy(base_s=1, jitter="full"), 3, 0.0, 0.0),                      # full jitter may be 0
    (RetryPolicy(base_s=1, jitter="equal"), 3, 0.0, 2.0),                     # equal jitter: at least half
    (RetryPolicy(base_s=1, jitter="equal"), 3, 0.5, 3.0),                     # half + half * rand
])
def test_backoff_delay(policy, n, rand, expected):
    assert backoff_delay(policy, n, lambda: rand) == pytest.approx(expected)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def _failing(times: int):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise ConnectionError(f"attempt {calls['n']}")
        return "ok"
    return fn, calls


def test_succeeds_after_failures_with_exponential_sleeps():
    t = FakeTime()
    fn, calls = _failing(3)
    policy = RetryPolicy(max_attempts=5, base_s=0.1, jitter="none")
    assert retry_call(fn, policy=policy, sleep=t.sleep, clock=lambda: t.now) == "ok"
    assert calls["n"] == 4
    assert t.sleeps == pytest.approx([0.1, 0.2, 0.4])


def test_exhausted_carries_last_exception_and_attempts():
    t = FakeTime()
    fn, calls = _failing(99)
    seen = []
    with pytest.raises(RetryExhausted) as info:
        retry_call(fn, policy=RetryPolicy(max_attempts=3, base_s=1, jitter="none"), sleep=t.sleep,
                   clock=lambda: t.now, on_retry=lambda n, e, d: seen.append((n, d)))
    assert info.value.attempts == 3 and calls["n"] == 3
    assert str(info.value.last) == "attempt 3"
    assert seen == [(1, 1.0), (2, 2.0)]


def test_max_elapsed_stops_before_oversleeping():
    t = FakeTime()
    fn, calls = _failing(99)
    policy = RetryPolicy(max_attempts=100, base_s=1, jitter="none", max_elapsed_s=5)
    with pytest.raises(RetryExhausted):
        retry_call(fn, policy=policy, sleep=t.sleep, clock=lambda: t.now)
    assert t.sleeps == [1.0, 2.0]  # the next wait (4 s) would pass 5 s in total
    assert calls["n"] == 3


def test_non_retryable_exception_propagates_at_once():
    t = FakeTime()

    def fn() -> None:
        raise KeyError("bad payload")
    with pytest.raises(KeyError):
        retry_call(fn, policy=RetryPolicy(retry_on=(ConnectionError,)), sleep=t.sleep)
    assert t.sleeps == []


@pytest.mark.parametrize("kwargs", [
    {"max_attempts": 0},       # must call at least once
    {"base_s": -1},            # negative waits make no sense
    {"multiplier": 0.5},       # backoff must not shrink
    {"jitter": "random"},      # unknown jitter mode
])
def test_bad_policy_is_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
