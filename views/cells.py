"""Table cells for people (pure; no Streamlit): times instead of epoch milliseconds, structured values as
``name: value`` text instead of raw JSON, and ``—`` instead of None/NaN. Pages pass their own time
formatter (the operator's time zone)."""
from __future__ import annotations

import json
import math
from typing import Any, Callable

import pandas as pd

MISSING = "—"
MAX_CELL = 500  # characters of a structured value shown in one cell


def is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def structured(v: Any, limit: int = MAX_CELL) -> str:
    """A dict or list (or JSON text of one) as ``name: value; name: value`` / ``a, b`` text, one level deep
    (deeper values compact), cut to ``limit`` characters; other values as ``str``; missing as ``—``."""
    if is_missing(v):
        return MISSING
    if isinstance(v, str) and v[:1] in "{[":
        try:
            v = json.loads(v)
        except ValueError:
            return v[:limit]
    if isinstance(v, dict):
        text = "; ".join(f"{k}: {_inner(x)}" for k, x in v.items()) or MISSING
    elif isinstance(v, (list, tuple)):
        text = ", ".join(_inner(x) for x in v) or MISSING
    else:
        text = str(v)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _inner(x: Any) -> str:
    if is_missing(x):
        return MISSING
    if isinstance(x, (dict, list, tuple)):
        return json.dumps(x, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str) \
            .replace('"', "")
    return str(x)


def time_column(col: str) -> str | None:
    """The readable name of an epoch-ms column (``ts_ms`` → ``time``, ``created_ms`` → ``created``), or None."""
    if col == "ts_ms":
        return "time"
    if col.endswith("_ms") and len(col) > 3:
        return col[:-3]
    return None


def readable(df: pd.DataFrame, fmt_ts: Callable[[Any], str]) -> pd.DataFrame:
    """``df`` with epoch-ms columns as times (renamed; an existing column of that name wins), dict/list
    cells as text, and missing values as ``—``. Numbers stay numbers (tables sort them)."""
    if df is None or df.empty:
        return df
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        name = time_column(str(col))
        if name is not None:
            if name not in df.columns:
                out[name] = [MISSING if is_missing(v) else fmt_ts(v) for v in df[col]]
            continue
        values = df[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            out[col] = [structured(v) for v in values]
        elif values.isna().any():
            out[col] = [MISSING if is_missing(v) else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.6g}"
                        for v in values]
        else:
            out[col] = values
    return out
