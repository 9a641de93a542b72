"""PostgreSQL vs SQLite store side by side, and lease failover.

    python -m bench.postgres_bench [--series 1000] [--hours 2] [--batch 2000] [--kills 5]

Ingest: the same time-major batches (one value per series every 15 s, --batch samples a batch, COPY on
PostgreSQL) into a fresh store of each backend; samples/s. Then both seal (2 h chunks) and report
bytes per sample (SQLite: the file; PostgreSQL: the store's tables and indexes), for the whole store and without
the empty migrated store's own size (each empty table and index costs a page or two: a fixed cost that does
not grow with the samples). PostgreSQL loads large batches by binary COPY. Query shapes of the
dashboard: latest of a metric, top 10, one series' raw hour, every series at 1-minute resolution over
the span, and the 1-hour view; median of 5, interleaved. Small collection-cycle batches (200 samples)
show the per-transaction cost. Lease failover: three lease managers beat every ttl/3 (ttl 1.8 s, as for
a 3 s interval); one stops (a kill) and the time until the others hold all its targets is measured,
median of --kills. Restart: a private PostgreSQL instance (tests/pg_private.py) is stopped for
--restart-down-s while a collection job of --series samples a second goes on (its cycles held in memory); the
time from the database's return until the held cycles are written and until a reader opened before the stop
answers again. Needs the machine's PostgreSQL (Unix socket) and its binaries; prints figures, asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from bench import verdict
from store import db, queries
from store.seal import seal_due
from store.types import Sample
from store.writes import SampleWriter, flush

HOUR_MS = 3_600_000
STEP = 15_000
T0 = 1_780_000_000_000 // (2 * HOUR_MS) * (2 * HOUR_MS)
ADMIN = "host=/var/run/postgresql user=postgres dbname=postgres"
METRICS = ("kafka_group_lag_messages", "rabbitmq_queue_ready_messages")


def _pg_db() -> tuple[str, str]:
    name = f"eventdeck_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql://postgres@/{name}?host=%2Fvar%2Frun%2Fpostgresql"


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _batches(series: int, hours: float, batch: int):
    ticks = int(hours * HOUR_MS // STEP)
    out: list[Sample] = []
    for k in range(ticks):
        ts = T0 + k * STEP
        for i in range(series):
            metric = METRICS[i % 2]
            out.append(Sample(metric, {"cluster": "c", "group" if i % 2 == 0 else "queue": f"e{i}"}, ts,
                              float((k * 7 + i) % 500)))
            if len(out) >= batch:
                yield out
                out = []
    if out:
        yield out


def _size(loc) -> int:
    if db.is_postgres(loc):
        conn = db.connect_reader(loc)
        try:
            return int(conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                                    "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
                                    ).fetchone()[0])
        finally:
            conn.close()
    w = db.connect_writer(loc)
    db.checkpoint(w)
    w.close()
    return Path(loc).stat().st_size


def _ingest(loc, series: int, hours: float, batch: int) -> tuple[float, int]:
    w = db.open_migrated(loc)
    sw = SampleWriter(w)
    n, t0 = 0, time.perf_counter()
    for b in _batches(series, hours, batch):
        n += sw.write(b)
    flush(w)
    took = time.perf_counter() - t0
    seal_due(w, T0 + int(hours * HOUR_MS) + 2 * HOUR_MS)  # everything closed: all in chunks
    w.execute("VACUUM FULL ANALYZE" if db.is_postgres(loc) else "VACUUM")  # sizes without the freed space
    w.close()
    return n / took, n


def _small_batches(loc, series: int = 200, ticks: int = 100) -> float:
    w = db.connect_writer(loc)
    sw = SampleWriter(w)
    t0 = time.perf_counter()
    start = T0 + 100 * HOUR_MS
    for k in range(ticks):
        sw.write([Sample("consumer_errors_total", {"consumer": f"c{i}"}, start + k * STEP, float(k)) for i in range(series)])
    w.close()
    return series * ticks / (time.perf_counter() - t0)


def _queries(loc, hours: float) -> dict[str, float]:
    r = db.connect_reader(loc)
    end = T0 + int(hours * HOUR_MS) - 1
    shapes = {
        "latest (all series of a metric)": lambda: queries.latest(r, METRICS[0]),
        "top 10": lambda: queries.top_n(r, METRICS[0], 10),
        "1 series raw, 1 h": lambda: queries.range_query(r, METRICS[0], {"group": "e0"}, T0, T0 + HOUR_MS - 1),
        "all series 1 m, whole span": lambda: queries.range_query(r, METRICS[0], None, T0, end, max_points=200),
        "all series 1 h, whole span": lambda: queries.range_query(r, METRICS[0], None, T0, end, max_points=2),
    }
    out = {}
    for name, q in shapes.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            q()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times) * 1000
    r.close()
    return out


def _failover(url: str, kills: int) -> list[float]:
    from runner.leases import LeaseManager

    targets = [f"kafka:t{i}" for i in range(6)]
    ttl = 1.8
    results = []
    for k in range(kills):
        managers = [LeaseManager(lambda: db.connect_writer(url), targets, ttl, member=f"k{k}m{i}") for i in range(3)]
        stop = {m.member: threading.Event() for m in managers}

        def loop(m):
            while not stop[m.member].wait(m.beat_s):
                m.beat()

        for m in managers:
            m.beat()
        threads = [threading.Thread(target=loop, args=(m,), daemon=True) for m in managers]
        for t in threads:
            t.start()
        time.sleep(3 * ttl)
        victim = max(managers, key=lambda m: len(m.held()))
        lost = set(victim.held())
        killed = time.monotonic()
        stop[victim.member].set()  # stops beating, keeps its rows: as after SIGKILL
        others = [m for m in managers if m is not victim]
        while not lost <= {t for m in others for t in m.held()}:
            time.sleep(0.01)
        results.append(time.monotonic() - killed)
        for m in others:
            stop[m.member].set()
        for t in threads:
            t.join()
        for m in managers:
            m.leave()
    return results


def _restart(series: int, down_s: float) -> str:
    from runner.collect import CollectJob, Cycle
    from store.handle import Store
    from tests.pg_private import PrivatePostgres

    class Synthetic:  # a collector of ``series`` gauges (the bench measures the store side, not a broker)
        target = "bench:restart"
        rejects = None

        def collect(self, now: int) -> Cycle:
            return Cycle([Sample("bench_value_messages", {"n": str(i)}, now, float(i)) for i in range(series)])

        def reset(self) -> None: ...
        def close(self) -> None: ...
        def redact(self, text: str) -> str: return text

    pg = PrivatePostgres()
    try:
        pg.admin("CREATE DATABASE eventdeck")
        store = Store(pg.url("eventdeck"))
        store.migrate()
        job = CollectJob(Synthetic(), store.writer(), 1.0)
        reader = store.reader()
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(1.0 - time.time() % 1.0):
                job.run()

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        time.sleep(3)
        pg.stop()
        time.sleep(down_s)
        held, samples = len(job.spool), job.spool.samples
        pg.start()
        back = time.monotonic()
        while job.spool.items:
            time.sleep(0.05)
        flushed = time.monotonic() - back
        while True:
            try:
                reader.execute("SELECT 1").fetchone()
                break
            except psycopg.Error:
                time.sleep(0.05)
        answered = time.monotonic() - back
        stop.set()
        t.join()
        reader.close()
        job.close()
        return (f"restart ({down_s:.0f} s down, {series} samples/s): {held} cycles ({samples:,} samples) held, "
                f"dropped {job.spool.dropped_samples_total}; written {flushed:.1f} s after the database returned; "
                f"a reader opened before answered after {answered:.1f} s")
    finally:
        pg.remove()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.postgres_bench", description=__doc__)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--restart-down-s", type=float, default=20.0, help="0: no restart measurement")
    args = ap.parse_args(argv)
    name, url = _pg_db()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            locs = {"sqlite": Path(tmp) / "s.db", "postgresql": url}
            res = {}
            for backend, loc in locs.items():
                db.open_migrated(loc).close()
                empty = _size(loc)  # the schema alone
                rate, n = _ingest(loc, args.series, args.hours, args.batch)
                res[backend] = {"rate": rate, "n": n, "bytes": _size(loc), "empty": empty, "small": _small_batches(loc)}
            qs = {b: _queries(loc, args.hours) for b, loc in locs.items()}
        print(f"{args.series} series x {args.hours} h at 15 s, batches of {args.batch}")
        print(f"{'':38} {'sqlite':>12} {'postgresql':>12}")
        print(f"{'ingest (samples/s)':38} {res['sqlite']['rate']:12,.0f} {res['postgresql']['rate']:12,.0f}")
        print(f"{'ingest, 200-sample batches (samples/s)':38} {res['sqlite']['small']:12,.0f} "
              f"{res['postgresql']['small']:12,.0f}")
        verdict.report("store ingest (PostgreSQL)", res["postgresql"]["rate"], 150_000, "samples/s",
                       higher_is_better=True)
        for b in res:
            res[b]["bps"] = res[b]["bytes"] / res[b]["n"]
            res[b]["growth"] = (res[b]["bytes"] - res[b]["empty"]) / res[b]["n"]
        print(f"{'empty migrated store (KiB)':38} {res['sqlite']['empty'] / 1024:12,.0f} "
              f"{res['postgresql']['empty'] / 1024:12,.0f}")
        print(f"{'bytes per sample, sealed (whole store)':38} {res['sqlite']['bps']:12.2f} {res['postgresql']['bps']:12.2f}")
        print(f"{'bytes per sample, sealed, beyond schema':38} {res['sqlite']['growth']:12.2f} "
              f"{res['postgresql']['growth']:12.2f}")
        for shape in qs["sqlite"]:
            print(f"{shape + ' (ms)':38} {qs['sqlite'][shape]:12.1f} {qs['postgresql'][shape]:12.1f}")
        fo = _failover(url, args.kills)
        print(f"lease failover (ttl 1.8 s, beat 0.6 s): median {statistics.median(fo):.2f} s over {len(fo)} kills "
              f"(min {min(fo):.2f}, max {max(fo):.2f})")
        if args.restart_down_s > 0:
            print(_restart(args.series, args.restart_down_s))
    finally:
        _drop(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
