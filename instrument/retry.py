"""Retry with exponential backoff, jitter and a maximum; the clock, sleep and randomness are injected.

Delay before retry ``n`` (1-based) is ``min(max_delay_s, base_s * multiplier ** (n - 1))``, scaled by
the jitter: ``"full"`` draws uniformly from ``[0, delay]`` (AWS "full jitter"), ``"equal"`` from
``[delay / 2, delay]``, ``"none"`` keeps it. Retries stop after ``max_attempts`` calls in all or once
``max_elapsed_s`` would be exceeded; then :class:`RetryExhausted` carries the last exception.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, TypeVar

T = TypeVar("T")


class RetryExhausted(Exception):
    """Every attempt failed; ``last`` is the final exception, ``attempts`` how many calls were made."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts: {type(last).__name__}: {last}")
        self.attempts, self.last = attempts, last


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 0.1
    multiplier: float = 2.0
    max_delay_s: float = 10.0
    jitter: Literal["full", "equal", "none"] = "full"
    max_elapsed_s: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1")
        if self.base_s < 0 or self.max_delay_s < 0 or self.multiplier < 1:
            raise ValueError("RetryPolicy: base_s and max_delay_s must be >= 0, multiplier >= 1")
        if self.jitter not in ("full", "equal", "none"):
            raise ValueError(f"RetryPolicy.jitter must be full, equal or none, got {self.jitter!r}")


def backoff_delay(policy: RetryPolicy, retry_number: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry ``retry_number`` (1 = the first retry). ``rand()`` is in [0, 1)."""
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    delay = min(policy.max_delay_s, policy.base_s * policy.multiplier ** (retry_number - 1))
    if policy.jitter == "full":
        return delay * rand()
    if policy.jitter == "equal":
        return delay / 2 + delay / 2 * rand()
    return delay


def retry_call(fn: Callable[..., T], *args: Any, policy: RetryPolicy = RetryPolicy(),
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
               rand: Callable[[], float] = random.random,
               on_retry: Callable[[int, BaseException, float], None] | None = None, **kwargs: Any) -> T:
    """Call ``fn`` until it succeeds or the policy gives up (:class:`RetryExhausted`).

    Exceptions not in ``policy.retry_on`` propagate at once. ``on_retry(n, exc, delay)`` is called
    before each sleep.
    """
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(*args, **kwargs)
        except policy.retry_on as exc:
            if attempt >= policy.max_attempts:
                raise RetryExhausted(attempt, exc) from exc
            delay = backoff_delay(policy, attempt, rand)
            if policy.max_elapsed_s is not None and clock() - started + delay > policy.max_elapsed_s:
                raise RetryExhausted(attempt, exc) from exc
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
