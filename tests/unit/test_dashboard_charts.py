"""Pure chart builders of the dashboard: downsampling, epoch-ms date axes, legend names, units."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from views import charts


def _frame(n: int, series: dict[str, str] | None = None, sid: int = 1) -> pd.DataFrame:
    ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 15_000
    return pd.DataFrame({"series_id": sid, "ts_ms": ts, "value": np.sin(np.arange(n) / 50) * 100,
                         **(series or {})})


@pytest.mark.parametrize("n, n_out, expected", [
    (10, 2000, 10),        # short series pass through untouched
    (2000, 2000, 2000),    # exactly at the cap: untouched
    (50_000, 2000, 2000),  # long series are cut to the cap
    (7, 4, 4),             # a tiny cap still keeps first/last and the shape
])
def test_downsample_caps_points(n, n_out, expected):
    df = _frame(n)
    x, y = charts.downsample(df["ts_ms"].to_numpy(), df["value"].to_numpy(), n_out)
    assert len(x) == len(y) == expected
    assert x[0] == df["ts_ms"].iloc[0] and x[-1] == df["ts_ms"].iloc[-1]  # the window's ends are kept
    assert np.all(np.diff(x) > 0)  # still ascending time


def test_downsample_keeps_extremes():
    # why: MinMaxLTTB must not flatten a one-sample spike, the thing an operator is looking for
    df = _frame(100_000)
    spike = df["value"].to_numpy().copy()
    spike[54_321] = 10_000
    _, y = charts.downsample(df["ts_ms"].to_numpy(), spike, 2000)
    assert y.max() == 10_000


@pytest.mark.parametrize("row, cols, expected", [
    ({"group": "g", "topic": "t"}, ["group", "topic"], "g / t"),   # labels joined in the given order
    ({"group": "g", "topic": None}, ["group", "topic"], "g"),      # a missing label is left out
    ({"group": "g"}, [], "total"),                                 # an aggregate has no labels
    ({"queue": ""}, ["queue"], "total"),                           # empty label values are not names
    ({"topic": '<a href="http://evil.example">x</a> & <b>'}, ["topic"],  # plotly's HTML subset stays text
     '&lt;a href="http://evil.example"&gt;x&lt;/a&gt; &amp; &lt;b&gt;'),
])
def test_series_name(row, cols, expected):
    assert charts.series_name(row, cols) == expected


def test_timeseries_figure_one_trace_per_label_set_with_epoch_ms_date_axis():
    df = pd.concat([_frame(5000, {"topic": "a"}, 1), _frame(300, {"topic": "b"}, 2)], ignore_index=True)
    fig = charts.timeseries_figure(df, title="Lag", unit="messages", label_cols=["topic"])
    assert [t.name for t in fig.data] == ["a", "b"]
    assert charts.points(fig) == [charts.MAX_POINTS, 300]
    assert fig.layout.xaxis.type == "date"
    # wall-clock strings in the page's zone, not epoch ms: plotly.js draws numbers in the browser's zone
    assert str(fig.data[0].x[0]).startswith("20") and "T" in str(fig.data[0].x[0])
    assert fig.layout.yaxis.title.text == "messages"
    assert "messages" in fig.data[0].hovertemplate


def test_empty_frame_gives_an_empty_figure():
    fig = charts.timeseries_figure(pd.DataFrame(columns=["series_id", "ts_ms", "value"]), title="x", unit="s",
                                   label_cols=[])
    assert len(fig.data) == 0 and fig.layout.title.text == "x"


def test_sparkline_is_small_and_axisless():
    fig = charts.sparkline_figure(_frame(1000), unit="messages")
    assert charts.points(fig) == [200]
    assert fig.layout.xaxis.visible is False and fig.layout.height <= 80


def test_payload_bytes_shrinks_with_downsampling():
    df = _frame(20_000)
    full = charts.payload_bytes(charts.timeseries_figure(df, title="t", unit="u", label_cols=[], max_points=20_000))
    cut = charts.payload_bytes(charts.timeseries_figure(df, title="t", unit="u", label_cols=[]))
    assert cut < full / 5


def test_durations_are_charted_in_the_unit_they_need():
    import pandas as pd

    from views.charts import in_duration_unit

    df = pd.DataFrame({"series_id": [1, 1], "ts_ms": [0, 1], "value": [0.012, 0.85]})
    scaled, unit = in_duration_unit(df)
    assert unit == "ms" and scaled["value"].tolist() == pytest.approx([12.0, 850.0])
    scaled, unit = in_duration_unit(df.assign(value=[30.0, 190.0]))
    assert unit == "min" and scaled["value"].tolist() == pytest.approx([0.5, 190 / 60])
    assert in_duration_unit(df.assign(value=[1.0, 4.2]))[1] == "s"


def test_chart_title_is_literal_text():
    """Issue #23: titles carry broker names ("Processing time of <consumer>"); plotly renders a little HTML in
    them (a live <a href> link), so they are escaped like legends."""
    title = "Processing time of <a href='http://evil'>pay</a> & <b>x</b>"
    fig = charts.timeseries_figure(pd.DataFrame(), title=title, unit="s", label_cols=[])
    shown = fig.layout.title.text
    assert "<a " not in shown and "<b>" not in shown
    assert shown == "Processing time of &lt;a href='http://evil'&gt;pay&lt;/a&gt; &amp; &lt;b&gt;x&lt;/b&gt;"


# ---- charts that do not mislead (#29): scale, lone points, range, gaps, ratios

def _two(big: float, small: float, n: int = 50, step: int = 5_000) -> pd.DataFrame:
    ts = np.arange(n, dtype=np.int64) * step + 1_700_000_000_000
    return pd.concat([pd.DataFrame({"series_id": 1, "ts_ms": ts, "value": np.full(n, big), "q": "big"}),
                      pd.DataFrame({"series_id": 2, "ts_ms": ts, "value": np.full(n, small), "q": "small"})])


@pytest.mark.parametrize("big, small, flat", [(10_000, 5, True), (100, 10, False), (100, 5, True),
                                              (100, 0, False), (0, 0, False)])
def test_flattened(big, small, flat):
    assert charts.flattened(_two(big, small), ["q"]) is flat


def test_one_series_is_never_flattened():
    assert not charts.flattened(_two(1, 1).query("q == 'big'"), ["q"])


@pytest.mark.parametrize("scale, values, drawn", [
    ("linear", [0.0, 5.0, -1.0], [0.0, 5.0, -1.0]),
    ("log", [0.0, 5.0, -1.0, 100.0], [np.nan, 5.0, np.nan, 100.0]),  # ≤ 0 cannot be drawn: a gap, not a point
    ("per series", [0.0, 5.0, 10.0, np.nan], [0.0, 0.5, 1.0, np.nan]),
    ("per series", [0.0, 0.0], [0.0, 0.0]),
    ("per series", [-4.0, 2.0], [-1.0, 0.5]),
])
def test_scaled(scale, values, drawn):
    np.testing.assert_array_equal(charts.scaled(np.array(values), scale), np.array(drawn))


def test_per_series_scale_lifts_the_small_series_and_hovers_keep_values():
    fig = charts.timeseries_figure(_two(10_000, 5), title="t", unit="msg/s", label_cols=["q"], scale="per series")
    assert [float(np.nanmax(t.y)) for t in fig.data] == [1.0, 1.0]  # both reach the top of the plot
    assert [float(np.nanmax(t.customdata)) for t in fig.data] == [10_000.0, 5.0]
    assert "%{customdata" in fig.data[0].hovertemplate and fig.layout.yaxis.tickformat == ".0%"


def test_log_scale_axis():
    fig = charts.timeseries_figure(_two(10_000, 5), title="t", unit="msg/s", label_cols=["q"], scale="log")
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text == "msg/s (log)"


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        charts.timeseries_figure(_two(1, 1), title="t", unit="u", label_cols=["q"], scale="cubic")


@pytest.mark.parametrize("values, lone", [
    ([1.0], [True]),
    ([1.0, 2.0], [False, False]),
    ([1.0, np.nan, 3.0, np.nan, 4.0, 5.0], [True, False, True, False, False, False]),
    ([np.nan, np.nan], [False, False]),
    ([], []),
])
def test_isolated(values, lone):
    assert charts.isolated(np.array(values)).tolist() == lone


def test_a_lone_point_between_gaps_is_drawn_as_a_marker():
    ts = np.array([0, 5, 10, 15, 100, 200, 205, 210], dtype=np.int64) * 1000 + 1_700_000_000_000
    df = pd.DataFrame({"series_id": 1, "ts_ms": ts, "value": np.arange(8.0)})
    fig = charts.timeseries_figure(df, title="t", unit="u", label_cols=[])
    tr = fig.data[0]
    assert tr.mode == "lines+markers"
    sizes = dict(zip(tr.customdata.tolist(), tr.marker.size))
    assert sizes[4.0] == 7 and sizes[0.0] == 0  # the sample at 100 s stands alone between two gaps
    assert sum(1 for v in tr.y if np.isnan(v)) == 2  # gaps stay gaps


def test_x_axis_spans_the_selected_range_not_the_data():
    df = _frame(10)
    lo, hi = int(df["ts_ms"].min()) - 3_600_000, int(df["ts_ms"].max()) + 3_600_000
    fig = charts.timeseries_figure(df, title="t", unit="u", label_cols=[], x_range=(lo, hi))
    from views import zones
    assert list(fig.layout.xaxis.range) == list(zones.wall_strings(np.array([lo, hi]), zones.UTC))


def test_ratios_as_percent_on_each_scale():
    df = _two(0.5, 0.01)
    lin = charts.timeseries_figure(df, title="t", unit="ratio", label_cols=["q"])
    assert lin.layout.yaxis.tickformat == ".2~%" and "%{y:.2%}" in lin.data[0].hovertemplate
    log = charts.timeseries_figure(df, title="t", unit="ratio", label_cols=["q"], scale="log")
    assert log.layout.yaxis.tickformat == ".2~%" and "%{customdata:.2%}" in log.data[0].hovertemplate
