"""The one wall clock: UTC epoch milliseconds. Anything that reasons about time takes a ``Clock``
argument defaulting to :func:`now_ms`, so tests inject their own."""
from __future__ import annotations

import time
from typing import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    """The current time as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000
