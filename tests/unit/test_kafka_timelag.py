"""Time-lag interpolation and table maintenance (collectors.timelag)."""
import pytest

from collectors.timelag import Edit, Point, TimeLag, TimeTable, estimate, exact, group_max, time_lag_s
from core.codes import LagMethod

EX, IN, LB = LagMethod.EXACT, LagMethod.INTERPOLATED, LagMethod.LOWER_BOUND

P = Point
# End offset grows 10 records per second from t=0 (offset 0) to t=10 s (offset 100).
SLOPE = [P(0, 0), P(5_000, 50), P(10_000, 100)]


@pytest.mark.parametrize(
    "points, committed, now_ms, expected",
    [
        ([], 5, 1_000, None),  # nothing seen yet: unknown, never 0
        ([P(0, 10)], 5, 1_000, 1.0),  # one point: offset 5 existed at 0 s, so at least 1 s (a bound)
        ([P(1_000, 10)], 5, 1_000, None),  # ... but a bound of 0 s says nothing: unknown, never 0
        ([P(0, 10)], 10, 1_000, 0.0),  # at the end of the log: 0 s even with a single point
        (SLOPE, 100, 60_000, 0.0),  # caught up: 0 s however long the topic has been idle
        (SLOPE, 120, 60_000, 0.0),  # committed past the end we read (racing requests): still 0
        (SLOPE, 50, 10_000, 5.0),  # exactly on a point: produced at 5 s, now 10 s
        (SLOPE, 25, 10_000, 7.5),  # between points: linear interpolation gives 2.5 s
        (SLOPE, 75, 12_000, 4.5),  # interpolated 7.5 s, now 12 s; grows with wall time
        ([P(5_000, 50), P(10_000, 100)], 20, 10_000, 8.0),  # older than the table: extrapolated to 2 s
        ([P(0, 50), P(10_000, 50)], 20, 20_000, 20.0),  # flat table (burst before we looked): bound 20 s
        # A flat run between two bursts: the burst after the idle time dates the records, not the idle.
        ([P(0, 0), P(1_000, 10), P(9_000, 10), P(10_000, 20)], 15, 10_000, 0.5),
        ([P(0, 0), P(1_000, 100)], 0, 1_000_000, 1_000.0),  # long-stuck consumer: large, never negative
        ([P(0, 0), P(10_000, 100)], 50, 2_000, 0.0),  # clock behind the table (skew): clamped at 0
    ],
)
def test_time_lag(points, committed, now_ms, expected):
    assert time_lag_s(points, committed, now_ms) == expected


@pytest.mark.parametrize(
    "start, add, expected_points, expected_edit",
    [
        # empty table: the first point is simply added
        ([], (1_000, 5), [P(1_000, 5)], Edit((), P(1_000, 5))),
        # a growing offset appends
        ([P(0, 0)], (1_000, 5), [P(0, 0), P(1_000, 5)], Edit((), P(1_000, 5))),
        # out of order (older than the newest point): ignored, no edit
        ([P(0, 0), P(2_000, 5)], (1_000, 3), [P(0, 0), P(2_000, 5)], Edit()),
        # same timestamp as the newest point: ignored too
        ([P(0, 0), P(2_000, 5)], (2_000, 6), [P(0, 0), P(2_000, 5)], Edit()),
        # first repetition of an offset is kept: it marks the start of a flat run
        ([P(0, 0), P(1_000, 5)], (2_000, 5), [P(0, 0), P(1_000, 5), P(2_000, 5)], Edit((), P(2_000, 5))),
        # further repetitions move the flat run's end instead of adding points
        ([P(0, 0), P(1_000, 5), P(2_000, 5)], (3_000, 5), [P(0, 0), P(1_000, 5), P(3_000, 5)],
         Edit((2_000,), P(3_000, 5))),
        # end offset went down (topic re-created): the table starts over
        ([P(0, 0), P(1_000, 50)], (2_000, 3), [P(2_000, 3)], Edit((0, 1_000), P(2_000, 3))),
        # full table (max 3): the oldest point is dropped
        ([P(0, 0), P(1_000, 1), P(2_000, 2)], (3_000, 3), [P(1_000, 1), P(2_000, 2), P(3_000, 3)],
         Edit((0,), P(3_000, 3))),
    ],
)
def test_table_add(start, add, expected_points, expected_edit):
    table = TimeTable(3, list(start))
    assert table.add(*add) == expected_edit
    assert table.points == expected_points


def test_restore_sorts_and_reports_dropped_rows():
    # Stored rows come back in any order and from a run with a bigger max_points: the rebuilt
    # table keeps the newest, and the edit deletes the rows it dropped.
    rows = [P(3_000, 30), P(0, 0), P(2_000, 20), P(1_000, 10)]
    table, edit = TimeTable.restore(2, rows)
    assert table.points == [P(2_000, 20), P(3_000, 30)]
    assert sorted(edit.removed) == [0, 1_000]
    assert edit.added is None


@pytest.mark.parametrize(
    "points, committed, now_ms, expected",
    [
        ([], 5, 1_000, None),
        ([P(0, 10)], 10, 1_000, TimeLag(0.0, EX)),  # nothing unconsumed: exactly 0
        (SLOPE, 25, 10_000, TimeLag(7.5, IN)),
        ([P(5_000, 50), P(10_000, 100)], 20, 10_000, TimeLag(8.0, IN)),  # extrapolated along the slope
        ([P(0, 10)], 5, 1_000, TimeLag(1.0, LB)),
        ([P(0, 50), P(10_000, 50)], 20, 20_000, TimeLag(20.0, LB)),
        ([P(0, 50), P(10_000, 50), P(11_000, 60)], 20, 20_000, TimeLag(53.0, IN)),  # sloped again: extrapolated
        ([P(20_000, 50), P(30_000, 50)], 20, 20_000, None),  # first look just now: a 0 s bound is unknown
    ],
)
def test_estimate_says_how(points, committed, now_ms, expected):
    assert estimate(points, committed, now_ms) == expected


@pytest.mark.parametrize(
    "record_ts, now_ms, expected",
    [(1_000, 61_000, TimeLag(60.0, EX)), (70_000, 61_000, TimeLag(0.0, EX))],  # skew: clamped at 0
)
def test_exact(record_ts, now_ms, expected):
    assert exact(record_ts, now_ms) == expected


@pytest.mark.parametrize(
    "lags, expected",
    [
        ([], None),
        ([TimeLag(0.0, EX), TimeLag(3.0, IN)], TimeLag(3.0, IN)),
        ([TimeLag(5.0, EX), TimeLag(3.0, IN)], TimeLag(5.0, EX)),
        # an unknown lagging partition: the known max is only a lower bound of the group's ...
        ([TimeLag(5.0, EX), None], TimeLag(5.0, LB)),
        # ... and with nothing above 0 known the group is unknown, never "0 s behind"
        ([TimeLag(0.0, EX), None], None),
        ([None, None], None),
        ([TimeLag(4.0, LB), TimeLag(4.0, IN)], TimeLag(4.0, LB)),  # a tie: the bound is what is certain
    ],
)
def test_group_max(lags, expected):
    assert group_max(lags) == expected
