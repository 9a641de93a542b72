"""Circuit breaker: closed → open → half-open → closed, with an injected millisecond clock.

* closed: calls pass; ``failure_threshold`` consecutive failures open the circuit.
* open: calls are refused (:class:`CircuitOpenError`) until ``reset_timeout_ms`` has passed.
* half-open: up to ``half_open_max_calls`` trial calls pass; ``success_threshold`` successes close
  the circuit, any failure opens it again for another ``reset_timeout_ms``.
"""
from __future__ import annotations

import enum
import threading
from typing import Any, Callable, TypeVar

from instrument.clock import wall_ms

T = TypeVar("T")


class State(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(RuntimeError):
    """The breaker refused the call; ``retry_at_ms`` is when it will let a trial call through."""

    def __init__(self, name: str, retry_at_ms: int) -> None:
        super().__init__(f"circuit {name!r} is open until {retry_at_ms} ms")
        self.retry_at_ms = retry_at_ms



class CircuitBreaker:
    def __init__(self, name: str = "breaker", failure_threshold: int = 5, reset_timeout_ms: int = 30_000,
                 half_open_max_calls: int = 1, success_threshold: int = 1,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or success_threshold < 1:
            raise ValueError("CircuitBreaker: thresholds and half_open_max_calls must be >= 1")
        if success_threshold > half_open_max_calls:
            raise ValueError("CircuitBreaker: success_threshold cannot exceed half_open_max_calls")
        self.name, self.failure_threshold, self.reset_timeout_ms = name, failure_threshold, reset_timeout_ms
        self.half_open_max_calls, self.success_threshold = half_open_max_calls, success_threshold
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._failures = 0
        self._opened_ms = 0
        self._trials = 0
        self._successes = 0

    def _advance(self, now_ms: int) -> None:
        if self._state is State.OPEN and now_ms - self._opened_ms >= self.reset_timeout_ms:
            self._state, self._trials, self._successes = State.HALF_OPEN, 0, 0

    def state(self, now_ms: int | None = None) -> State:
        with self._lock:
            self._advance(self._clock_ms() if now_ms is None else now_ms)
            return self._state

    def allow(self, now_ms: int | None = None) -> bool:
        """Whether a call may go ahead now (a half-open trial slot is taken if so)."""
        now = self._clock_ms() if now_ms is None else now_ms
        with self._lock:
            self._advance(now)
            if self._state is State.CLOSED:
                return True
            if self._state is State.HALF_OPEN and self._trials < self.half_open_max_calls:
                self._trials += 1
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state is State.HALF_OPEN:
                self._successes += 1
                if self._successes >= self.success_threshold:
                    self._state, self._failures = State.CLOSED, 0
            else:
                self._failures = 0

    def record_failure(self, now_ms: int | None = None) -> None:
        now = self._clock_ms() if now_ms is None else now_ms
        with self._lock:
            self._advance(now)
            self._failures += 1
            if self._state is State.HALF_OPEN or (
                    self._state is State.CLOSED and self._failures >= self.failure_threshold):
                self._state, self._opened_ms = State.OPEN, now

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` through the breaker; refused with :class:`CircuitOpenError` while open."""
        now = self._clock_ms()
        if not self.allow(now):
            raise CircuitOpenError(self.name, self._opened_ms + self.reset_timeout_ms)
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result
