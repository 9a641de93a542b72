"""/metrics scrape time and size at 2,000 and 20,000 series (a realistic mix: Kafka partitions, RabbitMQ
queues, consumer quantiles), over HTTP from the real exporter, text format and OpenMetrics."""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from core.clock import now_ms
from runner.prometheus import serve
from store import db
from store.types import Sample
from store.writes import SampleWriter

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _samples(n: int, now: int) -> list[Sample]:
    out: list[Sample] = []
    i = 0
    while len(out) < n:
        g, p = divmod(i, 12)
        part = {"cluster": "prod", "group": f"group-{g}", "topic": f"topic-{g % 50}", "partition": str(p)}
        out += [Sample("kafka_group_lag_messages", part, now, float(i)),
                Sample("kafka_group_lag_seconds", part, now, i / 10),
                Sample("kafka_group_partition_status", part, now, float(i % 6)),
                Sample("rabbitmq_queue_ready_messages", {"cluster": "r", "vhost": "/", "queue": f"q-{i}"}, now, 1.0),
                Sample("consumer_processing_seconds", {"cluster": "prod", "broker": "kafka", "consumer": f"c-{i}",
                                                       "quantile": "0.99"}, now, 0.5)]
        i += 1
    return out[:n]


def run(n: int, repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        conn = db.open_migrated(path)
        now = now_ms()
        SampleWriter(conn).write(_samples(n, now))
        conn.close()
        exp = serve("127.0.0.1", 0, lambda: db.connect_reader(path), lambda: now, 900_000)
        try:
            url = f"http://127.0.0.1:{exp.port}/metrics"
            for label, headers in (("text", {}), ("openmetrics", {"Accept": OPENMETRICS})):
                times, size = [], 0
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    r = requests.get(url, headers=headers, timeout=60)
                    times.append(time.perf_counter() - t0)
                    size = len(r.content)
                med = statistics.median(times)
                print(f"{n:>6} series {label:>11}: scrape {med * 1000:7.1f} ms (median of {repeats}), "
                      f"{size / 1024:8.1f} KiB, {size / n:5.1f} B/series, {n / med:9.0f} series/s", flush=True)
        finally:
            exp.close()


def main(argv: list[str]) -> int:
    for n in (2_000, 20_000):
        run(n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
