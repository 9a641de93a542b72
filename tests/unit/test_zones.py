"""One time zone for tables, chart axes and hovers (views.zones, views.charts): tables of cases."""
from __future__ import annotations

import numpy as np
import pytest

from views import charts, zones

T = 1_796_584_080_000  # 2026-12-06 19:08:00 UTC


@pytest.mark.parametrize("name, want", [
    ("UTC", "2026-12-06 19:08:00 UTC"),
    ("America/New_York", "2026-12-06 14:08:00 EST"),
    ("Asia/Kolkata", "2026-12-07 00:38:00 IST"),
    ("America/Sao_Paulo", "2026-12-06 16:08:00 America/Sao_Paulo"),  # "-03"-style abbreviation: the name
])
def test_fmt(name, want):
    assert zones.fmt(T, name) == want


@pytest.mark.parametrize("name", ["", None, "Mars/Olympus", "../../etc/passwd", "x" * 100])
def test_unknown_zone_is_utc(name):
    assert zones.zone(name) == "UTC"


def test_summer_time_follows_each_instant():
    july = 1_783_000_000_000  # 2026-07-02
    assert zones.fmt(july, "America/New_York").endswith("EDT")
    shifted = zones.wall_ms(np.array([T, july]), "America/New_York")
    assert list(np.array([T, july]) - shifted) == [5 * 3_600_000, 4 * 3_600_000]


def test_chart_axis_hover_and_table_agree():
    import pandas as pd
    df = pd.DataFrame({"series_id": [1, 1], "ts_ms": [T, T + 15_000], "value": [1.0, 2.0]})
    for name in ("UTC", "America/New_York"):
        fig = charts.timeseries_figure(df, title="t", unit="msg", label_cols=[], zone=name, x_range=(T - 60_000, T + 60_000))
        # wall-clock strings without offset (plotly.js would draw epoch ms in the browser's zone)
        first = str(fig.data[0].x[0])
        assert first[:19].replace("T", " ") + " " + zones.label(name, T) == zones.fmt(T, name)
        assert zones.label(name, T) in fig.data[0].hovertemplate
        assert fig.layout.xaxis.title.text == f"time ({zones.label(name, T)})"
        assert list(fig.layout.xaxis.range) == list(zones.wall_strings(np.array([T - 60_000, T + 60_000]), name))


def test_gaps_stay_gaps():
    ts = np.array([0, 15, 30, 45, 300, 315, 330]) * 1000
    x, y = charts.with_gaps(ts, np.arange(7.0))
    assert len(x) == 8 and np.isnan(y[4]) and 45_000 < x[4] < 300_000
    x2, y2 = charts.with_gaps(ts[:4], np.arange(4.0))
    assert len(x2) == 4 and not np.isnan(y2).any()


def test_ratio_charts_read_as_percent():
    import pandas as pd
    df = pd.DataFrame({"series_id": [1, 1], "ts_ms": [T, T + 15_000], "value": [0.01, 0.2]})
    fig = charts.timeseries_figure(df, title="t", unit="ratio", label_cols=[])
    assert fig.layout.yaxis.tickformat == ".2~%" and "%{y:.2%}" in fig.data[0].hovertemplate
