"""views.cells: no epoch milliseconds, raw JSON or None in a table cell."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from views.cells import MISSING, readable, structured, time_column


@pytest.mark.parametrize("value, text", [
    (None, MISSING), (float("nan"), MISSING), (pd.NA, MISSING),
    ({"job": 3, "selection": {"mode": "all"}}, "job: 3; selection: {mode: all}"),
    ('{"a": 1, "b": null}', "a: 1; b: —"),
    (["x", "y"], "x, y"), ([], MISSING), ({}, MISSING),
    ("{not json", "{not json"), ("plain", "plain"), (5, "5"),
    ({"diff": "-{\"order\": 1}\n+{\"order\": 2}"}, "diff: -{\"order\": 1}\n+{\"order\": 2}"),
])
def test_structured(value, text):
    assert structured(value) == text


def test_structured_is_cut():
    assert structured({"k": "x" * 1000}, limit=20) == "k: " + "x" * 16 + "…"


@pytest.mark.parametrize("col, name", [("ts_ms", "time"), ("created_ms", "created"), ("_ms", None),
                                       ("items", None), ("size", None)])
def test_time_column(col, name):
    assert time_column(col) == name


def test_readable_table():
    df = pd.DataFrame({"id": [1, 2], "ts_ms": [1_000, None], "detail": [{"a": 1}, None],
                       "error": [None, "boom"], "total": [3.0, float("nan")], "n": [1, 2]})
    out = readable(df, lambda ms: f"T{int(ms)}")
    assert list(out.columns) == ["id", "time", "detail", "error", "total", "n"]
    assert out["time"].tolist() == ["T1000", MISSING]
    assert out["detail"].tolist() == ["a: 1", MISSING]
    assert out["error"].tolist() == [MISSING, "boom"]
    assert out["total"].tolist() == ["3", MISSING]
    assert out["n"].tolist() == [1, 2]  # whole numeric columns stay numbers
    flat = [v for col in out.columns for v in out[col]]
    assert not any(v is None or (isinstance(v, float) and math.isnan(v)) for v in flat)


def test_an_existing_time_column_wins():
    out = readable(pd.DataFrame({"time": ["t"], "ts_ms": [5]}), str)
    assert out.to_dict("list") == {"time": ["t"]}


def test_empty_frame_passes():
    assert readable(pd.DataFrame(), str).empty
