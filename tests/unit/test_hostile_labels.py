"""Issue #23 (a): label values a decoder accepted survive the store write, the queries, /metrics and the
telemetry counters on both backends — made safe at the one label write path, one bad series skipped and
counted, readers never failing on what was stored."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
from prometheus_client.exposition import generate_latest

from collectors.telemetry import telemetry_job
from collectors.telemetry_samples import Counters, isolated_tick_samples, tick_samples
from config.telemetry import TelemetryConfig
from core.names import LABEL_VALUE_MAX, safe_label_value
from core.rejects import METRIC as REJECTED
from instrument.sketch import new_sketch
from instrument.summary import Summary, encode_summary
from runner import prometheus
from store import db, queries
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_800_000_000_000
LAG = "kafka_group_lag_messages"


def _rejects(conn) -> dict[tuple[str, str], float]:
    df = queries.latest(conn, REJECTED)
    return {(r["source"], r["reason"]): r["value"] for r in df.to_dict("records")}


@pytest.mark.parametrize("raw, safe", [
    ("plain", "plain"),
    ("a\ud800b", "a\ufffdb"),                 # lone high surrogate
    ("\udfff", "\ufffd"),                     # lone low surrogate
    ("\ud83d\ude00", "\U0001F600"),           # a valid pair, as two code units, is joined
    ("x\x00y\x00", "xy"),                     # NUL removed (PostgreSQL text refuses it)
    ("\u202egnp.exe", "\u202egnp.exe"),       # RTL override: storable, kept (pages escape it)
    ("é" * 300, "é" * LABEL_VALUE_MAX),       # length capped
])
def test_safe_label_value_table(raw, safe):
    assert safe_label_value(raw) == safe
    safe.encode("utf-8")  # always encodable


def test_unsafe_label_values_are_stored_safely_and_counted(store):
    w, r = store
    sw = SampleWriter(w)
    batch = [Sample(LAG, {"cluster": "c", "group": "ok", "topic": "t"}, T0, 1.0),
             Sample(LAG, {"cluster": "c", "group": "g\ud800", "topic": "t"}, T0, 2.0),
             Sample(LAG, {"cluster": "c\x00", "group": "nul\x00", "topic": "t"}, T0, 3.0),
             Sample(LAG, {"cluster": "c", "group": "L" * 5000, "topic": "t"}, T0, 4.0)]
    assert sw.write(batch) == 4  # the whole tick is written
    got = queries.latest(r, LAG).set_index("group")["value"].to_dict()
    assert got == {"ok": 1.0, "g\ufffd": 2.0, "nul": 3.0, "L" * LABEL_VALUE_MAX: 4.0}
    assert queries.latest(r, LAG)["cluster"].tolist().count("c") == 4
    assert _rejects(r) == {("store", "unsafe_label"): 3.0}
    # the next tick of the same series hits the cache: written to the same series, counted again
    assert sw.write([Sample(LAG, {"cluster": "c", "group": "g\ud800", "topic": "t"}, T0 + 15_000, 5.0)]) == 1
    assert queries.latest(r, LAG, {"group": "g\ufffd"})["value"].tolist() == [5.0]
    assert len(queries.latest(r, LAG)) == 4


def test_one_bad_series_is_skipped_and_the_rest_of_the_tick_written(store):
    w, r = store
    batch = [Sample(LAG, {"cluster": "c", "group": "ok", "topic": "t"}, T0, 1.0),
             Sample(LAG, {"cluster": "c", "bad label": "x"}, T0, 2.0),           # label name
             Sample(LAG, {"cluster": "c", "group": 7}, T0, 3.0),                 # not a str
             Sample(LAG, {"cluster": "c", "group": ["unhashable"]}, T0, 4.0),    # not hashable
             Sample("Not A Metric", {"cluster": "c"}, T0, 5.0),                  # metric name
             Sample(LAG, {"cluster": "c", "group": "ok2", "topic": "t"}, T0, 6.0)]
    assert SampleWriter(w).write(batch) == 2
    assert sorted(queries.latest(r, LAG)["group"]) == ["ok", "ok2"]
    assert _rejects(r) == {("store", "bad_series"): 4.0}


def test_readers_do_not_fail_on_unsafe_rows_written_before_the_fix(store):
    """A series row holding an escaped lone surrogate / NUL (an older writer): queries, /metrics, and the
    telemetry counters still read it, made safe."""
    w, r = store
    SampleWriter(w).write([Sample("consumer_errors_total", {"cluster": "c", "broker": "kafka", "consumer": "ok",
                                                            "exception": "E"}, T0, 1.0)])
    bad = json.dumps({"broker": "kafka", "cluster": "c", "consumer": "bad\ud800\x00", "exception": "E\udc00"},
                     sort_keys=True, separators=(",", ":"))
    with db.transaction(w):
        sid = w.execute("INSERT INTO series (metric, labels, source, cluster, entity) VALUES (?, ?, ?, ?, ?) "
                        "RETURNING id", ("consumer_errors_total", bad, "consumer", "c", "bad")).fetchone()[0]
        w.execute("INSERT INTO latest (series_id, ts_ms, value) VALUES (?, ?, ?)", (sid, T0, 2.0))
    df = queries.latest(r, "consumer_errors_total")
    assert sorted(df["consumer"]) == ["bad\ufffd", "ok"]
    pa.Table.from_pandas(df)  # what st.dataframe does: Arrow must take it
    text = generate_latest(prometheus.registry(lambda: r_reader(r), lambda: T0, 0)).decode()
    assert 'consumer="bad\ufffd"' in text and 'exception="E\ufffd"' in text


def r_reader(conn):
    """A reader the exporter may close: a thin wrapper that ignores close (the fixture closes the real one)."""
    class Keep:
        def __getattr__(self, name):
            return getattr(conn, name)

        def close(self):
            pass
    return Keep()


def test_metrics_exposes_rejected_inputs_once_prefixed_with_a_real_help_text():
    fams = prometheus.families([(REJECTED, json.dumps({"source": "store", "reason": "unsafe_label"}), T0, 3.0)])
    assert [f.name for f in fams] == ["eventdeck_rejected_inputs"]
    assert fams[0].samples[0].name == "eventdeck_rejected_inputs_total"
    assert "eventdeck_rejected_inputs" not in fams[0].documentation and "skipped" in fams[0].documentation


def test_metrics_leaves_out_one_broken_row_not_the_scrape():
    q = "rabbitmq_queue_ready_messages"
    fams = prometheus.families([(q, "{not json", T0, 1.0), (q, json.dumps({"queue": "q\ud800"}), T0, 2.0)])
    (fam,) = fams
    assert [s.labels for s in fam.samples] == [{"queue": "q\ufffd"}]


# --- telemetry: counters resume per cluster, keyed by consumer, consumers capped ----------------------

def _summary(consumer, instance="i1", dropped=0, errors=None, end=T0) -> Summary:
    sk = new_sketch(0.01)
    for _ in range(10):
        sk.add(0.01)
    return Summary(consumer, instance, "kafka", "", end - 10_000, end, sk, dict(errors or {}), dropped)


def test_dropped_counters_are_keyed_by_consumer_and_instance():
    c = Counters()
    tick_samples([_summary("a", "pod-1", dropped=5), _summary("b", "pod-1", dropped=7)], "c", T0, c)
    out = tick_samples([_summary("a", "pod-1", dropped=6), _summary("b", "pod-1", dropped=7)], "c", T0 + 1, c)
    dropped = {s.labels["consumer"]: s.value for s in out if s.metric == "consumer_telemetry_dropped_total"}
    assert dropped == {"a": 6.0, "b": 7.0}  # keyed by instance only, b's 7 would count as a new 7 for a


def test_new_consumers_beyond_the_cap_are_skipped_and_counted():
    c, rejected = Counters(), []
    out = isolated_tick_samples([_summary(f"c{i}") for i in range(5)], "c", T0, c,
                                lambda s, exc: rejected.append((s.consumer, type(exc).__name__)), max_consumers=3)
    assert sorted({s.labels["consumer"] for s in out}) == ["c0", "c1", "c2"]
    assert rejected == [("c3", "TooManyConsumers"), ("c4", "TooManyConsumers")]
    out = isolated_tick_samples([_summary("c1"), _summary("c9")], "c", T0 + 1, c,
                                lambda s, exc: rejected.append((s.consumer, type(exc).__name__)), max_consumers=3)
    assert {s.labels["consumer"] for s in out} == {"c1"}  # a known consumer still goes on


class Source:
    def __init__(self, batches):
        self.batches = batches

    def fetch(self):
        return self.batches.pop(0) if self.batches else []

    def commit(self):
        pass

    def close(self):
        pass


def test_surrogate_consumer_and_exception_do_not_stop_telemetry_of_any_cluster(any_store):
    """The severe case: a surrogate in a consumer / exception name was stored raw, and every later
    ``_load_counters`` (of every cluster) and the Consumers page failed. Now both clusters go on."""
    clock = [T0]
    tcfg = TelemetryConfig(interval_s=10, max_age_s=60)
    evil = encode_summary(_summary("pay\ud800ment\x00", errors={"Err\udc00": 2}))
    one = telemetry_job("kafka", "one", Source([[evil], [evil]]), any_store, tcfg, clock=lambda: clock[0])
    two = telemetry_job("kafka", "two", Source([[encode_summary(_summary("ok", errors={"E": 1}))]] * 2),
                        any_store, tcfg, clock=lambda: clock[0])
    try:
        assert one.run() is True and two.run() is True
        one.collector.reset(), two.collector.reset()  # the next tick reloads the counters from the store
        clock[0] += 10_000
        assert one.run() is True and two.run() is True
        conn = db.connect_reader(any_store)
        try:
            errors = queries.latest(conn, "consumer_errors_total")
            got = {(r["cluster"], r["consumer"], r["exception"]): r["value"] for r in errors.to_dict("records")}
            assert got == {("one", "pay\ufffdment", "Err\ufffd"): 4.0, ("two", "ok", "E"): 2.0}
            pa.Table.from_pandas(errors)
        finally:
            conn.close()
    finally:
        one.close(), two.close()
