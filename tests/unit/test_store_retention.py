"""Retention per tier, series garbage collection, collector status and the audit log."""
from __future__ import annotations

import pandas as pd
import pytest

from store import audit, queries, status
from store.retention import apply_retention
from store.rollups import HOUR_MS, MINUTE_MS
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_780_000_000_000 // HOUR_MS * HOUR_MS
LAG = "kafka_group_lag_messages"
DAY = 24 * HOUR_MS


def counts(w, series_id):
    return {t: w.execute(f"SELECT count(*) FROM {t} WHERE series_id = ?", (series_id,)).fetchone()[0]
            for t in ("samples", "samples_recent", "rollup_1m", "rollup_1h", "latest")}


def test_each_tier_keeps_its_own_window(store):
    w, r = store
    sw = SampleWriter(w)
    # one sample every 30 min for 10 days
    for k in range(10 * 48):
        sw.write([Sample(LAG, {"cluster": "a", "group": "g"}, T0 + k * 30 * MINUTE_MS, float(k))])
    now = T0 + 10 * DAY
    deleted = apply_retention(w, now, raw_ms=2 * DAY, m1_ms=5 * DAY, h1_ms=8 * DAY)
    (sid,) = w.execute("SELECT id FROM series").fetchone()
    oldest = {t: w.execute(f"SELECT min({c}) FROM {t}").fetchone()[0]
              for t, c in (("samples", "ts_ms"), ("rollup_1m", "bucket_ms"), ("rollup_1h", "bucket_ms"))}
    assert oldest == {"samples": now - 2 * DAY, "rollup_1m": now - 5 * DAY, "rollup_1h": now - 8 * DAY}
    assert deleted["samples"] == 8 * 48 and deleted["rollup_1m"] == 5 * 48 and deleted["rollup_1h"] == 2 * 24
    assert counts(w, sid)["samples_recent"] == 0  # staged rows were flushed (and counted) first
    # a range starting before the raw cut-off is answered from a tier that still covers it
    df = queries.range_query(r, LAG, None, now - 4 * DAY, now, max_points=100_000)
    assert set(df["resolution"]) == {"1m"} and df["ts_ms"].min() == now - 4 * DAY
    df = queries.range_query(r, LAG, None, now - 7 * DAY, now, max_points=100_000)
    assert set(df["resolution"]) == {"1h"} and df["ts_ms"].min() == now - 7 * DAY


def test_writer_drops_samples_older_than_the_raw_cutoff(store):
    w, _ = store
    sw = SampleWriter(w)
    sw.write([Sample(LAG, {"cluster": "a", "group": "g"}, T0 + DAY, 1.0)])
    apply_retention(w, T0 + DAY, raw_ms=HOUR_MS, m1_ms=DAY, h1_ms=2 * DAY)
    # a late sample from before the cut-off would otherwise be counted again into kept rollups
    assert sw.write([Sample(LAG, {"cluster": "a", "group": "g"}, T0, 5.0),
                     Sample(LAG, {"cluster": "a", "group": "g"}, T0 + DAY + 1, 2.0)]) == 1


def test_cutoffs_never_move_backwards(store):
    w, _ = store
    apply_retention(w, T0 + DAY, raw_ms=HOUR_MS, m1_ms=DAY, h1_ms=2 * DAY)
    apply_retention(w, T0, raw_ms=HOUR_MS, m1_ms=DAY, h1_ms=2 * DAY)
    assert w.execute("SELECT value FROM store_meta WHERE key = 'raw_cutoff_ms'").fetchone()[0] == T0 + DAY - HOUR_MS


def test_dead_series_are_removed_and_writers_re_register_them(store):
    w, r = store
    sw = SampleWriter(w)
    sw.write([Sample(LAG, {"cluster": "a", "group": "old"}, T0, 1.0),
              Sample(LAG, {"cluster": "a", "group": "live"}, T0 + 3 * DAY, 2.0)])
    deleted = apply_retention(w, T0 + 3 * DAY, raw_ms=DAY, m1_ms=DAY, h1_ms=2 * DAY)
    assert deleted["series"] == 1 and deleted["latest"] == 1
    assert queries.latest(r, LAG)["group"].tolist() == ["live"]
    # the writer had the removed series cached: it must register it again, not write to a dead id
    sw.write([Sample(LAG, {"cluster": "a", "group": "old"}, T0 + 3 * DAY + 1, 3.0)])
    assert sorted(queries.latest(r, LAG)["group"]) == ["live", "old"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"raw_ms": 0, "m1_ms": DAY, "h1_ms": DAY}, "raw_ms"),        # zero would delete everything
    ({"raw_ms": DAY, "m1_ms": -1, "h1_ms": DAY}, "m1_ms"),        # negative window
    ({"raw_ms": DAY, "m1_ms": DAY, "h1_ms": 1.5}, "h1_ms"),       # ms must be int
])
def test_retention_argument_errors(store, kwargs, fragment):
    w, _ = store
    with pytest.raises(ValueError, match=fragment):
        apply_retention(w, T0, **kwargs)


def test_status_tracks_changes_and_writes_collector_up(store):
    w, r = store
    status.set_status(w, "kafka:a", True, None, T0, duration_ms=40)
    status.set_status(w, "kafka:a", True, None, T0 + 15_000, duration_ms=41)
    status.set_status(w, "kafka:a", False, "connection refused", T0 + 30_000)
    status.set_status(w, "rabbitmq:r", True, None, T0 + 30_000, duration_ms=5)
    df = status.read_status(r)
    assert df["target"].tolist() == ["kafka:a", "rabbitmq:r"]
    k = df.iloc[0].to_dict()
    assert pd.isna(k.pop("duration_ms"))  # a failed collection has no duration
    assert pd.isna(k.pop("interval_ms"))  # not given here (the runner gives its interval)
    assert k == {"target": "kafka:a", "up": False, "reason": "connection refused", "since_ms": T0 + 30_000,
                 "last_ms": T0 + 30_000, "last_ok_ms": T0 + 15_000}
    assert df.iloc[1]["since_ms"] == T0 + 30_000 and bool(df.iloc[1]["up"])
    up = queries.range_query(r, "collector_up", {"target": "kafka:a"}, T0, T0 + 30_000)
    assert up["value"].tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="target"):
        status.set_status(w, "", True, None, T0)


def test_audit_round_trip_newest_first(store):
    w, r = store
    first = audit.record(w, T0, "alice", "dlq.replay.requested", "kafka:a:orders.dlq", {"n": 3}, "ok")
    audit.record(w, T0 + 1, "bob", "rule.update", "lag-high", {"threshold": 10}, "refused")
    df = audit.read(r)
    assert df["actor"].tolist() == ["bob", "alice"]
    assert df.iloc[1]["detail"] == {"n": 3} and df.iloc[1]["id"] == first
    assert len(audit.read(r, limit=1)) == 1
    # a prefix filter in SQL: newer entries of other areas never crowd out the ones asked for
    for i in range(5):
        audit.record(w, T0 + 2 + i, "carol", "silence.add", f"s{i}", {}, "ok")
    assert audit.read(r, limit=1, action_prefix="dlq.")["actor"].tolist() == ["alice"]
    with pytest.raises(ValueError, match="JSON"):
        audit.record(w, T0, "alice", "x", "y", {"bad": object()}, "ok")
    with pytest.raises(ValueError, match="actor"):
        audit.record(w, T0, "", "x", "y", {}, "ok")
