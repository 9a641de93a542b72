"""/metrics of the collector service: scraped over HTTP from a seeded store, parsed with prometheus_client's
parsers (text format and OpenMetrics); every value equals the store's latest, stale series are left out."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from core import metrics
from core.clock import now_ms
from runner.prometheus import exposed, serve
from store import db, queries, status
from store.types import Sample
from store.writes import SampleWriter
from tests.conftest import store_settings

ROOT = Path(__file__).resolve().parents[2]
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _seed(path: Path, now: int) -> None:
    conn = db.connect_writer(path)
    w = SampleWriter(conn)
    samples = []
    for p in range(3):
        lab = {"cluster": "prod", "group": "orders", "topic": "orders", "partition": str(p)}
        samples += [Sample("kafka_group_lag_messages", lab, now, 10.0 * (p + 1)),
                    Sample("kafka_group_lag_seconds", lab, now, 1.5 * p)]
    samples += [
        Sample("kafka_group_total_lag_messages", {"cluster": "prod", "group": "orders"}, now, 60.0),
        Sample("kafka_group_max_lag_seconds", {"cluster": "prod", "group": "orders"}, now, 3.0),
        Sample("kafka_group_status", {"cluster": "prod", "group": "orders"}, now, 1.0),
        Sample("rabbitmq_queue_ready_messages", {"cluster": "r", "vhost": "/", "queue": 'q "x"\\n'}, now, 7.0),
        Sample("rabbitmq_queue_unacked_messages", {"cluster": "r", "vhost": "/", "queue": 'q "x"\\n'}, now, 2.0),
        Sample("rabbitmq_queue_consumers", {"cluster": "r", "vhost": "/", "queue": 'q "x"\\n'}, now, 4.0),
        Sample("dlq_messages", {"broker": "kafka", "cluster": "prod", "dlq": "orders.DLT"}, now, 12.0),
        Sample("dlq_inflow_rate_per_s", {"broker": "kafka", "cluster": "prod", "dlq": "orders.DLT"}, now, 0.25),
        Sample("consumer_error_rate_ratio", {"cluster": "prod", "broker": "kafka", "consumer": "c"}, now, 0.125),
        Sample("consumer_errors_total", {"cluster": "prod", "broker": "kafka", "consumer": "c", "exception": "E"},
               now, 42.0),
        *[Sample("consumer_processing_seconds", {"cluster": "prod", "broker": "kafka", "consumer": "c", "quantile": q},
                 now, v) for q, v in (("0.5", 0.01), ("0.95", 0.2), ("0.99", 1.5))],
        Sample("dlq_messages", {"broker": "kafka", "cluster": "old", "dlq": "gone"}, now - 3_600_000, 5.0),  # stale
    ]
    w.write(samples)
    status.set_status(conn, "kafka:prod", True, None, now)
    conn.close()


def _expected(path: Path, since: int) -> dict[tuple[str, frozenset], float]:
    conn = db.connect_reader(path)
    out = {}
    for metric in queries.metrics(conn)["metric"]:
        df = queries.latest(conn, metric)
        for rec in df.to_dict("records"):
            if rec["ts_ms"] < since:
                continue
            labels = {k: v for k, v in rec.items() if k not in ("series_id", "ts_ms", "value") and isinstance(v, str)}
            name, labs = exposed(metric, labels)
            out[(name, frozenset(labs.items()))] = rec["value"]
    conn.close()
    return out


def _scraped(families) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples
            if not s.name.startswith("eventdeck_kafka_consumergroup_group_max_lag") or "seconds" in s.name}


def test_scrape_equals_latest_in_both_formats(tmp_store):
    now = now_ms()
    _seed(tmp_store, now)
    exp = serve("127.0.0.1", 0, lambda: db.connect_reader(tmp_store), lambda: now, 900_000)
    try:
        url = f"http://127.0.0.1:{exp.port}/metrics"
        text = requests.get(url, timeout=10)
        om = requests.get(url, headers={"Accept": OPENMETRICS}, timeout=10)
    finally:
        exp.close()
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    expected = _expected(tmp_store, now - 900_000)
    assert len(expected) == 20  # 19 samples + collector_up, without the stale one
    text_fams = list(parse_text(text.text))
    om_fams = list(parse_openmetrics(om.text))
    assert _scraped(text_fams) == expected
    assert _scraped(om_fams) == expected
    om_types = {f.name: f.type for f in om_fams}
    assert om_types["eventdeck_consumer_errors"] == "counter" and om_types["eventdeck_dlq_messages"] == "gauge"
    # kafka-lag-exporter's max lag (messages) per group, derived from the partitions
    max_lag = [s for f in text_fams for s in f.samples if s.name == "eventdeck_kafka_consumergroup_group_max_lag"]
    assert [(s.labels, s.value) for s in max_lag] == [({"cluster_name": "prod", "group": "orders"}, 30.0)]
    assert not any(s.labels.get("cluster") == "old" for f in text_fams for s in f.samples)
    # every family's HELP is its catalogue entry's (never the bare name), the derived max lag its own
    helps = {m.exposed.removesuffix("_total") if m.kind == "counter" else m.exposed: m.help
             for m in metrics.CATALOGUE.values()}
    for fam in text_fams:
        if fam.name != "eventdeck_kafka_consumergroup_group_max_lag":
            assert fam.documentation == helps[fam.name], fam.name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape_until(url: str, deadline_s: float) -> str:
    end = time.monotonic() + deadline_s
    while True:
        try:
            r = requests.get(url, timeout=5)
            if r.status_code == 200:
                return r.text
        except requests.ConnectionError:
            if time.monotonic() > end:
                raise
        time.sleep(0.2)


def test_collector_service_serves_metrics_and_stops(tmp_path, tmp_store):
    now = now_ms()
    _seed(tmp_store, now)
    port = _free_port()
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump({"store": store_settings(tmp_store), "prometheus": {"port": port}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTDECK_")}
    proc = subprocess.Popen([sys.executable, "-m", "collectors", "--config", str(cfg)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = _scrape_until(f"http://127.0.0.1:{port}/metrics", 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"serving Prometheus /metrics on http://127.0.0.1:{port}/metrics" in out
    assert _scraped(parse_text(body)) == _expected(tmp_store, now_ms() - 900_000)


def test_disabled_exporter_serves_nothing(tmp_store):
    from config import Settings
    from runner.prometheus import serve_settings

    assert serve_settings(Settings(prometheus={"enabled": False}), tmp_store) is None


def test_scrape_from_service_settings_on_both_backends(any_store):
    """The same exposition from either store backend as the service serves it (on PostgreSQL, readers lent by a
    psycopg-pool pool), several scrapes."""
    from config import Settings
    from runner.prometheus import serve_settings

    now = now_ms()
    _seed(any_store, now)
    exp = serve_settings(Settings(prometheus={"port": 0}), any_store)
    try:
        bodies = [requests.get(f"http://127.0.0.1:{exp.port}/metrics", timeout=10).text for _ in range(3)]
    finally:
        exp.close()
    expected = _expected(any_store, now_ms() - 900_000)
    assert all(_scraped(parse_text(b)) == expected for b in bodies) and len(expected) == 20
