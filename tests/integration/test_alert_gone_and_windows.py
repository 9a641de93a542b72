"""Alerts of gone entities resolve as gone; dlq-growing evaluates growth over a window and keeps firing
between bursts (keep_firing_for). Real store of each backend, injected clock."""
from __future__ import annotations

import pytest

from alerts import api
from alerts.evaluator import GONE_PREFIX, Options, evaluate
from store import alerts as store_alerts
from store.db import open_migrated
from store.status import set_status
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_800_000_000_000
S = 1_000
IV = 15 * S
OPTS = Options(repeat_interval_s=3600, targets={}, dashboard_url="http://127.0.0.1:8501")
DLQ = {"broker": "kafka", "cluster": "c1", "dlq": "shop.payment.dlq"}


@pytest.fixture
def conn(any_store):
    c = open_migrated(any_store)
    yield c
    c.close()


def states(conn, rule):
    return {r["group_key"]: r for r in store_alerts.read_states(conn, rule)}


def cycle(conn, ts, samples):
    SampleWriter(conn).write(samples)
    set_status(conn, "kafka:c1", True, None, ts, 5, IV)


def test_deleted_group_alert_resolves_as_gone_not_held(conn):
    api.seed_builtin(conn, T0)
    stopped, other = {"cluster": "c1", "group": "old"}, {"cluster": "c1", "group": "live"}
    ts = T0
    for i in range(4):  # STOP for 45 s: fires (for 30 s)
        ts = T0 + i * IV
        cycle(conn, ts, [Sample("kafka_group_status", stopped, ts, 4.0), Sample("kafka_group_status", other, ts, 0.0)])
        evaluate(conn, ts, OPTS)
    (key,) = [k for k, r in states(conn, "kafka-group-stalled").items() if r["labels"]["group"] == "old"]
    assert states(conn, "kafka-group-stalled")[key]["state"] == "firing"
    ts += IV  # the group is deleted: the next successful cycle no longer has it
    cycle(conn, ts, [Sample("kafka_group_status", other, ts, 0.0)])
    evaluate(conn, ts, OPTS)
    row = states(conn, "kafka-group-stalled")[key]
    assert row["state"] == "resolved" and row["summary"].startswith(GONE_PREFIX), row
    assert "group=old" in row["summary"]
    ev = [(t["event"], t["to_state"]) for t in store_alerts.read_transitions(conn, rule="kafka-group-stalled")]
    assert ev[0] == ("resolved", "resolved")
    for _ in range(3):  # and stays resolved, without a new transition
        ts += IV
        cycle(conn, ts, [Sample("kafka_group_status", other, ts, 0.0)])
        evaluate(conn, ts, OPTS)
    assert states(conn, "kafka-group-stalled")[key]["state"] == "resolved"
    assert len(store_alerts.read_transitions(conn, rule="kafka-group-stalled")) == len(ev)


def test_down_collector_holds_the_alert(conn):
    """A failed cycle is not a successful one without the group: the alert holds (no data), not gone."""
    api.seed_builtin(conn, T0)
    grp = {"cluster": "c1", "group": "g"}
    for i in range(4):
        ts = T0 + i * IV
        cycle(conn, ts, [Sample("kafka_group_status", grp, ts, 4.0)])
        evaluate(conn, ts, OPTS)
    for i in range(4, 30):  # 6.5 min down: the series goes stale (300 s), the alert holds
        ts = T0 + i * IV
        set_status(conn, "kafka:c1", False, "NoBrokersAvailable", ts, 5, IV)
        evaluate(conn, ts, OPTS)
    (row,) = states(conn, "kafka-group-stalled").values()
    assert row["state"] == "firing" and not row["summary"].startswith(GONE_PREFIX)


def bursty_depths(n_cycles: int, every: int = 12, burst: int = 40) -> list[float]:
    """A DLQ that receives a burst of messages every ``every`` cycles and nothing in between."""
    depth, out = 180.0, []
    for i in range(n_cycles):
        if i % every == 1:
            depth += burst
        out.append(depth)
    return out


def test_bursty_dlq_fires_dlq_growing_and_keeps_firing_between_bursts(conn):
    api.seed_builtin(conn, T0)
    depths = bursty_depths(100, every=12)  # 25 min at 15 s, a burst every 3 min
    seen = []
    for i, d in enumerate(depths):
        ts = T0 + i * IV
        cycle(conn, ts, [Sample("dlq_messages", DLQ, ts, d)])
        evaluate(conn, ts, OPTS)
        rows = list(states(conn, "dlq-growing").values())
        seen.append(rows[0]["state"] if rows else "inactive")
    first = seen.index("firing")
    assert first * IV <= 90 * S  # growth seen at the first burst; fires after for_s (60 s)
    assert set(seen[first:]) == {"firing"}  # never resolves between bursts
    fired = [t for t in store_alerts.read_transitions(conn, rule="dlq-growing") if t["event"] == "firing"]
    assert len(fired) == 1


def test_the_old_rule_shape_never_fired_on_the_same_dlq():
    """Why the rule changed: 'inflow > 0 for 300 s' on a per-cycle inflow is reset by every quiet cycle."""
    depths = bursty_depths(100, every=12)
    inflow = [max(0.0, b - a) for a, b in zip(depths, depths[1:])]
    run = longest = 0
    for v in inflow:
        run = run + 1 if v > 0 else 0
        longest = max(longest, run)
    assert longest * IV < 300 * S


def test_dlq_growing_resolves_after_growth_stops_and_keep_firing_for(conn):
    api.seed_builtin(conn, T0)
    ts, depth = T0, 10.0
    for i in range(10):  # grows for 150 s: fires
        ts = T0 + i * IV
        depth += 5
        cycle(conn, ts, [Sample("dlq_messages", DLQ, ts, depth)])
        evaluate(conn, ts, OPTS)
    assert [r["state"] for r in states(conn, "dlq-growing").values()] == ["firing"]
    resolved_at = None
    for i in range(10, 80):  # flat: no increase after 300 s, then held 300 s more
        ts = T0 + i * IV
        cycle(conn, ts, [Sample("dlq_messages", DLQ, ts, depth)])
        evaluate(conn, ts, OPTS)
        if resolved_at is None and [r["state"] for r in states(conn, "dlq-growing").values()] == ["resolved"]:
            resolved_at = ts
    last_growth = T0 + 9 * IV
    assert resolved_at is not None
    assert last_growth + 600 * S <= resolved_at <= last_growth + 600 * S + 2 * IV
