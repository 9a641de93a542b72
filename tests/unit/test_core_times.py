"""core.times: the one timestamp formatter of the pages, the notifications and the alert reasons."""
from __future__ import annotations

import math
import time

import pytest

from alerts.decide import gone_summary
from alerts.message import iso
from core import times

T = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


@pytest.mark.parametrize("ts, kwargs, want", [
    (T, {}, "2023-11-14 22:13:20 UTC"),
    (T + 999, {}, "2023-11-14 22:13:20 UTC"),
    (T, {"utc_label": "Z"}, "2023-11-14 22:13:20Z"),
    (0, {}, "1970-01-01 00:00:00 UTC"),
    (times.MAX_MS, {}, "9999-12-31 23:59:59 UTC"),
    (T, {"name": "America/New_York"}, "2023-11-14 17:13:20 EST"),
    (None, {}, "—"),
    (None, {"none": "?"}, "?"),
    (times.MAX_MS + 1, {}, "(invalid time: 253402300800000)"),
    (-1, {}, "(invalid time: -1)"),
    (math.nan, {}, "(invalid time: nan)"),
    (math.inf, {}, "(invalid time: inf)"),
    (True, {}, "(invalid time: True)"),
    ("soon", {}, "(invalid time: soon)"),
])
def test_shown(ts, kwargs, want):
    assert times.shown(ts, **kwargs) == want


def test_notifications_and_gone_reasons_use_it():
    assert iso(T) == "2023-11-14 22:13:20Z" and iso(None) == "?" and iso(-5) == "(invalid time: -5)"
    # the alert reason's old formatter, kept as the expectation
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(T / 1000)) + " UTC"
    assert gone_summary({"group": "g"}, T).endswith(f"(last seen {old})")

