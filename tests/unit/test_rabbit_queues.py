"""Queue error ratios that Eventdeck's own DLQ reads cannot move, and queue histories (collectors.rabbit_queues)."""
import pytest

from collectors.rabbit_queues import QueueHistories, error_ratios
from collectors.rabbit_rates import QueueCounters, QueueRates
from collectors.rabbit_topology import DlqInfo, QueueRef
from core.codes import Status

W, D, D2, O = QueueRef("/", "work"), QueueRef("/", "work.dlq"), QueueRef("/", "shared.dlq"), QueueRef("/", "other")


def rates(consumed=0.0, inflow=0.0, reject_ratio=None):
    return QueueRates(1.0, 0.0, 0.0, consumed, 0.0, reject_ratio, inflow, consumed)


@pytest.mark.parametrize(
    "rs, dlqs, expected",
    [
        # 90 consumed, 10 dead-lettered into its own DLQ: 0.10; the DLQ has no ratio of its own
        ({W: rates(90, 0), D: rates(0, 10, reject_ratio=0.5)}, {D: DlqInfo({W})}, {W: pytest.approx(0.10)}),
        # the operator browsed the DLQ (get + requeue): its reject ratio is high, but it is a DLQ,
        # and no inflow: the source stays at 0
        ({W: rates(0, 0), D: rates(0, 0, reject_ratio=1.0)}, {D: DlqInfo({W})}, {W: 0.0}),
        # DLQ shared by two sources: inflow cannot be attributed, the reject ratio is used
        ({W: rates(90, 0, 0.2), O: rates(5, 0, None), D2: rates(0, 10)}, {D2: DlqInfo({W, O})}, {W: 0.2}),
        # no DLQ at all: reject ratio
        ({W: rates(10, 0, 0.1)}, {}, {W: 0.1}),
        # the DLQ has no rates this cycle (first poll): unknown, nothing written
        ({W: rates(90, 0, 0.3)}, {D: DlqInfo({W})}, {}),
    ],
)
def test_error_ratios(rs, dlqs, expected):
    assert error_ratios(rs, dlqs) == expected


def test_histories_give_status_and_eta_and_forget_gone_queues():
    h = QueueHistories(window_ms=20_000)
    out = [h.observe(W, QueueCounters(t, ack=10 * i), ready=100 - 10 * i, consumers=1, now_ms=t)
           for i, t in enumerate(range(0, 30_000, 10_000))]
    status, eta = out[-1]
    assert status == Status.OK
    assert eta == pytest.approx(80 / 1.0)  # 80 ready, draining 1/s
    h.keep_only(set())
    assert h.seen == {}


# --- observe against the two trims it replaced (burrow.trim for status, drain.trim for the ETA) ---------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from collectors import burrow, drain  # noqa: E402
from collectors.queue_status import QueueObservation, queue_status  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-5_000, 400_000), st.integers(0, 40), st.integers(0, 2), st.integers(0, 5)),
                max_size=40),
       st.sampled_from([1, 30_000, 60_000, 600_000]))
def test_observe_equals_trimming_the_history_twice(steps, window_ms):
    h, ref = QueueHistories(window_ms=window_ms), []
    now, acked = 1_700_000_000_000, 0
    for dt, ready, consumers, acks in steps:
        now += dt  # may step back or stand still: the history starts over then
        acked += acks
        got = h.observe(W, QueueCounters(now, ack=acked), ready=float(ready), consumers=float(consumers), now_ms=now)
        if ref and now <= ref[-1].ts_ms:
            ref.clear()
        ref.append(QueueObservation(now, float(ready), float(consumers), float(acked)))
        ref = burrow.trim(ref, now, window_ms)
        points = drain.trim([drain.Point(o.ts_ms, o.backlog) for o in ref], now, window_ms)
        assert got == (queue_status(ref, now, window_ms), drain.drain_eta_s(points))
        assert h.seen[W] == ref
