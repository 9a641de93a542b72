"""Circuit breaker transitions with an injected clock."""
from __future__ import annotations

import pytest

from instrument.breaker import CircuitBreaker, CircuitOpenError, State


def _breaker(**kw) -> CircuitBreaker:
    return CircuitBreaker("payments-api", failure_threshold=3, reset_timeout_ms=1_000, clock_ms=lambda: 0, **kw)


# Each step: (action, now_ms, expected state after). "F" failure, "S" success, "A" allow (+expected).
@pytest.mark.parametrize("steps", [
    # below the threshold the circuit stays closed
    [("F", 0, State.CLOSED), ("F", 1, State.CLOSED)],
    # a success resets the consecutive-failure count
    [("F", 0, State.CLOSED), ("F", 1, State.CLOSED), ("S", 2, State.CLOSED), ("F", 3, State.CLOSED),
     ("F", 4, State.CLOSED)],
    # threshold consecutive failures open it; calls are refused until the timeout
    [("F", 0, State.CLOSED), ("F", 1, State.CLOSED), ("F", 2, State.OPEN), ("A-", 500, State.OPEN)],
    # after the timeout it is half-open: one trial passes, a second is refused
    [("F", 0, State.CLOSED), ("F", 0, State.CLOSED), ("F", 0, State.OPEN), ("A+", 1_000, State.HALF_OPEN),
     ("A-", 1_001, State.HALF_OPEN)],
    # a successful trial closes it
    [("F", 0, State.CLOSED), ("F", 0, State.CLOSED), ("F", 0, State.OPEN), ("A+", 1_000, State.HALF_OPEN),
     ("S", 1_001, State.CLOSED), ("A+", 1_002, State.CLOSED)],
    # a failed trial opens it again for a full timeout from the failure
    [("F", 0, State.CLOSED), ("F", 0, State.CLOSED), ("F", 0, State.OPEN), ("A+", 1_000, State.HALF_OPEN),
     ("F", 1_500, State.OPEN), ("A-", 2_400, State.OPEN), ("A+", 2_500, State.HALF_OPEN)],
])
def test_transitions(steps):
    b = _breaker()
    for action, now, expected in steps:
        if action == "F":
            b.record_failure(now)
        elif action == "S":
            b.record_success()
        else:
            assert b.allow(now) is (action == "A+"), (action, now)
        assert b.state(now) is expected, (action, now)


def test_success_threshold_needs_several_trials():
    b = CircuitBreaker(failure_threshold=1, reset_timeout_ms=10, half_open_max_calls=2, success_threshold=2,
                       clock_ms=lambda: 0)
    b.record_failure(0)
    assert b.allow(10) and b.allow(10) and not b.allow(10)
    b.record_success()
    assert b.state(10) is State.HALF_OPEN
    b.record_success()
    assert b.state(10) is State.CLOSED


def test_call_refuses_while_open_and_reports_when_to_retry():
    now = {"t": 0}
    b = CircuitBreaker("api", failure_threshold=1, reset_timeout_ms=100, clock_ms=lambda: now["t"])

    def boom() -> None:
        raise TimeoutError("slow")
    with pytest.raises(TimeoutError):
        b.call(boom)
    with pytest.raises(CircuitOpenError) as info:
        b.call(lambda: "never")
    assert info.value.retry_at_ms == 100 and "'api'" in str(info.value)
    now["t"] = 100
    assert b.call(lambda: "ok") == "ok"
    assert b.state() is State.CLOSED


@pytest.mark.parametrize("kwargs", [
    {"failure_threshold": 0},                               # would open before any failure
    {"half_open_max_calls": 0},                             # could never close again
    {"half_open_max_calls": 1, "success_threshold": 2},     # needs more successes than trials allowed
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)
