"""Range functions of alert rules over one series' samples in a window (pure, numpy).

PromQL-style: ``increase`` is how much the series rose over the window (the sum of its rises between
consecutive samples, so a DLQ that grew by 50 and was replayed down by 40 rose by 50; a gauge's fall
is not growth), ``*_over_time`` aggregate the window's samples. A window without samples has no value.
"""
from __future__ import annotations

import math

import numpy as np


def apply(function: str, values: np.ndarray) -> float | None:
    """``function`` of a window's finite values in time order; None when it has none (or one, for increase)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if function == "increase":
        return float(np.clip(np.diff(v), 0, None).sum()) if len(v) >= 2 else None
    if not len(v):
        return None
    if function == "sum_over_time":
        return math.fsum(v.tolist())
    if function == "max_over_time":
        return float(v.max())
    if function == "min_over_time":
        return float(v.min())
    if function == "avg_over_time":
        return math.fsum(v.tolist()) / len(v)
    if function == "last":
        return float(v[-1])
    raise ValueError(f"unknown range function {function!r}")
