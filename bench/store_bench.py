"""Store benchmark, row format (as before chunks) vs sealed chunks, side by side in one run:
bytes per sample per table, ingest rate vs the raw executemany ceiling, query latencies, seal
throughput and its CPU share of a collection cycle, and the codec runner-up (delta + zstd).

    python -m bench.store_bench [--series 2000] [--hours 6] [--long-days 30] [--interval-s 15]
                                [--batch 2000] [--dir DIR]

The demo's metric mix, a quarter each: gauges (lag, a random walk of integers), counters (end
offsets), rates (per-second rates from counter deltas) and percentiles (DDSketch bin values).
Samples arrive time-major on the collection grid, as collectors write them: every interval one
value per series, in batches of --batch samples. Four series (one of each kind) also carry
--long-days of history before that, for the "1 series x 30 days raw" query. Both stores get the
same batches; the chunk store runs the seal job whenever sample time passes a 2 h boundary.
Prints figures only; asserts nothing. The default (2,000 series x 6 h) runs in about 1.5 min on
2 cores; the issue's size is ``--hours 48`` (about 6 min).
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import zstandard

from bench import verdict
from store import codec, queries
from store.db import checkpoint, connect_reader, open_migrated
from store.seal import seal_due
from store.types import Sample
from store.writes import SampleWriter

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
KINDS = (("kafka_group_lag_messages", "gauge"), ("kafka_topic_end_offset_messages", "counter"),
         ("rabbitmq_queue_publish_rate_per_s", "rate"), ("consumer_processing_seconds", "percentile"))
LAG = KINDS[0][0]
GAMMA = 1.01 / 0.99  # DDSketch at 1 % relative accuracy
CHUNK_ROW_BYTES = 80  # a chunk's row and index entry and page slack, measured on sample_chunks
GROUPS = (("samples (head rows, + index)", ("samples",)),
          ("samples_recent + staged_ts (staging)", ("samples_recent", "staged_ts")),
          ("sample_chunks (+ index)", ("sample_chunks", "sample_chunks_by_series")),
          ("rollup_1m", ("rollup_1m",)),
          ("rollup_1h", ("rollup_1h",)),
          ("rollup_1h_chunks (+ index)", ("rollup_1h_chunks", "rollup_1h_chunks_by_series")),
          ("series + latest", ("series", "sqlite_autoindex_series_1", "series_by_metric", "latest")))


class Mix:
    """Per-series state of the metric mix; ``step`` gives the next value of every series (numpy)."""

    def __init__(self, series: int, seed: int = 1):
        self.rng = np.random.default_rng(seed)
        self.kind = np.arange(series) % 4
        self.gauge = self.rng.integers(0, 300, series).astype(np.float64)
        self.counter = self.rng.integers(0, 10**7, series).astype(np.float64)
        self.key = np.round(np.log(0.05) / np.log(GAMMA)) + self.rng.integers(-20, 20, series)

    def step(self, interval_s: float) -> list[float]:
        n = len(self.kind)
        self.gauge = np.maximum(0.0, self.gauge + self.rng.integers(-3, 4, n))
        inc = self.rng.integers(0, 40, n).astype(np.float64)
        self.counter += inc
        self.key += self.rng.integers(-1, 2, n)
        pct = 2 * GAMMA ** self.key / (GAMMA + 1)
        return np.choose(self.kind, [self.gauge, self.counter, inc / interval_s, pct]).tolist()


def labels_of(i: int) -> dict[str, str]:
    return {"cluster": f"c{i % 3}", "group": f"g{i}", "topic": f"t{i % 97}", "partition": str(i % 12)}


def ticks(series: list[int], mix: Mix, start_ms: int, steps: int, interval_ms: int,
          batch: int) -> Iterator[tuple[int, list[Sample]]]:
    """(last ts, batch) pairs, time-major; label dicts built fresh, as a collector would."""
    buf: list[Sample] = []
    for k in range(steps):
        ts = start_ms + k * interval_ms
        values = mix.step(interval_ms / 1000)
        for i in series:
            buf.append(Sample(KINDS[i % 4][0], labels_of(i), ts, values[i]))
            if len(buf) == batch:
                yield ts, buf
                buf = []
    if buf:
        yield start_ms + (steps - 1) * interval_ms, buf


class Timed:
    """A store fed by the bench, with the time spent in writes and in sealing."""

    def __init__(self, path: Path, seal: bool):
        self.path, self.seal = path, seal
        self.conn = open_migrated(path)
        self.writer = SampleWriter(self.conn)
        self.n = self.write_s = self.write_cpu = self.seal_s = self.seal_cpu = 0.0
        self.sealed = 0
        self.next_seal = None

    def write(self, ts: int, batch: list[Sample]) -> None:
        t, c = time.perf_counter(), time.process_time()
        self.n += self.writer.write(batch)
        self.write_s += time.perf_counter() - t
        self.write_cpu += time.process_time() - c
        if self.seal and (self.next_seal is None or ts >= self.next_seal):
            self.run_seal(ts)
            self.next_seal = (ts // (2 * HOUR_MS) + 1) * 2 * HOUR_MS + 30 * 60_000

    def run_seal(self, now_ms: int) -> None:
        t, c = time.perf_counter(), time.process_time()
        self.sealed += seal_due(self.conn, now_ms).samples
        self.seal_s += time.perf_counter() - t
        self.seal_cpu += time.process_time() - c

    def close(self) -> None:
        checkpoint(self.conn)  # staged rows stay staged: queries see them as they would in production
        self.conn.close()


def raw_ceiling(path: Path, rows: list[tuple], repeat: int) -> float:
    """samples/s of a plain executemany of (series_id, ts_ms, value) batches into a bare table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE raw (series_id INTEGER, ts_ms INTEGER, value REAL)")
    spent = 0.0
    for k in range(repeat):
        batch = [(s, ts + k * 10**9, v) for s, ts, v in rows]
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?)", batch)
        conn.execute("COMMIT")
        spent += time.perf_counter() - t
    conn.close()
    return len(rows) * repeat / spent


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes per table/index from dbstat (empty if SQLite was built without it)."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def projection(path: Path, sizes: dict[str, int], series: int, interval_ms: int, raw_days: float = 90,
               h1_days: float = 730) -> str:
    """Bytes per sample of what this run sealed: every tier over the same span, and per raw sample held
    at the default retention (1-hour chunks kept h1_days / raw_days as long, the head, rows not yet
    sealed, spread over the raw window)."""
    conn = sqlite3.connect(path)
    (sealed,), (buckets, h1_bytes) = (conn.execute(f"SELECT coalesce(sum(n), 0), coalesce(sum(length(data)) + "
                                                   f"{CHUNK_ROW_BYTES} * count(*), 0) FROM {t}").fetchone()[:k]
                                      for t, k in (("sample_chunks", 1), ("rollup_1h_chunks", 2)))
    conn.close()
    if not sealed or not buckets:
        return "  (nothing sealed: no projection)"
    raw = (sizes.get("sample_chunks", 0) + sizes.get("sample_chunks_by_series", 0)) / sealed
    # few 1-hour chunks are sealed in a short run (four series' weeks): count their blobs, not pages
    h1 = h1_bytes / (buckets * HOUR_MS / interval_ms) * h1_days / raw_days
    head = sum(sizes.get(t, 0) for t in ("samples", "samples_recent", "staged_ts", "rollup_1m", "rollup_1h"))
    head /= series * raw_days * DAY_MS / interval_ms
    return (f"  sealed data, every tier over the same span: {raw + h1 * raw_days / h1_days:.2f} B/sample "
            f"(raw chunks {raw:.2f}, 1-hour chunks {h1 * raw_days / h1_days:.3f}, 1-minute computed from raw: 0)\n"
            f"  at {raw_days:g} d raw + {h1_days:g} d 1-hour, per raw sample held: {raw + h1 + head:.2f} B "
            f"(raw chunks {raw:.2f}, 1-hour chunks {h1:.2f}, head rows {head:.2f})")


