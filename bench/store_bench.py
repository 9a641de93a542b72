"""Store benchmark: ingest rate vs the raw executemany ceiling, bytes per sample, query latencies.

    python -m bench.store_bench [--series 2000] [--hours 12] [--interval-s 15] [--batch 2000] [--dir DIR]

Samples arrive time-major, as collectors write them: every interval, one value per series,
in batches of --batch samples. Prints figures only; asserts nothing. The default (12 h) runs in
about 1.5 min; the issue's size, ``--hours 48`` (23 M samples), takes about 5 min on 2 cores.
"""
from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

from store import queries
from store.db import checkpoint, connect_reader, open_migrated
from store.types import Sample
from store.writes import SampleWriter

METRIC = "kafka_group_lag_messages"
HOUR_MS = 3_600_000
T0_MS = 1_780_000_000_000 // HOUR_MS * HOUR_MS


def labels_of(i: int) -> dict[str, str]:
    return {"cluster": f"c{i % 3}", "group": f"g{i}", "topic": f"t{i % 97}", "partition": str(i % 12)}


def value_of(i: int, k: int) -> float:
    return float((i * 7 + k * 13) % 1000) + math.sin(k / 50.0)


def batches(series: int, steps: int, interval_ms: int, batch: int) -> Iterator[list[Sample]]:
    """Time-major stream of Sample batches (label dicts are built fresh, as a collector would)."""
    buf: list[Sample] = []
    for k in range(steps):
        ts = T0_MS + k * interval_ms
        for i in range(series):
            buf.append(Sample(METRIC, labels_of(i), ts, value_of(i, k)))
            if len(buf) == batch:
                yield buf
                buf = []
    if buf:
        yield buf


def ingest(path: Path, series: int, steps: int, interval_ms: int, batch: int) -> tuple[int, float, float]:
    """(samples stored, wall seconds, CPU seconds) spent inside SampleWriter.write."""
    conn = open_migrated(path)
    writer = SampleWriter(conn)
    total, spent, cpu = 0, 0.0, 0.0
    for b in batches(series, steps, interval_ms, batch):
        t, c = time.perf_counter(), time.process_time()
        total += writer.write(b)
        spent += time.perf_counter() - t
        cpu += time.process_time() - c
    checkpoint(conn)  # staged rows stay staged: queries below see them as they would in production
    conn.close()
    return total, spent, cpu


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes per table from the dbstat virtual table (empty if SQLite was built without it)."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def raw_ceiling(path: Path, series: int, steps: int, interval_ms: int, batch: int) -> tuple[int, float]:
    """Plain executemany of the same (series_id, ts_ms, value) rows into a bare table without index."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE raw (series_id INTEGER, ts_ms INTEGER, value REAL)")
    total, spent, rows = 0, 0.0, []

    def flush() -> float:
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
        return time.perf_counter() - t

    for k in range(steps):
        ts = T0_MS + k * interval_ms
        for i in range(series):
            rows.append((i + 1, ts, value_of(i, k)))
            if len(rows) == batch:
                spent += flush()
                total += len(rows)
                rows = []
    if rows:
        spent += flush()
        total += len(rows)
    conn.close()
    return total, spent


def latency_ms(fn: Callable[[], pd.DataFrame], runs: int = 15) -> tuple[float, pd.DataFrame]:
    """Median wall time of ``fn`` over ``runs`` calls (after one warm-up) and its result."""
    result = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--interval-s", type=float, default=15.0)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the bench databases (default: a temp dir)")
    a = ap.parse_args(argv)
    interval_ms = int(a.interval_s * 1000)
    steps = int(a.hours * HOUR_MS // interval_ms)
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        store_path, raw_path = Path(tmp) / "store.db", Path(tmp) / "raw.db"
        print(f"store bench: {a.series} series x {a.hours:g} h at {a.interval_s:g} s = {a.series * steps:,} samples, "
              f"batches of {a.batch}, time-major")
        n, secs, cpu = ingest(store_path, a.series, steps, interval_ms, a.batch)
        rate = n / secs
        print(f"ingest (SampleWriter.write: registry, samples, latest, 1m+1h rollups): {rate:,.0f} samples/s "
              f"wall, {n / cpu:,.0f} samples/s per CPU-second ({n:,} in {secs:.1f} s)")
        rn, rsecs = raw_ceiling(raw_path, a.series, steps, interval_ms, a.batch)
        ceiling = rn / rsecs
        print(f"raw ceiling (executemany into a bare table, no index): {ceiling:,.0f} samples/s  "
              f"ratio store/ceiling = {rate / ceiling:.2f}")
        size = store_path.stat().st_size
        tables = table_bytes(store_path)
        per_table = ", ".join(f"{t} {tables.get(t, 0) / n:.1f}" for t in ("samples", "rollup_1m", "rollup_1h"))
        print(f"on disk: {size / n:.1f} bytes/sample in total ({size / 2**20:,.0f} MiB); per table: {per_table}")

        r = connect_reader(store_path)
        staged = r.execute("SELECT count(*) FROM samples_recent").fetchone()[0]
        print(f"queries (reader connection, {staged:,} rows still staged in samples_recent):")
        end = T0_MS + (steps - 1) * interval_ms
        groups = [f"g{i}" for i in range(0, a.series, max(1, a.series // 50))][:50]
        cases = [
            ("latest snapshot of all series", lambda: queries.latest(r, METRIC)),
            ("one series over 24 h (max_points=2000)",
             lambda: queries.range_query(r, METRIC, {"group": "g7"}, end - 24 * HOUR_MS, end)),
            ("one series over 24 h, raw (max_points=10000)",
             lambda: queries.range_query(r, METRIC, {"group": "g7"}, end - 24 * HOUR_MS, end, max_points=10_000)),
            (f"{len(groups)} series over 6 h at 1-minute buckets (max_points=400)",
             lambda: queries.range_query(r, METRIC, {"group": groups}, end - 6 * HOUR_MS, end, max_points=400)),
            (f"{len(groups)} series over 48 h (max_points=2000)",
             lambda: queries.range_query(r, METRIC, {"group": groups}, end - 48 * HOUR_MS, end)),
            ("top 10 by latest value", lambda: queries.top_n(r, METRIC, 10)),
        ]
        for name, fn in cases:
            ms, df = latency_ms(fn)
            res = f", resolution {'/'.join(sorted(set(df['resolution'])))}" if "resolution" in df else ""
            print(f"  {name}: {ms:.1f} ms median ({len(df):,} rows{res})")
        r.close()
    print("targets: ingest >= 100,000 samples/s; each query <= 50 ms")


if __name__ == "__main__":
    main()
