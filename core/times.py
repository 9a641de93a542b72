"""The one timestamp formatter: epoch ms as ``YYYY-MM-DD HH:MM:SS UTC`` (or in an IANA zone, labelled), for the
pages, the alert notifications and the alert reasons alike. A value no date can show (year 10000, inf, nan,
negative, not a number) is marked, never raised: a broker-supplied time breaks nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

UTC = "UTC"
MAX_MS = 253402300799999  # 9999-12-31 23:59:59.999


def label(name: str, at_ms: int | None = None) -> str:
    """The zone's short label at a time: ``UTC``, ``EST``/``EDT``, else the zone name."""
    if name == UTC:
        return UTC
    at = datetime.fromtimestamp((at_ms if at_ms is not None else 0) / 1000, tz=ZoneInfo(name)) if at_ms is not None \
        else datetime.now(tz=ZoneInfo(name))
    abbr = at.strftime("%Z")
    return abbr if abbr and abbr[0].isalpha() else name  # '+0530'-style abbreviations: the name says more


def fmt(ts_ms: float | int, name: str = UTC, *, utc_label: str = " UTC") -> str:
    """``YYYY-MM-DD HH:MM:SS <label>`` in the zone (``utc_label`` after a UTC time: `` UTC`` or ``Z``); raises
    ValueError/OverflowError/OSError/TypeError when no date can show the value (:func:`shown` marks it)."""
    if isinstance(ts_ms, bool) or not 0 <= float(ts_ms) <= MAX_MS:
        raise ValueError("out of range")
    tz = timezone.utc if name == UTC else ZoneInfo(name)
    at = datetime.fromtimestamp(int(ts_ms) / 1000, tz=tz)
    return at.strftime("%Y-%m-%d %H:%M:%S") + (utc_label if name == UTC else " " + label(name, int(ts_ms)))


def shown(ts_ms: float | int | None, name: str = UTC, *, none: str = "—", utc_label: str = " UTC") -> str:
    """:func:`fmt`, with ``none`` for no time and the raw number marked for a value no date can show."""
    if ts_ms is None:
        return none
    try:
        return fmt(ts_ms, name, utc_label=utc_label)
    except (TypeError, ValueError, OverflowError, OSError):
        return f"(invalid time: {str(ts_ms)[:40]})"
