"""Mergeable latency sketches (DDSketch, bounded relative error) and their compact JSON form.

A sketch is encoded as ``{"ra": accuracy, "z": zero_count, "k": first_key, "b": [counts...],
"min": .., "max": .., "sum": ..}``: the dense run of positive-value bins from ``k`` on, with the
leading and trailing empty bins trimmed. Durations are never negative, so there is no negative
store in the encoding (encoding a sketch that holds negative values is an error).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from ddsketch import LogCollapsingLowestDenseDDSketch
from ddsketch.ddsketch import BaseDDSketch

BIN_LIMIT = 2048


class SketchError(ValueError):
    """An encoded sketch is malformed; the message names the field."""


def new_sketch(relative_accuracy: float = 0.01) -> BaseDDSketch:
    """An empty sketch whose quantiles are within ``relative_accuracy`` of the exact value."""
    return LogCollapsingLowestDenseDDSketch(relative_accuracy, bin_limit=BIN_LIMIT)


def _counts(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def encode_sketch(sketch: BaseDDSketch) -> dict[str, Any]:
    """The compact JSON-ready form of ``sketch`` (ddsketch 3.0.1 internals, pinned)."""
    if sketch._negative_store.count:
        raise SketchError("sketch holds negative values; durations cannot be negative")
    store = sketch._store
    bins: list[int | float] = []
    first = 0
    if store.count:
        lo = store.min_key - store.offset
        hi = store.max_key - store.offset
        raw = store.bins[lo:hi + 1]
        start = next(i for i, c in enumerate(raw) if c)
        end = len(raw) - next(i for i, c in enumerate(reversed(raw)) if c)
        bins = [_counts(c) for c in raw[start:end]]
        first = store.min_key + start
    out: dict[str, Any] = {"ra": sketch._relative_accuracy, "z": _counts(sketch._zero_count),
                           "k": first, "b": bins, "sum": sketch.sum}
    if sketch.count:
        out["min"] = sketch._min
        out["max"] = sketch._max
    return out


def _number(d: Mapping[str, Any], key: str, default: Any = None) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SketchError(f"sketch field {key!r} must be a finite number, got {v!r}")
    return v


def decode_sketch(d: Any) -> BaseDDSketch:
    """Rebuild a sketch from :func:`encode_sketch` output; :class:`SketchError` names a bad field."""
    if not isinstance(d, Mapping):
        raise SketchError(f"sketch must be an object, got {type(d).__name__}")
    ra = _number(d, "ra")
    if not 0 < ra < 1:
        raise SketchError(f"sketch field 'ra' must be in (0, 1), got {ra!r}")
    zero = _number(d, "z", 0)
    first = d.get("k", 0)
    if isinstance(first, bool) or not isinstance(first, int):
        raise SketchError(f"sketch field 'k' must be an integer, got {first!r}")
    bins = d.get("b", [])
    if not isinstance(bins, list):
        raise SketchError("sketch field 'b' must be a list of counts")
    sk = new_sketch(ra)
    for i, c in enumerate(bins):
        if isinstance(c, bool) or not isinstance(c, (int, float)) or c < 0 or not math.isfinite(c):
            raise SketchError(f"sketch field 'b[{i}]' must be a non-negative count, got {c!r}")
    # Widen the store to the whole key range once (highest, then lowest key), then fill it:
    # adding keys in order would grow the dense store a chunk at a time.
    order = [len(bins) - 1, 0, *range(1, len(bins) - 1)] if len(bins) > 1 else list(range(len(bins)))
    for i in order:
        if bins[i]:
            sk._store.add(first + i, float(bins[i]))
    if zero < 0:
        raise SketchError(f"sketch field 'z' must be non-negative, got {zero!r}")
    sk._zero_count = float(zero)
    sk._count = sk._store.count + sk._zero_count
    sk._sum = float(_number(d, "sum", 0.0))
    if sk._count:
        sk._min = float(_number(d, "min"))
        sk._max = float(_number(d, "max"))
    return sk


def quantiles(sketch: BaseDDSketch, qs: Mapping[str, float]) -> dict[str, float]:
    """``{label: value}`` for each quantile in ``qs`` plus ``"max"`` (exact); empty if no data."""
    if not sketch.count:
        return {}
    out = {label: float(sketch.get_quantile_value(q)) for label, q in qs.items()}
    out["max"] = float(sketch._max)
    return out
