"""Consumer lag in messages: log-end offset − committed offset, clamped at 0.

The committed offset can exceed the end offset read in the same cycle (the two requests are not
atomic), so the difference is clamped rather than reported negative. Unknown stays unknown
(None): a partition without a commit, or whose end offset could not be read."""
from __future__ import annotations


def lag_messages(end: int | None, committed: int | None) -> int | None:
    if end is None or committed is None:
        return None
    return max(0, end - committed)
