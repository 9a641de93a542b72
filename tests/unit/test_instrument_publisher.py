"""Publisher buffering: bounded, drops oldest and counts, never raises into the caller."""
from __future__ import annotations

import pytest

from instrument.publisher import TelemetryPublisher
from instrument.summary import decode_summary
from instrument.timing import Recorder


class FlakyTransport:
    """Stands in for a broker client: ``up`` decides whether sends succeed."""

    def __init__(self) -> None:
        self.up = True
        self.sent: list[tuple[str, bytes]] = []
        self.closed = 0

    def send(self, payload: bytes, key: str) -> None:
        if not self.up:
            raise ConnectionError("broker down")
        self.sent.append((key, payload))

    def close(self) -> None:
        self.closed += 1


def test_each_tick_sends_one_summary_per_recorder():
    t = FlakyTransport()
    recs = [Recorder("payment", "kafka"), Recorder("inventory", "kafka")]
    recs[0].record(0.01)
    pub = TelemetryPublisher(t, recs, interval_s=1)
    pub.tick()
    assert [k for k, _ in t.sent] == ["payment", "inventory"]
    assert decode_summary(t.sent[0][1]).count == 1 and pub.sent == 2


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_broker_down_buffers_then_drops_oldest_and_reports_it():
    t, clock = FlakyTransport(), Clock()
    rec = Recorder("payment", "kafka")
    pub = TelemetryPublisher(t, [rec], interval_s=1, buffer_size=3, clock=clock)
    t.up = False
    for i in range(5):
        rec.record(0.001 * (i + 1))
        pub.tick()  # never raises
        clock.t += 1
    assert (pub.buffered, pub.dropped) == (3, 2)
    t.up = True
    pub.tick(force=True)
    sent = [decode_summary(p) for _, p in t.sent]
    # the buffer was full, so this tick's summary pushed out one more: three windows lost in all,
    # and the newest summary reports them
    assert [s.count for s in sent] == [1, 1, 0] and sent[-1].dropped == 3
    assert (pub.buffered, pub.dropped) == (0, 3)


def test_failed_sends_back_off_exponentially_up_to_the_maximum():
    t, clock = FlakyTransport(), Clock()
    pub = TelemetryPublisher(t, [Recorder("payment", "kafka")], interval_s=1, buffer_size=1000,
                             max_backoff_s=4, clock=clock)
    t.up = False
    attempts = []
    for second in range(20):  # one tick per interval
        before = pub.send_errors
        pub.tick()
        if pub.send_errors > before:
            attempts.append(second)
        clock.t += 1
    # waits of 1, 2, 4 intervals, then capped at 4 s
    assert attempts[:6] == [0, 1, 3, 7, 11, 15]
    t.up = True
    clock.t += 4
    pub.tick()
    assert pub.buffered == 0 and pub.sent == 21


def test_background_thread_publishes_and_stop_flushes():
    t = FlakyTransport()
    rec = Recorder("payment", "kafka")
    pub = TelemetryPublisher(t, [rec], interval_s=0.05).start()
    rec.record(0.002)
    pub.stop()
    assert sum(decode_summary(p).count for _, p in t.sent) == 1
    assert t.closed == 1


@pytest.mark.parametrize("kwargs", [
    {"interval_s": 0},      # would spin
    {"buffer_size": 0},     # nowhere to keep a summary
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TelemetryPublisher(FlakyTransport(), [], **kwargs)
