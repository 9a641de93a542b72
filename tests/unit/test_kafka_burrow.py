"""Burrow status rules (collectors.burrow), one table per rule."""
import pytest

from collectors.burrow import Observation, Status, group_status, partition_status, trim

W = 10_000  # window (ms)
NOW = 100_000


def hist(*rows):
    """Observations from (seconds before NOW, committed, end) triples."""
    return [Observation(NOW - int(s * 1000), c, e) for s, c, e in rows]


@pytest.mark.parametrize(
    "history, members, expected",
    [
        ([], 1, None),  # never observed: unknown
        (hist((0, 5, 5)), 1, Status.OK),  # one point, caught up: OK right away
        (hist((0, 5, 9)), 1, None),  # one point with lag: too little to judge
        (hist((12, 5, 5), (6, 5, 5), (0, 5, 5)), 0, Status.OK),  # idle and caught up: lag 0 is never an error
        (hist((12, 0, 10), (6, 5, 20), (0, 10, 20)), 1, Status.OK),  # lag falling: consumer catching up
    ],
)
def test_ok_and_unknown(history, members, expected):
    assert partition_status(history, NOW, W, members) is expected


@pytest.mark.parametrize(
    "history, members, expected",
    [
        # lag grows every interval across the window: WARN
        (hist((9, 0, 10), (6, 5, 20), (3, 10, 30), (0, 15, 40)), 1, Status.WARN),
        # flat lag (keeping pace, but behind): not growing, OK
        (hist((9, 0, 10), (6, 10, 20), (3, 20, 30), (0, 30, 40)), 1, Status.OK),
        # grew, then fell once: not monotonic, OK
        (hist((9, 0, 10), (6, 0, 20), (3, 25, 30), (0, 25, 40)), 1, Status.OK),
        # lag was 0 inside the window: the consumer was caught up recently, OK
        (hist((9, 10, 10), (6, 10, 20), (3, 12, 30), (0, 15, 40)), 1, Status.OK),
        # only two points in the window: fewer than min_points, no WARN yet
        (hist((3, 0, 10), (0, 5, 20)), 1, Status.OK),
    ],
)
def test_warn(history, members, expected):
    assert partition_status(history, NOW, W, members) is expected


@pytest.mark.parametrize(
    "history, members, expected",
    [
        # committed unchanged for a whole window with lag, group has members: STALL
        (hist((11, 5, 10), (5, 5, 15), (0, 5, 20)), 2, Status.STALL),
        # same, but the group has no members: STOP
        (hist((11, 5, 10), (5, 5, 15), (0, 5, 20)), 0, Status.STOP),
        # same, membership unknown (broker cannot describe groups): no evidence of life, STOP
        (hist((11, 5, 10), (5, 5, 15), (0, 5, 20)), None, Status.STOP),
        # unchanged but observed for less than a window: not provable yet (lag grows: WARN)
        (hist((8, 5, 10), (4, 5, 15), (0, 5, 20)), 2, Status.WARN),
        # unchanged with constant lag on an idle topic for a whole window: still stuck, STOP
        (hist((10, 5, 9), (0, 5, 9)), 0, Status.STOP),
        # moved once inside the window: alive, not stalled
        (hist((11, 5, 10), (5, 6, 15), (0, 6, 15)), 1, Status.OK),
    ],
)
def test_stall_and_stop(history, members, expected):
    assert partition_status(history, NOW, W, members) is expected


@pytest.mark.parametrize(
    "history, expected",
    [
        (hist((6, 50, 60), (3, 20, 60), (0, 25, 60)), Status.REWIND),  # offset reset backwards
        (hist((6, 20, 60), (3, 20, 60), (0, 25, 60)), Status.OK),  # forward only: no rewind
        (hist((6, 50, 60), (3, 20, 20), (0, 20, 20)), Status.OK),  # rewound but caught up: lag 0 wins
    ],
)
def test_rewind(history, expected):
    assert partition_status(history, NOW, W, 1) is expected


@pytest.mark.parametrize(
    "history, expected",
    [
        (hist((3, 5, 10), (0, 5, None)), Status.ERR),  # end offset unreadable now: ERR
        (hist((3, 5, None), (0, 10, 10)), Status.OK),  # unreadable earlier, fine now: OK
    ],
)
def test_err(history, expected):
    assert partition_status(history, NOW, W, 1) is expected


@pytest.mark.parametrize(
    "statuses, expected",
    [
        ([Status.OK, Status.WARN, Status.OK], Status.WARN),  # the group takes its worst partition
        ([Status.STALL, Status.STOP, Status.ERR], Status.ERR),  # ERR is the worst
        ([None, Status.OK], Status.OK),  # unknown partitions do not count
        ([None, None], None),  # nothing known: group status unknown
        ([], None),  # no partitions at all
    ],
)
def test_group_status(statuses, expected):
    assert group_status(statuses) is expected


@pytest.mark.parametrize(
    "offsets_s_before_now, expected_kept",
    [
        ([20, 15, 9, 3], [15, 9, 3]),  # the newest point before the window start is kept as anchor
        ([10, 5, 0], [10, 5, 0]),  # a point exactly at the window start is the anchor
        ([9, 5, 0], [9, 5, 0]),  # all inside: nothing dropped
        ([30, 20], [20]),  # all older: only the newest survives (the anchor)
        ([], []),  # empty stays empty
    ],
)
def test_trim(offsets_s_before_now, expected_kept):
    h = hist(*[(s, 0, 0) for s in offsets_s_before_now])
    kept = trim(h, NOW, W)
    assert [int((NOW - o.ts_ms) / 1000) for o in kept] == expected_kept
