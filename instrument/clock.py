"""The library's one wall clock (UTC epoch milliseconds); every class that reasons about time takes
a ``clock_ms`` argument defaulting to it, so tests inject their own."""
from __future__ import annotations

import time


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
