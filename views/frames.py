"""Pure pandas shaping of store frames for the pages (no Streamlit, no store access)."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pandas as pd

from core.codes import UNKNOWN, name_of
from core.targets import broker_target
from views import units

UP, DOWN, NO_DATA = "up", "down", "no data yet"


def sum_by(df: pd.DataFrame, by: Sequence[str], value: str = "value", agg: str = "sum") -> pd.DataFrame:
    """``value`` aggregated per distinct ``by`` labels, largest first (empty frame keeps the columns)."""
    if df is None or df.empty:
        return pd.DataFrame(columns=[*by, value])
    out = df.groupby(list(by), dropna=False, as_index=False)[value].agg(agg)
    return out.sort_values(value, ascending=False, kind="stable").reset_index(drop=True)


def over_time(df: pd.DataFrame, by: Sequence[str] = (), agg: str = "sum") -> pd.DataFrame:
    """Series aggregated per timestamp (and ``by`` labels): the input of a chart of totals."""
    if df is None or df.empty:
        return pd.DataFrame(columns=["ts_ms", *by, "value"])
    keys = ["ts_ms", *by]
    return df.groupby(keys, dropna=False, as_index=False)["value"].agg(agg).sort_values(keys).reset_index(drop=True)


def wide(df: pd.DataFrame, index: Sequence[str], column: str, values: str = "value") -> pd.DataFrame:
    """Latest values of several metrics in one table: one row per ``index`` labels, one column per ``column``."""
    if df is None or df.empty:
        return pd.DataFrame(columns=list(index))
    out = df.pivot_table(index=list(index), columns=column, values=values, aggfunc="sum")
    out.columns.name = None
    return out.reset_index()


def cluster_health(clusters: Iterable[str], status: pd.DataFrame, broker: str) -> pd.DataFrame:
    """State of each configured cluster from the collector status table.

    ``status`` has columns ``target, up, reason, last_ms``; a cluster without a status row is
    'no data yet' (never polled), one whose last poll failed is 'down' with the reason.
    """
    rows = []
    known = {} if status is None or status.empty else {r.target: r for r in status.itertuples()}
    for name in clusters:
        r = known.get(broker_target(broker, name))
        if r is None:
            rows.append({"cluster": name, "state": NO_DATA, "reason": None, "checked_ms": None})
        else:
            rows.append({"cluster": name, "state": UP if bool(r.up) else DOWN,
                         "reason": None if bool(r.up) else r.reason, "checked_ms": r.last_ms})
    return pd.DataFrame(rows, columns=["cluster", "state", "reason", "checked_ms"])


def escape_text(value: object, limit: int) -> str:
    """A payload or header value as plain text, truncated to ``limit`` characters with a marker."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + f"… (+{len(text) - limit} chars)"


_MD_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>~$:=")


_WJ = "\u2060"  # word joiner: invisible, but no autolink matches across it
_AUTOLINKS = (("://", ":" + _WJ + "//"), ("www.", "www" + _WJ + "."), ("WWW.", "WWW" + _WJ + "."),
              ("@", "@" + _WJ))


def md_escape(value: object, limit: int = 200) -> str:
    """Broker-supplied text made inert inside Markdown (st.subheader/warning): every Markdown character is
    backslash-escaped, newlines become spaces, truncated like :func:`escape_text`."""
    text = escape_text(value, limit).replace("\n", " ").replace("\r", " ")
    for found, inert in _AUTOLINKS:  # GFM turns bare URLs, www. names and e-mail addresses into links
        text = text.replace(found, inert)
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def decode(df: pd.DataFrame, column: str, names: Mapping[int, str]) -> pd.DataFrame:
    """Replace a numeric code column by its names from ``core.codes`` (an unknown or missing code
    shows as 'unknown')."""
    if column not in df.columns:
        return df
    out = df.copy()
    out[column] = [name_of(v, names) if pd.notna(v) else UNKNOWN for v in out[column]]
    return out


def in_units(df: pd.DataFrame, counts: Sequence[str] = (), rates: Sequence[str] = (), ratios: Sequence[str] = (),
             durations: Sequence[str] = ()) -> pd.DataFrame:
    """Table values as text in the pages' units (``views.units``): a ``time lag`` column with the mark of
    its ``method`` column, ``drain ETA``, and the named count, rate, ratio and duration (seconds) columns."""
    out = df.copy()
    if "method" in out and "time lag" not in out:  # no lag dated at all: every row says so
        out["time lag"] = None
    if "time lag" in out:
        method = out["method"] if "method" in out else [None] * len(out)
        out["time lag"] = [units.time_lag(s, m) for s, m in zip(out["time lag"], method)]
    if "drain ETA" in out:  # with the row's backlog: an ETA only where the drain behind it is real
        backlog = next((out[c] for c in ("lag (messages)", "ready") if c in out), [None] * len(out))
        out["drain ETA"] = [units.drain_eta(s, b) for s, b in zip(out["drain ETA"], backlog)]
    for cols, fmt in ((counts, units.count), (rates, units.significant), (ratios, units.ratio),
                      (durations, units.duration)):
        for col in cols:
            if col in out:
                out[col] = out[col].map(fmt)
    return out


def gone_entities(df: pd.DataFrame, index: Sequence[str]) -> pd.DataFrame:
    """Entities (distinct ``index`` labels) of a ``queries.latest(..., gone=True)`` frame that have only gone
    series, with ``last_seen_ms`` (their newest sample), most recently seen first. Index labels no series
    has (a Kafka DLQ's ``vhost``) are left out."""
    if df is None or df.empty or "gone" not in df:
        return pd.DataFrame(columns=[*index, "last_seen_ms"])
    index = [c for c in index if c in df.columns]
    cols = [*index, "last_seen_ms"]
    keys = df[index].astype(object).where(df[index].notna(), "").astype(str).agg("\x1f".join, axis=1)
    live = set(keys[~df["gone"].astype(bool)])
    gone = df[df["gone"].astype(bool) & ~keys.isin(live)]
    if gone.empty:
        return pd.DataFrame(columns=cols)
    out = gone.groupby(list(index), dropna=False, as_index=False)["ts_ms"].max().rename(columns={"ts_ms": "last_seen_ms"})
    return out.sort_values("last_seen_ms", ascending=False, kind="stable").reset_index(drop=True)[cols]


def top_causes(msgs: list[dict], limit: int = 10) -> pd.DataFrame:
    """Why messages were dead-lettered: counts per (exception class, reason) among ``msgs``, most first
    (texts truncated and shown as plain text)."""
    cols = ["messages", "exception", "reason"]
    if not msgs:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame({"exception": [escape_text(m.get("exception_class") or "—", 120) for m in msgs],
                       "reason": [escape_text(m.get("reason") or "—", 200) for m in msgs]})
    out = df.groupby(["exception", "reason"], as_index=False).size().rename(columns={"size": "messages"})
    return out.sort_values(["messages", "exception", "reason"], ascending=[False, True, True]).head(limit)[cols] \
        .reset_index(drop=True)
