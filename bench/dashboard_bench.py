"""Dashboard page cost on a big store: per page, the server-side time to build it (AppTest run) and the
size of the chart data it sends.

``python -m bench.dashboard_bench [--step-s 60] [--hours 24]``: writes ~2,000 series over ``hours`` at one
sample per ``step_s`` through ``store.writes`` (the collectors' path), then runs every registered page
cold (first run) and warm (median of the next runs). Targets: every page <= 1.5 s, Overview <= 0.5 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.targets import kafka_target, rabbitmq_target  # noqa: E402
from store import status  # noqa: E402
from store.db import open_migrated  # noqa: E402
from store.types import Sample  # noqa: E402
from store.writes import SampleWriter  # noqa: E402
from tests.seed import KAFKA, QUEUE_METRICS, RABBIT, seed_config  # noqa: E402

GROUPS, PARTITIONS, QUEUES, CONSUMERS, DLQS = 30, 10, 50, 20, 20
GROUP_METRICS = ("kafka_group_total_lag_messages", "kafka_group_max_lag_seconds", "kafka_group_status",
                 "kafka_group_state", "kafka_group_members", "kafka_group_consume_rate_per_s")
PART_METRICS = ("kafka_group_lag_messages", "kafka_group_lag_seconds", "kafka_group_partition_status",
                "kafka_group_committed_offset")


def series() -> list[tuple[str, dict[str, str]]]:
    """About 2,000 series shaped like the collectors' output."""
    out: list[tuple[str, dict[str, str]]] = []
    for g in range(GROUPS):
        base = {"cluster": KAFKA, "group": f"group-{g:02d}"}
        out += [(m, base) for m in GROUP_METRICS]
        out.append(("kafka_group_topic_lag_messages", {**base, "topic": f"topic-{g:02d}"}))
        out.append(("kafka_topic_produce_rate_per_s", {"cluster": KAFKA, "topic": f"topic-{g:02d}"}))
        for p in range(PARTITIONS):
            out += [(m, {**base, "topic": f"topic-{g:02d}", "partition": str(p)}) for m in PART_METRICS]
    for q in range(QUEUES):
        out += [(f"rabbitmq_queue_{m}", {"cluster": RABBIT, "vhost": "/", "queue": f"queue-{q:02d}"})
                for m in QUEUE_METRICS]
    for d in range(DLQS):
        out.append(("dlq_messages", {"broker": "rabbitmq", "cluster": RABBIT, "vhost": "/", "dlq": f"q-{d:02d}.dlq"}))
    for c in range(CONSUMERS):
        base = {"cluster": KAFKA, "broker": "kafka", "consumer": f"svc-{c:02d}"}
        out += [("consumer_processing_seconds", {**base, "quantile": q}) for q in ("0.5", "0.95", "0.99")]
        out += [(m, base) for m in ("consumer_processed_rate_per_s", "consumer_error_rate_ratio",
                                    "consumer_instances_count")]
    return out