def latency_ms(fns: list[Callable[[], pd.DataFrame]], runs: int = 15) -> list[tuple[float, pd.DataFrame]]:
    """Median wall time of each function and its result; runs interleave, so a busy moment of the
    machine hits both formats alike."""
    results = [fn() for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, spent in zip(fns, times):
            t = time.perf_counter()
            fn()
            spent.append((time.perf_counter() - t) * 1000)
    return [(statistics.median(t), r) for t, r in zip(times, results)]


def zstd_delta(ts: np.ndarray, values: np.ndarray) -> int:
    """Bytes of the runner-up: delta-of-delta int64 timestamps, xor-with-previous float bits, zstd -3."""
    dd = np.diff(np.diff(ts, prepend=0), prepend=0)
    bits = values.view(np.uint64)
    xor = np.bitwise_xor(bits, np.r_[np.uint64(0), bits[:-1]])
    z = zstandard.ZstdCompressor(level=3)
    return len(z.compress(dd.astype(np.int64).tobytes())) + len(z.compress(xor.tobytes()))


def codec_table(path: Path) -> list[str]:
    """Bytes per sample of the stored chunks per kind: pcodec (as stored) vs delta + zstd."""
    conn = sqlite3.connect(path)
    kind = {sid: k for sid, k in conn.execute("SELECT id, metric FROM series")}
    acc: dict[str, list[int]] = {}
    for sid, t_start, t_end, n, data in conn.execute("SELECT series_id, t_start, t_end, n, data FROM sample_chunks "
                                                     "WHERE n >= 400 LIMIT 4000"):
        ts, values = codec.decode_samples(data, n, t_start, t_end)
        a = acc.setdefault(kind[sid], [0, 0, 0])
        a[0] += n
        a[1] += len(data)
        a[2] += zstd_delta(ts, values)
    conn.close()
    names = dict(KINDS)
    return [f"  {names[m]:<10} {p / n:6.2f} {z / n:6.2f}" for m, (n, p, z) in sorted(acc.items())]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--long-days", type=float, default=30.0, help="history of the four long series")
    ap.add_argument("--interval-s", type=float, default=15.0)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--dir", type=Path, default=None, help="where to put the bench databases (default: a temp dir)")
    a = ap.parse_args(argv)
    interval_ms = int(a.interval_s * 1000)
    steps = int(a.hours * HOUR_MS // interval_ms)
    long_steps = int(a.long_days * DAY_MS // interval_ms) - steps
    t_main = 1_780_000_000_000 // DAY_MS * DAY_MS + int(a.long_days * DAY_MS)
    t_long = t_main - long_steps * interval_ms
    end = t_main + (steps - 1) * interval_ms
    mix = Mix(a.series)
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        rows_db, chunk_db = Timed(Path(tmp) / "rows.db", seal=False), Timed(Path(tmp) / "chunks.db", seal=True)
        stores = (rows_db, chunk_db)
        print(f"store bench: {a.series} series x {a.hours:g} h at {a.interval_s:g} s + 4 series x "
              f"{a.long_days:g} days, batches of {a.batch}, time-major on the collection grid")
        t0 = time.perf_counter()
        for ts, b in ticks([0, 1, 2, 3], Mix(4, seed=2), t_long, long_steps, interval_ms, a.batch):
            for s in stores:
                s.write(ts, b)
        for s in stores:
            s.n = s.write_s = s.write_cpu = 0.0  # ingest figures are for the main, collection-shaped stream
        long_n = 4 * long_steps
        ceiling_rows: list[tuple] = []
        for ts, b in ticks(list(range(a.series)), mix, t_main, steps, interval_ms, a.batch):
            if len(ceiling_rows) < 100 * a.batch:
                ceiling_rows += [(i + 1, x.ts_ms, x.value) for i, x in enumerate(b)]
            for s in stores:
                s.write(ts, b)
        for s in stores:
            s.close()
        build_s = time.perf_counter() - t0
        ceiling = raw_ceiling(Path(tmp) / "raw.db", ceiling_rows[:a.batch * 50], 20)
        total = rows_db.n + long_n
        print(f"built both stores in {build_s:.0f} s; {int(total):,} samples each")
        print()
        print(f"{'':<44}{'rows (before)':>16}  {'chunks (now)':<16}")
        line = lambda name, x, y: print(f"{name:<44}{x:>16}  {y:<16}")  # noqa: E731
        line("ingest samples/s (SampleWriter.write)", f"{rows_db.n / rows_db.write_s:,.0f}",
             f"{chunk_db.n / chunk_db.write_s:,.0f}")
        line("  ratio to the raw executemany ceiling", f"{rows_db.n / rows_db.write_s / ceiling:.2f}",
             f"{chunk_db.n / chunk_db.write_s / ceiling:.2f}")
        line("ingest samples per CPU-second", f"{rows_db.n / rows_db.write_cpu:,.0f}",
             f"{chunk_db.n / chunk_db.write_cpu:,.0f}")
        verdict.report("store ingest (SampleWriter.write, SQLite)", chunk_db.n / chunk_db.write_s, 350_000,
                       "samples/s", higher_is_better=True)
        sizes = [table_bytes(s.path) for s in stores]
        files = [s.path.stat().st_size for s in stores]
        line("bytes/sample on disk, file", f"{files[0] / total:.2f}", f"{files[1] / total:.2f}")
        used = [sum(v for k, v in t.items()) for t in sizes]
        line("  in use (file minus free pages)", f"{used[0] / total:.2f}", f"{used[1] / total:.2f}")
        for name, parts in GROUPS:
            x, y = (sum(t.get(p, 0) for p in parts) / total for t in sizes)
            line(f"  {name}", f"{x:.2f}", f"{y:.2f}")
        known = {p for _, parts in GROUPS for p in parts}
        x, y = (sum(v for k, v in t.items() if k not in known) / total for t in sizes)
        line("  other tables (alerts, dlq, audit, ...)", f"{x:.2f}", f"{y:.2f}")
        print(projection(chunk_db.path, sizes[1], a.series, interval_ms))
        readers = [connect_reader(s.path) for s in stores]
        groups = [f"g{i}" for i in range(0, a.series, 4)][:50]  # 50 lag series
        shapes = [
            ("latest snapshot of a metric", lambda r: queries.latest(r, LAG)),
            ("1 series x 24 h (max_points=2000)",
             lambda r: queries.range_query(r, LAG, {"group": "g4"}, end - DAY_MS, end)),
            ("50 series x 6 h (1-minute, max_points=400)",
             lambda r: queries.range_query(r, LAG, {"group": groups}, end - 6 * HOUR_MS, end, max_points=400)),
            ("50 series x 48 h (max_points=2000)",
             lambda r: queries.range_query(r, LAG, {"group": groups}, end - 2 * DAY_MS, end)),
            (f"1 series x {a.long_days:g} days raw",
             lambda r: queries.range_query(r, LAG, {"group": "g0"}, end - int(a.long_days * DAY_MS) + interval_ms,
                                           end, max_points=10**6)),
        ]
        for name, fn in shapes:
            (ms0, _), (ms1, df1) = latency_ms([lambda r=r: fn(r) for r in readers])
            res = "/".join(sorted(set(df1["resolution"]))) if "resolution" in df1 else ""
            line(f"{name} ms", f"{ms0:.1f}", f"{ms1:.1f} ({len(df1):,} rows{', ' + res if res else ''})")
        for r in readers:
            r.close()
        print()
        per_window = 2 * HOUR_MS / interval_ms  # collection cycles per sealed window
        windows = chunk_db.sealed / (a.series * per_window) if chunk_db.sealed else 0
        print(f"seal: {chunk_db.sealed:,} samples in {chunk_db.seal_s:.1f} s = {chunk_db.sealed / max(chunk_db.seal_s, 1e-9):,.0f} "
              f"samples/s ({chunk_db.seal_cpu:.1f} CPU-s)")
        if windows:
            cycle_cpu = chunk_db.write_cpu / (chunk_db.n / a.series)  # store-write CPU of one cycle
            seal_per_cycle = chunk_db.seal_cpu / windows / per_window
            print(f"  at {a.series} series: {seal_per_cycle * 1000:.1f} ms CPU per {a.interval_s:g} s cycle = "
                  f"{seal_per_cycle / cycle_cpu:.0%} of the cycle's store-write CPU ({cycle_cpu * 1000:.1f} ms), "
                  f"{seal_per_cycle / a.interval_s:.2%} of one core")
        print("codec, bytes/sample of sealed 2 h chunks (timestamps + values):")
        print(f"  {'kind':<10} {'pcodec':>6} {'zstd':>6}  (zstd: delta-of-delta ts, xor floats, level 3)")
        print("\n".join(codec_table(chunk_db.path)))
    print("targets: <= 1.5 B/sample incl. rollups; ingest >= 350,000 samples/s (issue 26); each query <= the row format's, "
          "30 days raw <= 50 ms")


if __name__ == "__main__":
    main()
