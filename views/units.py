"""Numbers as an operator reads them, pure: one formatter per kind of quantity, used by every page
so that tables, metrics and charts agree.

* durations humanised from seconds: ``850 ms``, ``4.2 s``, ``3 min 10 s``, ``2 h 5 min``, ``3 d 4 h``
* rates to 3 significant digits with thousands separators: ``0.0123``, ``4.56``, ``12,300``
* counts with thousands separators: ``12,345``
* ratios to 3 decimals: ``0.103``
* time lag with how it is known: ``4.2 s`` (exact), ``≈ 4.2 s`` (interpolated), ``≥ 4.2 s`` (lower bound)
* drain ETA: a duration, ``drained`` at 0, ``not draining`` at ``collectors``' sentinel, ``no steady drain``
  when the rate behind it is too small over its window to mean anything
* charts of durations: one unit for the whole figure (``duration_unit``), the one the values need

Missing, non-numeric or non-finite values are ``—``.
"""
from __future__ import annotations

import math
from typing import Iterable

from core.codes import NOT_DRAINING_S, LagMethod

MISSING = "—"
NOT_DRAINING = "not draining"
_MARK = {LagMethod.EXACT: "", LagMethod.INTERPOLATED: "≈ ", LagMethod.LOWER_BOUND: "≥ "}
LAG_UNKNOWN = "— (not dated yet)"


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _trim(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def duration(seconds: object) -> str:
    """A duration in seconds, humanised with two units at most."""
    s = _num(seconds)
    if s is None:
        return MISSING
    sign, s = ("-" if s < 0 else ""), abs(s)
    if s < 0.9995:  # what would round to 1000 ms is 1 s
        ms = s * 1000
        return f"{sign}{_trim(ms, 0 if ms >= 10 else 1 if ms >= 1 else 3)} ms"
    if s < 59.5:  # what would round to 60 s is 1 min
        return f"{sign}{_trim(s, 1 if s < 9.95 else 0)} s"
    total = int(round(s))
    for big, big_name, small, small_name in ((86_400, "d", 3_600, "h"), (3_600, "h", 60, "min"),
                                             (60, "min", 1, "s")):
        if total >= big:
            b, rest = divmod(total, big)
            r = rest // small
            return f"{sign}{b} {big_name}" + (f" {r} {small_name}" if r else "")
    return f"{sign}{total} s"  # not reached


def significant(value: object, digits: int = 3) -> str:
    """A number to ``digits`` significant digits, thousands separated (rates)."""
    v = _num(value)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(v, digits - 1 - magnitude)
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text  # 0.500 reads 0.5


def rate(value: object, unit: str = "/s") -> str:
    text = significant(value)
    return text if text == MISSING else f"{text}{unit}"


def count(value: object) -> str:
    v = _num(value)
    return MISSING if v is None else f"{int(round(v)):,}"


def ratio(value: object) -> str:
    v = _num(value)
    return MISSING if v is None else f"{v:.3f}"


def time_lag(seconds: object, method: object) -> str:
    """A time lag with its mark: none for exact, ``≈`` interpolated, ``≥`` a lower bound."""
    m = _num(method)
    s = _num(seconds)
    if s is None or m is None or int(m) not in _MARK:
        return LAG_UNKNOWN if m is not None and int(m) == LagMethod.UNKNOWN else duration(s)
    return _MARK[LagMethod(int(m))] + duration(s)


NO_STEADY_DRAIN = "no steady drain"
ETA_WINDOW_S = 600.0  # the collectors' status window (kafka/rabbitmq.status_window_s default) the rate is fit over
MIN_DRAINED = 10.0    # messages the fitted rate must have drained over that window for its ETA to mean something


def drain_eta(seconds: object, backlog: object = None, window_s: float = ETA_WINDOW_S,
              min_drained: float = MIN_DRAINED) -> str:
    """A drain ETA where it means something: ``drained`` at 0, ``not draining`` at the collectors' sentinel,
    and ``no steady drain`` when the rate behind it drained fewer than ``min_drained`` messages over the
    ``window_s`` it was fit on (backlog × window / ETA): 5 messages at a noisy rate are not "41 min" away."""
    s = _num(seconds)
    if s is None:
        return MISSING
    if s >= NOT_DRAINING_S:
        return NOT_DRAINING
    if s <= 0:
        return "drained"
    b = _num(backlog)
    if b is not None:
        if b <= 0:
            return "drained"
        if b * window_s / s < min_drained:
            return NO_STEADY_DRAIN
    return duration(s)


def duration_unit(seconds: Iterable[object]) -> tuple[str, float]:
    """The unit a chart of these durations (in seconds) is drawn in, and the factor from seconds."""
    values = [abs(v) for v in (_num(x) for x in seconds) if v is not None]
    top = max(values, default=0.0)
    if top < 1:
        return "ms", 1000.0
    if top < 120:
        return "s", 1.0
    if top < 7_200:
        return "min", 1 / 60
    return "h", 1 / 3_600
