"""Drain ETA (collectors.drain) and Burrow-style queue status (collectors.queue_status): tables of cases."""
import pytest

from collectors.drain import NOT_DRAINING_S, Point, drain_eta_s, net_drain_rate, trim
from collectors.queue_status import QueueObservation as Q, queue_status
from core.codes import Status


def line(backlogs, step_ms=10_000):
    return [Point(i * step_ms, b) for i, b in enumerate(backlogs)]


@pytest.mark.parametrize(
    "points, expected",
    [
        ([], None),
        (line([100]), None),  # one point: no rate
        (line([0]), 0.0),  # nothing to drain
        (line([50, 0]), 0.0),
        (line([300, 200, 100]), 10.0),  # 10/s net, 100 left: 10 s
        (line([300, 260, 180, 160, 100]), pytest.approx(20.0)),  # bursty: smoothed least squares
        (line([100, 100, 100]), NOT_DRAINING_S),  # stays
        (line([100, 150, 200]), NOT_DRAINING_S),  # grows
        ([Point(0, 100), Point(0, 90)], None),  # no time between points
        (line([10**9, 1]), pytest.approx(1e-8)),  # almost done
        (line([2, 1], step_ms=315_360_000_000 * 2), NOT_DRAINING_S),  # slower than "never": capped
    ],
)
def test_drain_eta(points, expected):
    assert drain_eta_s(points) == expected


def test_net_rate_and_trim():
    assert net_drain_rate(line([300, 200, 100])) == 10.0
    assert net_drain_rate(line([100, 130])) == -3.0
    assert trim(line([5, 4, 3, 2]), now_ms=30_000, window_ms=15_000) == [Point(20_000, 3), Point(30_000, 2)]


W = 30_000


def hist(*rows, step=10_000):
    """rows of (backlog, consumers, acked), one every ``step`` ms from t = 0."""
    return [Q(i * step, *r) for i, r in enumerate(rows)]


@pytest.mark.parametrize(
    "history, now_ms, expected",
    [
        ([], 0, None),
        (hist((0, 1, 0)), 0, Status.OK),  # no backlog
        (hist((5, 1, 0)), 0, None),  # one look at a backlog: unknown
        (hist((5, 0, 0), (5, 0, 0), (5, 0, 0), (5, 0, 0)), 30_000, Status.STOP),  # nobody reads
        (hist((5, 0, 0), (5, 0, 0)), 10_000, Status.OK),  # not a whole window yet
        (hist((5, 2, 7), (5, 2, 7), (5, 2, 7), (5, 2, 7)), 30_000, Status.STALL),  # attached, no acks
        (hist((5, 2, 7), (5, 2, 7), (5, 0, 7), (5, 0, 7)), 30_000, Status.STOP),  # left without acking
        (hist((5, 2, 7), (5, 2, 9), (5, 2, 12), (5, 2, 20)), 30_000, Status.OK),  # acking, keeping up
        (hist((5, 2, 7), (8, 2, 9), (12, 2, 12), (20, 2, 20)), 30_000, Status.WARN),  # growing
        (hist((5, 2, 7), (8, 2, 9), (6, 2, 12), (20, 2, 20)), 30_000, Status.OK),  # fell once
        (hist((5, 0, 0), (0, 0, 0), (5, 0, 0), (5, 0, 0)), 30_000, Status.OK),  # emptied inside the window
        (hist((5, 1, 3), (5, 1, 3), (0, 1, 3)), 20_000, Status.OK),  # drained now
    ],
)
def test_queue_status(history, now_ms, expected):
    assert queue_status(history, now_ms, W) == expected


# --- the constant-backlog short cut of net_drain_rate against the slope's sums it skips -------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _rate_by_the_sums(points):
    """Least squares written out in full (net_drain_rate without its short cut)."""
    if len(points) < 2:
        return None
    n, t0 = len(points), points[0].ts_ms
    xs = [(p.ts_ms - t0) / 1000.0 for p in points]
    ys = [float(p.backlog) for p in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    return -sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def _eta_by_the_sums(points):
    if not points:
        return None
    if points[-1].backlog <= 0:
        return 0.0
    rate = _rate_by_the_sums(points)
    if rate is None:
        return None
    return NOT_DRAINING_S if rate <= 0 else min(points[-1].backlog / rate, NOT_DRAINING_S)


_backlogs = st.one_of(st.integers(0, 2**53 // 16), st.floats(0, 1e15, allow_nan=False), st.sampled_from([0.1, 1e300]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**7), max_size=16), _backlogs, st.lists(_backlogs, max_size=16), st.booleans())
def test_net_rate_short_cut_equals_the_sums(times, constant, varied, stays):
    backlogs = [constant] * len(times) if stays else (varied + [constant] * len(times))[:len(times)]
    points = [Point(t, b) for t, b in zip(sorted(times), backlogs)]
    assert net_drain_rate(points) == _rate_by_the_sums(points)  # 0.0 == -0.0: the sign of no slope is moot
    assert drain_eta_s(points) == _eta_by_the_sums(points)