def build(path: Path, now_ms: int, hours: float, step_s: float) -> tuple[int, int, float]:
    """Write the store; returns (series, samples, seconds)."""
    defs = series()
    ticks = int(hours * 3600 / step_s)
    rng = np.random.default_rng(7)
    level = rng.uniform(1, 1000, len(defs))
    conn = open_migrated(path)
    writer = SampleWriter(conn)
    t0 = time.perf_counter()
    written = 0
    chunk = max(1, 20_000 // len(defs))
    for start in range(0, ticks, chunk):
        batch = []
        for i in range(start, min(start + chunk, ticks)):
            ts = now_ms - (ticks - 1 - i) * int(step_s * 1000)
            vals = level * (1 + 0.3 * np.sin(i / 40 + level))
            batch += [Sample(m, labels, ts, float(v)) for (m, labels), v in zip(defs, vals)]
        written += writer.write(batch)
    status.set_status(conn, kafka_target(KAFKA), True, None, now_ms, 100)
    status.set_status(conn, rabbitmq_target(RABBIT), True, None, now_ms, 100)
    conn.close()
    return len(defs), written, time.perf_counter() - t0


def chart_bytes(at) -> int:
    """Bytes of plotly figure JSON in the page's output (what the browser receives for charts)."""
    return sum(len(e.proto.spec.encode()) for e in at.get("plotly_chart"))


def run_pages(ranges: list[str], warm_runs: int) -> bool:
    """Print each registered page's cold and warm run time per time range; True if any is over target."""
    from streamlit.testing.v1 import AppTest

    from views.registry import PAGES

    worst = False
    for window in ranges:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.selectbox(key="time_range_pick").select(window).run()
        print(f"\ntime range: {window}; warm = median of {warm_runs} reruns")
        print(f"{'page':<10} {'cold s':>8} {'warm s':>8} {'charts':>7} {'chart KiB':>10} {'target s':>9}  verdict")
        for page in PAGES:
            at.switch_page(page.path)
            t = time.perf_counter()
            at.run()
            cold = time.perf_counter() - t
            reruns = []
            for _ in range(warm_runs):
                t = time.perf_counter()
                at.run()
                reruns.append(time.perf_counter() - t)
            warm = statistics.median(reruns)
            target = 0.5 if page.default else 1.5
            ok = warm <= target and not at.exception
            worst |= not ok
            print(f"{page.title:<10} {cold:8.3f} {warm:8.3f} {len(at.get('plotly_chart')):7d} "
                  f"{chart_bytes(at) / 1024:10.1f} {target:9.1f}  {'ok' if ok else 'OVER TARGET'}"
                  + (f" (exception: {at.exception[0].value})" if at.exception else ""))
    return worst


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dashboard_bench")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--step-s", type=float, default=60.0, help="seconds between samples of a series")
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--ranges", nargs="+", default=["last 1 h", "last 24 h"], help="time-range picker choices")
    ap.add_argument("--postgres", action="store_true", help="the store in a fresh database of the machine's "
                    "PostgreSQL (store.url) instead of a SQLite file")
    args = ap.parse_args(argv)
    if args.postgres:
        from bench.postgres_bench import _drop, _pg_db

        name, url = _pg_db()
        try:
            return _run(args, url)
        finally:
            _drop(name)
    return _run(args, None)


def _run(args: argparse.Namespace, url: str | None) -> int:
    with tempfile.TemporaryDirectory(prefix="eventdeck-dash-bench-") as tmp_dir:  # the store is ~100 MiB
        tmp = Path(tmp_dir)
        store = tmp / "eventdeck.db"
        now_ms = int(time.time() * 1000)
        n_series, n_samples, secs = build(url or store, now_ms, args.hours, args.step_s)
        size = "PostgreSQL" if url else f"{store.stat().st_size / 2**20:,.0f} MiB"
        print(f"store: {n_series} series x {args.hours:g} h at {args.step_s:g} s = {n_samples:,} samples "
              f"written in {secs:.1f} s ({n_samples / secs:,.0f} samples/s), {size}")
        saved = {k: os.environ.pop(k, None) for k in ("EVENTDECK_CONFIG", "EVENTDECK_STORE__PATH")}
        config = seed_config(tmp, store)
        if url:  # the same settings with the store in PostgreSQL
            import yaml

            cfg = yaml.safe_load(config.read_text())
            cfg["store"] = {"url": url}
            config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        os.environ["EVENTDECK_CONFIG"] = str(config)
        try:
            worst = run_pages(args.ranges, args.warm_runs)
        finally:  # `python -m bench` runs the next benchmark in this process
            os.environ.update({k: v for k, v in saved.items() if v is not None})
            if saved["EVENTDECK_CONFIG"] is None:
                os.environ.pop("EVENTDECK_CONFIG", None)
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
