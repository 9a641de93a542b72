"""One time zone for every time on the pages (tables, chart axes, hovers): UTC by default, or the
browser's zone when the operator picks it; always labelled. Pure (no Streamlit): the page passes the zone.

Charts get their x values as wall-clock strings already in the zone, without an offset: plotly.js draws
epoch-ms numbers on a date axis in the *browser's* zone (measured: a New York browser drew 19:08 UTC as
14:08), but date strings as given, so an axis, its hover and the table beside it always agree.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from core.times import MAX_MS, UTC, fmt, label  # the one formatter; the pages use them as zones.*

__all__ = ["MAX_MS", "UTC", "fmt", "label", "wall_ms", "wall_strings", "zone"]


def zone(name: str | None) -> str:
    """``name`` if it is a known IANA zone, else UTC (a browser may send anything)."""
    if not name or not isinstance(name, str) or len(name) > 64:
        return UTC
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
    return name


def wall_ms(ts_ms: np.ndarray, name: str = UTC) -> np.ndarray:
    """Epoch ms shifted to the zone's wall clock at each instant (DST-aware)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    if name == UTC or not len(ts):
        return ts
    idx = pd.to_datetime(ts, unit="ms", utc=True).tz_convert(name).tz_localize(None)
    return idx.to_numpy(dtype="datetime64[ms]").astype(np.int64)


def wall_strings(ts_ms: np.ndarray, name: str = UTC) -> np.ndarray:
    """ISO wall-clock strings (no offset) in the zone: what a chart's x axis gets."""
    return np.datetime_as_string(wall_ms(ts_ms, name).astype("datetime64[ms]"), unit="ms")
