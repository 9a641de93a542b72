"""Search across a whole DLQ and export on real brokers (noida, Tansu; RabbitMQ) and both store backends:
a needle among 50,000 messages is found within the scan limits with progress; a tighter limit says where it
stopped; an export (JSON Lines, CSV; through the CLI too) round-trips bytes, headers and timestamps, is
audited, and is refused where the cluster disables it."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest
import yaml
from kafka import KafkaProducer

from config import Settings
from dlq import search as se
from dlq import search_api
from store import audit
from store.db import connect_reader, connect_writer
from tests.integration.dlq_helpers import Topology, make_topics, settings_for, spring, uid

ROOT = Path(__file__).resolve().parents[2]
HAY = 50_000


@pytest.fixture(scope="module")
def haystack(kafka):
    """A DLQ of 50,000 records over 2 partitions (one record per batch: Tansu counts batches as offsets),
    one of them the needle; made once per broker."""
    dlq = f"big-{uid()}.DLT"
    make_topics(kafka.bootstrap, {dlq: 2})
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap, batch_size=1, linger_ms=0, acks=1,
                      max_in_flight_requests_per_connection=5)
    try:
        for i in range(HAY):
            needle = i == 31_337
            p.send(dlq, key=f"k{i}".encode(), value=b"needle-4711" if needle else b"hay %d" % i, partition=i % 2,
                   headers=spring("orders", 0, i, exc=b"org.acme.Needle" if needle else b"org.acme.Hay"))
        p.flush(timeout=300)
    finally:
        p.close()
    return dlq


def test_needle_in_50000_found_within_the_scan_limits(kafka, haystack, tmp_path):
    settings = settings_for(kafka.bootstrap, tmp_path / "unused.db")
    seen: list[tuple[int, int]] = []
    res = search_api.search(settings, "kafka", "k", haystack, {"payload": "needle-4711"},
                            progress=lambda looked, total: seen.append((looked, total)))
    assert [m.key for m in res["matches"]] == [b"k31337"]
    assert (res["looked"], res["total"], res["stopped"]) == (HAY, HAY, None)
    assert len(seen) > 10 and seen[-1] == (HAY, HAY) and [s[0] for s in seen] == sorted(s[0] for s in seen)
    by_exc = search_api.search(settings, "kafka", "k", haystack, {"exception": "acme.needle", "key": "k31337"})
    assert [m.value for m in by_exc["matches"]] == [b"needle-4711"]
    tight = Settings.model_validate({**settings.model_dump(), "dlq": {**settings.dlq.model_dump(),
                                                                       "scan_max_messages": 1_000}})
    cut = search_api.search(tight, "kafka", "k", haystack, {"payload": "needle"})
    assert (cut["looked"], cut["stopped"], cut["matches"]) == (1_000, "messages", [])
    assert "dlq.scan_max_messages" in search_api.describe(cut)


@pytest.fixture
def store_at(any_store):
    w = connect_writer(any_store)
    yield any_store, w
    w.close()


def test_export_round_trips_and_is_audited(kafka, store_at, tmp_path):
    location, conn = store_at
    bs = kafka.bootstrap
    dlq = f"exp-{uid()}.DLT"
    make_topics(bs, {dlq: 1})
    odd = [("bin", bytes(range(256))), ("empty", b""), ("dup", b"1"), ("dup", b"2"), ("utf", "é ✓".encode())]
    t0 = (int(time.time()) - 60) * 1000  # recent: older records would go with the broker's retention
    sent = [(None, b"", odd, t0 + 1), (b"", b"\x00\xff", [], t0 + 2),
            (b"k,\"quoted\"\n", b"line1\nline2,\"x\"", spring("orders", 0, 9), t0 + 3)]
    p = KafkaProducer(bootstrap_servers=bs, batch_size=1, linger_ms=0, acks="all")
    try:
        for key, value, headers, ts in sent:
            p.send(dlq, key=key, value=value, headers=headers, timestamp_ms=ts, partition=0).get(30)
    finally:
        p.close()
    settings = settings_for(bs, location)
    for fmt in ("jsonl", "csv"):
        data, summary = search_api.export(settings, conn, "kafka", "k", dlq, None, fmt, actor="ann", role="operator")
        back = se.read_export(data, fmt)
        assert [(r["key"], r["value"], r["headers"], r["timestamp_ms"]) for r in back] == \
            [(k, v, h, t) for k, v, h, t in sent]
        assert summary["exported"] == 3
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump({"store": {"path": str(location)},
                                   "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [bs]}]}}))
    out = tmp_path / "picked.csv"
    run = subprocess.run([sys.executable, "-m", "eventdeck", "dlq", "--config", str(cfg), "export", "kafka", "k", dlq,
                          "--format", "csv", "--out", str(out), "--header", "kafka_dlt-original-topic=orders",
                          "--actor", "cli-ann"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert "exported 1 of 3" in run.stderr
    (row,) = se.read_export(out.read_bytes(), "csv")
    assert (row["key"], row["value"], row["timestamp_ms"]) == (sent[2][0], sent[2][1], sent[2][3])

    rows = audit.find(conn, "dlq.export", f"kafka:k:{dlq}")
    assert [(r["actor"], r["outcome"], r["detail"]["format"], r["detail"]["exported"]) for r in rows] == \
        [("cli-ann", "exported", "csv", 1), ("ann", "exported", "csv", 3), ("ann", "exported", "jsonl", 3)]

    off = settings_for(bs, location, dlq_export=False)
    for role, why in (("operator", "dlq_export"), ("viewer", "operator role")):
        with pytest.raises(search_api.ExportRefused, match=why):
            search_api.export(off if role == "operator" else settings, conn, "kafka", "k", dlq, None, "jsonl",
                              actor="vera", role=role)
    refused = [r for r in audit.find(conn, "dlq.export", f"kafka:k:{dlq}") if r["outcome"] == "refused"]
    assert len(refused) == 2


def test_rabbit_dlq_search_and_export(rabbitmq, tmp_path):
    topo = Topology(rabbitmq.amqp_url)
    try:
        dlq = topo.queue(f"eventdeck-search-{uid()}.dlq")
        for i in range(20):
            headers = {"x-first-death-queue": "orders", "x-first-death-reason": "rejected", "trace": f"t{i}"}
            topo.ch.basic_publish("", dlq, b"needle" if i == 7 else b"hay",
                                  pika.BasicProperties(headers=headers, message_id=f"m{i}", timestamp=1_700_000_000 + i))
        topo.wait_depth(dlq, 20)
        settings = Settings.model_validate({"store": {"path": str(tmp_path / "s.db")}, "rabbitmq": {"clusters": [
            {"name": "r", "management_url": rabbitmq.mgmt_url, "amqp_url": rabbitmq.amqp_url}]}})
        res = search_api.search(settings, "rabbitmq", "r", dlq, {"payload": "needle", "header": "trace=t7"})
        assert [m.key for m in res["matches"]] == [b"m7"] and res["looked"] == 20 and res["stopped"] is None
        (rec,) = [se.export_record(m) for m in res["matches"]]
        (back,) = se.read_export(se.to_jsonl([rec]), "jsonl")
        assert back["value"] == b"needle" and back["timestamp_ms"] == 1_700_000_007_000
        assert dict(back["headers"])["trace"] == "t7"
        topo.wait_depth(dlq, 20)  # searching requeues: nothing is taken away
    finally:
        topo.close()
