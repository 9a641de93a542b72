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


MAX_COUNT = 2 ** 53  # counts above this are not exact in a float
MIN_ACCURACY, MAX_ACCURACY = 1e-4, 0.5
MAX_LOG_VALUE = 700.0  # |log(value)| of any bin: gamma ** key stays a finite float


def _number(d: Mapping[str, Any], key: str, default: Any = None) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SketchError(f"sketch field {key!r} must be a finite number, got {v!r}"[:300])
    try:
        f = float(v)
    except OverflowError:
        raise SketchError(f"sketch field {key!r} is out of range") from None
    if not math.isfinite(f):
        raise SketchError(f"sketch field {key!r} must be a finite number, got {v!r}")
    return f


def _count(d: Mapping[str, Any], key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SketchError(f"sketch field {key!r} must be a non-negative count, got {value!r}"[:300])
    if isinstance(value, int) and not 0 <= value <= MAX_COUNT:
        raise SketchError(f"sketch field {key!r} must be a count in [0, 2**53]")
    if isinstance(value, float) and not (math.isfinite(value) and 0 <= value <= MAX_COUNT):
        raise SketchError(f"sketch field {key!r} must be a finite count in [0, 2**53], got {value!r}")
    return float(value)


def decode_sketch(d: Any) -> BaseDDSketch:
    """Rebuild a sketch from :func:`encode_sketch` output; :class:`SketchError` names a bad field.

    Bounded: accuracy in [1e-4, 0.5], at most ``BIN_LIMIT`` bins, keys whose values are finite floats,
    finite counts (each and in total) up to 2**53, finite sum, 0 <= min <= max.
    """
    if not isinstance(d, Mapping):
        raise SketchError(f"sketch must be an object, got {type(d).__name__}")
    ra = _number(d, "ra")
    if not MIN_ACCURACY <= ra <= MAX_ACCURACY:
        raise SketchError(f"sketch field 'ra' must be in [{MIN_ACCURACY}, {MAX_ACCURACY}], got {ra!r}")
    zero = _count(d, "z", d.get("z", 0))
    first = d.get("k", 0)
    if isinstance(first, bool) or not isinstance(first, int):
        raise SketchError(f"sketch field 'k' must be an integer, got {first!r}"[:300])
    bins = d.get("b", [])
    if not isinstance(bins, list):
        raise SketchError("sketch field 'b' must be a list of counts")
    if len(bins) > BIN_LIMIT:
        raise SketchError(f"sketch field 'b' has {len(bins)} bins, more than {BIN_LIMIT}")
    log_gamma = math.log1p(2 * ra / (1 - ra))
    if max(abs(first), abs(first + len(bins))) * log_gamma > MAX_LOG_VALUE:
        raise SketchError(f"sketch field 'k' ({first}) puts bins beyond the range of finite values"[:300])
    counts = [_count(d, f"b[{i}]", c) for i, c in enumerate(bins)]
    if math.fsum(counts) + zero > MAX_COUNT:
        raise SketchError("sketch counts add up to more than 2**53")
    sk = new_sketch(ra)
    # Widen the store to the whole key range once (highest, then lowest key), then fill it:
    # adding keys in order would grow the dense store a chunk at a time.
    order = [len(counts) - 1, 0, *range(1, len(counts) - 1)] if len(counts) > 1 else list(range(len(counts)))
    for i in order:
        if counts[i]:
            sk._store.add(first + i, counts[i])
    sk._zero_count = zero
    sk._count = sk._store.count + sk._zero_count
    sk._sum = _number(d, "sum", 0.0)
    if sk._count:
        lo, hi = _number(d, "min"), _number(d, "max")
        if not 0 <= lo <= hi:
            raise SketchError(f"sketch fields 'min' and 'max' must satisfy 0 <= min <= max, got {lo!r}, {hi!r}")
        sk._min, sk._max = lo, hi
    return sk


def quantiles(sketch: BaseDDSketch, qs: Mapping[str, float]) -> dict[str, float]:
    """``{label: value}`` for each quantile in ``qs`` plus ``"max"`` (exact); empty if no data."""
    if not sketch.count:
        return {}
    out = {label: float(sketch.get_quantile_value(q)) for label, q in qs.items()}
    out["max"] = float(sketch._max)
    return out
