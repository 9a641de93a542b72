"""Pure plotly figure builders: epoch-ms x axes, MinMaxLTTB-downsampled to at most ``MAX_POINTS`` per series
(the same limit ``store.queries.range_query`` applies, so store results are drawn as they come).

Input frames come from ``store.queries.range_query``: columns ``series_id, ts_ms, value`` plus one
column per label. Nothing here touches Streamlit or the store, so every builder is tested on its own.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from tsdownsample import MinMaxLTTBDownsampler

from store.queries import MAX_POINTS
from views import units, zones

_HEIGHT = 320
_SPARK_HEIGHT = 60


def downsample(ts_ms: np.ndarray, values: np.ndarray, n_out: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n_out`` points keeping the visual shape (MinMaxLTTB); ``ts_ms`` must be ascending."""
    ts_ms = np.asarray(ts_ms, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if len(ts_ms) <= n_out:
        return ts_ms, values
    idx = MinMaxLTTBDownsampler().downsample(ts_ms, values, n_out=n_out).astype(np.int64)
    return ts_ms[idx], values[idx]


def plotly_text(text: str) -> str:
    """Broker-derived text made literal for plotly, whose labels understand a little HTML (``<a href>``
    becomes a live SVG link, ``<b>``, ``<span style>``...): ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def series_name(row: pd.Series | dict, label_cols: Sequence[str]) -> str:
    """Readable legend name of one series: its label values joined by ' / ' (``total`` if none), as
    literal text (see :func:`plotly_text`)."""
    parts = [str(row[c]) for c in label_cols if c in row and pd.notna(row[c]) and str(row[c]) != ""]
    return plotly_text(" / ".join(parts)) or "total"


def _hover(unit: str, zone_label: str = zones.UTC) -> str:
    # 3 significant digits, thousands separated: the tables' format (views.units.significant)
    return "%{x|%Y-%m-%d %H:%M:%S} " + zone_label + "<br>%{y:,.3~r} " + unit + "<extra>%{fullData.name}</extra>"


GAP_STEPS = 2.5  # a pause longer than this many typical sample steps is drawn as a gap, not a line across


def with_gaps(ts_ms: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN points inserted where samples pause for more than ``GAP_STEPS`` typical steps (an outage, a
    collector down), so the line breaks there instead of drawing a straight line across the missing time."""
    ts_ms = np.asarray(ts_ms, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if len(ts_ms) < 3:
        return ts_ms, values
    steps = np.diff(ts_ms)
    typical = float(np.median(steps))
    if typical <= 0:
        return ts_ms, values
    at = np.flatnonzero(steps > GAP_STEPS * typical)
    if not len(at):
        return ts_ms, values
    gap_ts = ts_ms[at] + steps[at] // 2
    return np.insert(ts_ms, at + 1, gap_ts), np.insert(values, at + 1, np.nan)


def isolated(values: np.ndarray) -> np.ndarray:
    """Mask of the finite points with no finite neighbour (a lone sample between gaps): a line cannot show
    them, so they are drawn as markers."""
    v = np.isfinite(np.asarray(values, dtype=np.float64))
    if not len(v):
        return v
    left = np.r_[False, v[:-1]]
    right = np.r_[v[1:], False]
    return v & ~left & ~right


SCALES = ("linear", "log", "per series")
SPREAD = 20.0  # a series whose peak is this many times smaller than the largest one is flattened on a shared axis


def flattened(df: pd.DataFrame, label_cols: Sequence[str], spread: float = SPREAD) -> bool:
    """Whether one large series flattens the rest on a shared linear axis: the smallest non-zero peak of a
    series is ``spread`` times below the largest (the page then offers a log or per-series scale)."""
    if df is None or df.empty:
        return False
    keys = list(label_cols) or ["series_id"]
    peaks = df.assign(a=df["value"].abs()).groupby(keys, dropna=False)["a"].max()
    peaks = peaks[np.isfinite(peaks) & (peaks > 0)]
    return len(peaks) > 1 and float(peaks.max()) >= spread * float(peaks.min())


def scaled(values: np.ndarray, scale: str) -> np.ndarray:
    """``values`` as drawn on ``scale``: unchanged (linear), NaN where a log axis cannot draw them (≤ 0: a gap,
    not a fake point), or divided by the series' own largest magnitude (per series: 0–100 % of its peak)."""
    values = np.asarray(values, dtype=np.float64)
    if scale == "log":
        return np.where(values > 0, values, np.nan)
    if scale == "per series":
        finite = np.abs(values[np.isfinite(values)])
        peak = float(finite.max()) if len(finite) else 0.0
        return values / peak if peak > 0 else values
    return values


def in_duration_unit(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """A frame of durations in seconds rescaled to the unit its values need (``views.units.duration_unit``:
    ms, s, min or h), so a chart reads like the table next to it; returns the frame and the unit."""
    if df is None or df.empty:
        return df, "s"
    unit, factor = units.duration_unit(df["value"].tolist())
    return (df if factor == 1.0 else df.assign(value=df["value"] * factor)), unit


def timeseries_figure(df: pd.DataFrame, *, title: str, unit: str, label_cols: Sequence[str],
                      max_points: int = MAX_POINTS, height: int = _HEIGHT, zone: str = zones.UTC,
                      x_range: tuple[int, int] | None = None, scale: str = "linear") -> go.Figure:
    """One line per distinct combination of ``label_cols`` (or per ``series_id`` when none given).

    Times are drawn in ``zone`` (``views.zones``; the axis title and hovers name it); ``x_range`` (epoch ms)
    makes the axis span the page's whole time range; pauses in a series are gaps (:func:`with_gaps`); a
    lone point (a series of one sample, or one between gaps) is drawn as a marker. ``scale`` (``SCALES``):
    a shared linear axis, a log axis, or each series as a share of its own peak (hovers keep the values), so
    one large series does not flatten the rest. Ratios read as percentages."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    fig = go.Figure()
    end_ms = x_range[1] if x_range else (int(df["ts_ms"].max()) if df is not None and not df.empty else None)
    zlabel = zones.label(zone, end_ms)
    ratio = unit == "ratio"
    value = "y" if scale == "linear" else "customdata"  # a scaled axis: the hover still says the value
    shown = f"%{{{value}:.2%}}" if ratio else f"%{{{value}:,.3~r}} " + unit
    hover = _hover("", zlabel).replace("%{y:,.3~r} ", shown)
    if df is not None and not df.empty:
        keys = list(label_cols) or ["series_id"]
        for _, part in df.sort_values("ts_ms").groupby(keys, sort=True, dropna=False):
            x, y = downsample(part["ts_ms"].to_numpy(), part["value"].to_numpy(), max_points)
            x, y = with_gaps(x, y)
            drawn = scaled(y, scale)
            lone = isolated(drawn)
            fig.add_trace(go.Scattergl(x=zones.wall_strings(x, zone), y=drawn, customdata=y,
                                       mode="lines+markers" if lone.any() else "lines",
                                       marker=dict(size=np.where(lone, 7, 0).tolist()) if lone.any() else None,
                                       name=series_name(part.iloc[0], label_cols),
                                       hovertemplate=hover, connectgaps=False))
    # titles carry broker names (a queue, a consumer): literal text like the legend
    fig.update_layout(title=dict(text=plotly_text(title), y=0.98, yanchor="top"), height=height, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                      hovermode="x unified" if len(fig.data) < 8 else "closest",
                      uirevision=f"{title}|{scale}")
    fig.update_xaxes(type="date", title_text=f"time ({zlabel})",
                     **({"range": list(zones.wall_strings(np.array(x_range), zone))} if x_range else {}))
    if scale == "per series":
        fig.update_yaxes(title_text="% of each series' peak", tickformat=".0%", rangemode="tozero")
    elif scale == "log":
        fig.update_yaxes(type="log", title_text=("ratio (log)" if ratio else f"{unit} (log)"),
                         **({"tickformat": ".2~%"} if ratio else {}))
    elif ratio:  # ratios read as percentages, on the axis and in the hover
        fig.update_yaxes(title_text="%", tickformat=".2~%", rangemode="tozero")
    else:
        fig.update_yaxes(title_text=unit, rangemode="tozero")
    return fig


def sparkline_figure(df: pd.DataFrame, *, unit: str, max_points: int = 200, zone: str = zones.UTC,
                     x_range: tuple[int, int] | None = None) -> go.Figure:
    """A tiny axis-less line of one aggregated series (``ts_ms``, ``value``), times in ``zone``."""
    fig = go.Figure()
    if df is not None and not df.empty:
        part = df.sort_values("ts_ms")
        x, y = downsample(part["ts_ms"].to_numpy(), part["value"].to_numpy(), max_points)
        x, y = with_gaps(x, y)
        fig.add_trace(go.Scatter(x=zones.wall_strings(x, zone), y=y, mode="lines", fill="tozeroy",
                                 line=dict(width=1.5), connectgaps=False,
                                 hovertemplate=_hover(unit, zones.label(zone, int(x[-1]))), name=unit))
    fig.update_layout(height=_SPARK_HEIGHT, margin=dict(l=0, r=0, t=0, b=0), showlegend=False)
    fig.update_xaxes(type="date", visible=False,
                     **({"range": list(zones.wall_strings(np.array(x_range), zone))} if x_range else {}))
    fig.update_yaxes(visible=False, rangemode="tozero")
    return fig


def points(fig: go.Figure) -> list[int]:
    """Number of points of each trace (what the browser receives)."""
    return [len(t.x) if t.x is not None else 0 for t in fig.data]


def payload_bytes(fig: go.Figure) -> int:
    """Size of the figure's JSON as sent to the browser."""
    return len(fig.to_json().encode())
