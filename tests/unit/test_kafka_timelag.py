"""Time-lag interpolation and table maintenance (collectors.timelag)."""
import pytest

from collectors.timelag import Edit, Point, TimeTable, time_lag_s

P = Point
# End offset grows 10 records per second from t=0 (offset 0) to t=10 s (offset 100).
SLOPE = [P(0, 0), P(5_000, 50), P(10_000, 100)]


@pytest.mark.parametrize(
    "points, committed, now_ms, expected",
    [
        ([], 5, 1_000, None),  # nothing seen yet: unknown, never 0
        ([P(0, 10)], 5, 1_000, None),  # one point cannot date offset 5: too few points
        ([P(0, 10)], 10, 1_000, 0.0),  # at the end of the log: 0 s even with a single point
        (SLOPE, 100, 60_000, 0.0),  # caught up: 0 s however long the topic has been idle
        (SLOPE, 120, 60_000, 0.0),  # committed past the end we read (racing requests): still 0
        (SLOPE, 50, 10_000, 5.0),  # exactly on a point: produced at 5 s, now 10 s
        (SLOPE, 25, 10_000, 7.5),  # between points: linear interpolation gives 2.5 s
        (SLOPE, 75, 12_000, 4.5),  # interpolated 7.5 s, now 12 s; grows with wall time
        ([P(5_000, 50), P(10_000, 100)], 20, 10_000, 8.0),  # older than the table: extrapolated to 2 s
        ([P(0, 50), P(10_000, 50)], 20, 20_000, None),  # flat table, consumer behind: no slope, unknown
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
