"""Number formatting shared by every page (views.units): tables of cases."""
import math

import pytest

from views import units


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "—"), (math.nan, "—"), (math.inf, "—"), ("x", "—"), (True, "—"),
        (0, "0 ms"), (0.0004, "0.4 ms"), (0.0042, "4.2 ms"), (0.85, "850 ms"), (0.9996, "1 s"),
        (1, "1 s"), (4.2, "4.2 s"), (4.25, "4.2 s"), (9.97, "10 s"), (12.4, "12 s"), (59.4, "59 s"), (59.7, "1 min"),
        (60, "1 min"), (190, "3 min 10 s"), (3_599.6, "1 h"), (7_500, "2 h 5 min"),
        (86_400 * 3 + 3_600 * 4 + 59, "3 d 4 h"), (-4.2, "-4.2 s"),
    ],
)
def test_duration(seconds, text):
    assert units.duration(seconds) == text


@pytest.mark.parametrize(
    "value, text",
    [(None, "—"), (0, "0"), (0.012345, "0.0123"), (4.5678, "4.57"), (45.678, "45.7"), (456.78, "457"),
     (12_345, "12,300"), (1_234_567, "1,230,000"), (-2.345, "-2.35"), (0.5, "0.5"), (4.5, "4.5"),
     (100, "100"), (1_000, "1,000")],
)
def test_significant(value, text):
    assert units.significant(value) == text


def test_rate_count_ratio():
    assert units.rate(12.345) == "12.3/s"
    assert units.rate(None) == "—"
    assert units.count(1234567.4) == "1,234,567"
    assert units.count(None) == "—"
    assert units.ratio(0.10349) == "0.103"


@pytest.mark.parametrize(
    "seconds, method, text",
    [(4.2, 0, "4.2 s"), (4.2, 1, "≈ 4.2 s"), (190, 2, "≥ 3 min 10 s"), (None, 3, "— (not dated yet)"),
     (None, None, "—"), (5.0, None, "5 s")],
)
def test_time_lag(seconds, method, text):
    assert units.time_lag(seconds, method) == text


@pytest.mark.parametrize(
    "seconds, text",
    [(None, "—"), (0, "drained"), (95, "1 min 35 s"), (315_360_000.0, "not draining")],
)
def test_drain_eta(seconds, text):
    assert units.drain_eta(seconds) == text


def test_drain_sentinel_matches_the_collectors():
    from collectors.drain import NOT_DRAINING_S
    assert units.NOT_DRAINING_S == NOT_DRAINING_S


@pytest.mark.parametrize(
    "values, unit",
    [([], ("ms", 1000.0)), ([0.2, 0.9], ("ms", 1000.0)), ([0.2, 4.0], ("s", 1.0)), ([300], ("min", 1 / 60)),
     ([9_000], ("h", 1 / 3_600)), ([None, math.nan, 2.0], ("s", 1.0))],
)
def test_duration_unit(values, unit):
    assert units.duration_unit(values) == unit
