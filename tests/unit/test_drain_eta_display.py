"""A drain ETA only where it means something (views.units.drain_eta with the row's backlog, and the tables)."""
from __future__ import annotations

import pandas as pd
import pytest

from views import frames, units

NEVER = units.NOT_DRAINING_S


@pytest.mark.parametrize("eta, backlog, text", [
    (2460, 5, units.NO_STEADY_DRAIN),       # 5 messages at a noisy rate: not "41 min"
    (2460, 5000, "41 min"),                 # 5,000 messages: 1,220 drained over the window, a real drain
    (2460, None, "41 min"),                 # no backlog known: the ETA as stored
    (600, 10, "10 min"),                    # exactly 10 drained over the 600 s window: shown
    (601, 10, units.NO_STEADY_DRAIN),       # just under
    (30, 3, "30 s"),                        # 3 messages going fast: 60 drained over the window
    (0, 0, "drained"), (0, None, "drained"), (45, 0, "drained"),
    (NEVER, 5, units.NOT_DRAINING), (NEVER, None, units.NOT_DRAINING),
    (None, 5, units.MISSING), (float("nan"), 5, units.MISSING), ("x", 5, units.MISSING),
    (2460, float("nan"), "41 min"),
])
def test_drain_eta_with_backlog(eta, backlog, text):
    assert units.drain_eta(eta, backlog) == text


@pytest.mark.parametrize("window_s, min_drained, text", [(600, 10, units.NO_STEADY_DRAIN), (6000, 10, "41 min"),
                                                         (600, 1, "41 min")])
def test_window_and_threshold(window_s, min_drained, text):
    assert units.drain_eta(2460, 5, window_s=window_s, min_drained=min_drained) == text


def test_tables_use_the_rows_backlog():
    groups = pd.DataFrame({"group": ["a", "b"], "lag (messages)": [5.0, 5000.0], "drain ETA": [2460.0, 2460.0]})
    assert frames.in_units(groups)["drain ETA"].tolist() == [units.NO_STEADY_DRAIN, "41 min"]
    queues = pd.DataFrame({"queue": ["q"], "ready": [5.0], "drain ETA": [2460.0]})
    assert frames.in_units(queues)["drain ETA"].tolist() == [units.NO_STEADY_DRAIN]
    alone = pd.DataFrame({"drain ETA": [2460.0, None]})
    assert frames.in_units(alone)["drain ETA"].tolist() == ["41 min", units.MISSING]
