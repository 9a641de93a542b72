"""Range functions of alert rules and keep_firing_for in the state machine (pure; tables of cases)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import windows
from alerts.rules import RuleError, rule_from_dict
from alerts.state import AlertState, step


@pytest.mark.parametrize("fn, values, want", [
    ("increase", [180, 180, 220, 220, 260], 80.0),
    ("increase", [50, 10, 20], 10.0),           # a replay drained it: the fall is not growth
    ("increase", [5], None),                    # one sample: no increase known
    ("increase", [], None),
    ("increase", [1, math.nan, 3], 2.0),
    ("sum_over_time", [1, 2, 3], 6.0),
    ("max_over_time", [1, 7, 3], 7.0),
    ("min_over_time", [4, 7, 3], 3.0),
    ("avg_over_time", [1, 2, 3], 2.0),
    ("avg_over_time", [], None),
    ("last", [1, 2, 9], 9.0),
])
def test_apply(fn, values, want):
    assert windows.apply(fn, np.array(values, dtype=float)) == want


def test_apply_unknown():
    with pytest.raises(ValueError, match="range function"):
        windows.apply("rate", np.array([1.0]))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9), min_size=2))
def test_increase_is_nonnegative_and_at_least_net_growth(values):
    got = windows.apply("increase", np.array(values))
    assert got >= 0 and got >= values[-1] - values[0] - 1e-6 * max(1.0, abs(values[-1]) + abs(values[0]))


def test_rule_accepts_prometheus_names_and_refuses_bad_windows():
    r = rule_from_dict({"name": "x", "metric": "dlq_messages", "threshold": 0, "keep_firing_for": 120,
                        "range_function": "increase", "range_s": 300})
    assert (r.keep_firing_for_s, r.range_function, r.range_s) == (120, "increase", 300)
    with pytest.raises(RuleError, match="range_s"):
        rule_from_dict({"name": "x", "metric": "dlq_messages", "threshold": 0, "range_s": 0})
    with pytest.raises(RuleError, match="range_function"):
        rule_from_dict({"name": "x", "metric": "dlq_messages", "threshold": 0, "range_function": "rate"})
    with pytest.raises(RuleError, match="keep_firing_for_s"):
        rule_from_dict({"name": "x", "metric": "dlq_messages", "threshold": 0, "keep_firing_for_s": math.inf})


def run(breaches, keep_ms, dt=5_000):
    s, out = AlertState(), []
    for i, b in enumerate(breaches):
        s, ev = step(s, b, 1.0, for_ms=0, repeat_ms=3_600_000, no_data="keep", now_ms=i * dt, keep_ms=keep_ms)
        out.append((s.state, [e.kind for e in ev]))
    return out


def test_flapping_condition_without_keep_firing_for_resolves_every_quiet_slot():
    got = run([True, False, True, False], keep_ms=0)
    assert [k for _, k in got] == [["firing"], ["resolved"], ["firing"], ["resolved"]]


def test_keep_firing_for_holds_through_flaps_then_resolves_once():
    got = run([True, False, True, False, False, False, False], keep_ms=15_000)
    assert [s for s, _ in got] == ["firing"] * 6 + ["resolved"]
    assert [k for _, k in got].count(["resolved"]) == 1
    assert [k for _, k in got].count(["firing"]) == 1


def test_keep_firing_for_clock_restarts_on_a_new_breach():
    s, _ = step(AlertState(), True, 1.0, for_ms=0, repeat_ms=10**9, no_data="keep", now_ms=0, keep_ms=10_000)
    s, _ = step(s, False, 0.0, for_ms=0, repeat_ms=10**9, no_data="keep", now_ms=5_000, keep_ms=10_000)
    assert s.clear_since_ms == 5_000
    s, _ = step(s, True, 1.0, for_ms=0, repeat_ms=10**9, no_data="keep", now_ms=8_000, keep_ms=10_000)
    assert s.clear_since_ms is None and s.state == "firing"
