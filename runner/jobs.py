"""What the service schedules: a job spec, and the back-off after consecutive failures."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class JobSpec:
    id: str
    func: Callable[[], None]
    interval_s: float
    after_tick: bool = True  # run the post-tick hooks (alert evaluation) after it
    close: Callable[[], None] | None = None  # releases the job's connections when the service stops


class Backoff:
    """Skips ticks after consecutive failures: the n-th failure waits min(2**(n-1), 5) intervals."""

    CAP = 5

    def __init__(self) -> None:
        self.failures = 0
        self.skip_left = 0

    def should_attempt(self) -> bool:
        if self.skip_left > 0:
            self.skip_left -= 1
            return False
        return True

    def failed(self) -> None:
        self.failures += 1
        self.skip_left = min(2 ** (self.failures - 1), self.CAP) - 1

    def succeeded(self) -> None:
        self.failures = self.skip_left = 0
