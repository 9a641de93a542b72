"""Real processes on one store file: a reader querying while writers insert, and a writer SIGKILLed
in the middle of a batch. The worker roles run this module as a script (see ``main``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store.db import connect_reader, open_migrated
from store.writes import FLUSH_MS, flush

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_780_000_000_000
STEP_MS = 15_000
LAG = "kafka_group_lag_messages"


def batch_span(steps: int) -> int:
    return steps * STEP_MS


def worker(role: str, path: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.integration.test_store_processes", role, path, *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_writer(path: str, series: int, steps: int, first: int, last: int) -> None:
    """Batch k = every series at `steps` timestamps of its own time slot, value k; prints begin/done."""
    from store.types import Sample
    from store.writes import SampleWriter

    sw = SampleWriter(open_migrated(path))
    for k in range(first, last):
        base = T0 + k * batch_span(steps)
        batch = [Sample(LAG, {"cluster": "a", "group": f"g{i}", "topic": "t"}, base + j * STEP_MS, float(k))
                 for j in range(steps) for i in range(series)]
        print(f"begin {k}", flush=True)
        t = time.perf_counter()
        sw.write(batch)
        print(f"done {k} {time.perf_counter() - t:.3f}", flush=True)


def run_reader(path: str, ready_file: str, stop_file: str, deadline_s: str) -> None:
    """Query in a loop until the stop file appears; prints how many raw points of g1+g2 it saw each time."""
    from store import audit, queries, status

    conn = connect_reader(path)
    seen, end, stopping = [], time.monotonic() + float(deadline_s), False
    while not stopping and time.monotonic() < end:
        stopping = os.path.exists(stop_file)  # one last round after the writers are done
        queries.latest(conn, LAG)
        seen.append(len(queries.range_query(conn, LAG, {"group": ["g1", "g2"]}, T0, T0 + 10**9, max_points=10**6)))
        queries.top_n(conn, LAG, 5)
        status.read_status(conn)
        audit.read(conn)
        Path(ready_file).touch()
    print(" ".join(map(str, seen)), flush=True)


def run_status(path: str, times: str) -> None:
    """A second writer process (as the dashboard or another job would be) competing for the lock."""
    from store import status

    conn = open_migrated(path)
    for n in range(int(times)):
        status.set_status(conn, "kafka:a", n % 2 == 0, None if n % 2 == 0 else "down", T0 - 10**6 + n)


def test_reader_process_queries_while_writer_processes_insert(tmp_path):
    path = str(tmp_path / "s.db")
    open_migrated(path).close()
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    series, steps, batches = 200, 10, 60
    reader = worker("reader", path, str(ready), str(stop), "100")
    deadline = time.monotonic() + 60
    while not ready.exists():  # the reader has run its first round of queries
        assert reader.poll() is None, reader.communicate()[1]
        assert time.monotonic() < deadline, "reader did not start"
        time.sleep(0.05)
    writer = worker("writer", path, str(series), str(steps), "0", str(batches))
    second = worker("status", path, "300")
    try:
        w_out, w_err = writer.communicate(timeout=100)
        s_out, s_err = second.communicate(timeout=100)
    finally:
        stop.touch()
    r_out, r_err = reader.communicate(timeout=30)
    for name, proc, err in (("writer", writer, w_err), ("status", second, s_err), ("reader", reader, r_err)):
        assert "database is locked" not in err, f"{name}: {err}"
        assert proc.returncode == 0, f"{name} failed: {err}"
    assert w_out.count("done") == batches
    seen = [int(x) for x in r_out.split()]
    assert len(set(seen)) >= 3, "the reader should have seen the data grow while the writer wrote"
    assert seen == sorted(seen), "a reader never sees committed rows disappear, staged or flushed"
    assert seen[-1] == 2 * steps * batches
    conn = connect_reader(path)
    stored = conn.execute("SELECT (SELECT count(*) FROM samples WHERE ts_ms >= ?1) + "
                          "(SELECT count(*) FROM samples_recent WHERE ts_ms >= ?1)", (T0,)).fetchone()
    assert stored[0] == series * steps * batches
    assert conn.execute("SELECT count(*) FROM latest").fetchone()[0] == series + 1  # + collector_up
    assert conn.execute("SELECT count(*) FROM collector_status").fetchone()[0] == 1


def present(conn, k: int, steps: int) -> int:
    lo, hi = T0 + k * batch_span(steps), T0 + (k + 1) * batch_span(steps) - 1
    return conn.execute("SELECT (SELECT count(*) FROM samples WHERE ts_ms BETWEEN ?1 AND ?2) + "
                        "(SELECT count(*) FROM samples_recent WHERE ts_ms BETWEEN ?1 AND ?2)", (lo, hi)).fetchone()[0]


def test_writer_killed_mid_batch_leaves_the_batch_all_in_or_all_out(tmp_path):
    path = str(tmp_path / "s.db")
    open_migrated(path).close()
    # ~30,000 samples spanning FLUSH_MS of sample time: every batch also moves staged rows and rollups
    series, steps = 500, FLUSH_MS // STEP_MS + 1
    size = series * steps
    first, killed_mid_batch = 0, None
    for _attempt in range(6):
        proc = worker("writer", path, str(series), str(steps), str(first), str(first + 50))
        durations = []
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            word, k, *rest = line.split()
            if word == "done":
                durations.append(float(rest[0]))
            elif word == "begin" and len(durations) >= 2:
                time.sleep(min(durations) * 0.4)  # well inside the write, judging by earlier ones
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "writer too slow to reach its third batch"
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        if f"done {k}" not in out:
            killed_mid_batch = int(k)
            break
        first = int(k) + 1  # the write finished before the kill landed: try again, later batches
    assert killed_mid_batch is not None, "could not land a SIGKILL inside a write in 6 attempts"

    conn = connect_reader(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for k in range(killed_mid_batch):
        assert present(conn, k, steps) in (0, size)
    assert present(conn, killed_mid_batch - 1, steps) == size
    assert present(conn, killed_mid_batch, steps) in (0, size), "a killed batch must be all in or all out"
    assert present(conn, killed_mid_batch + 1, steps) == 0
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] >= size  # earlier batches were flushed
    # latest agrees with the raw data that survived
    mismatched = conn.execute(
        "SELECT count(*) FROM latest l WHERE l.ts_ms != (SELECT max(ts_ms) FROM (SELECT ts_ms FROM samples "
        "WHERE series_id = l.series_id UNION ALL SELECT ts_ms FROM samples_recent WHERE series_id = l.series_id))"
    ).fetchone()[0]
    assert mismatched == 0
    # a new writer carries on: after its flush, rollups count exactly the raw samples
    w = open_migrated(path)
    flush(w)
    raw = w.execute("SELECT count(*) FROM samples").fetchone()[0]
    assert w.execute("SELECT sum(cnt) FROM rollup_1m").fetchone()[0] == raw
    assert w.execute("SELECT sum(cnt) FROM rollup_1h").fetchone()[0] == raw


def run_sealer(path: str, now_ms: str) -> None:
    """Seal one batch of 10 series per transaction until done; prints a line per committed batch."""
    from store.seal import seal_due

    conn = open_migrated(path)
    print("start", flush=True)
    while True:
        t = time.perf_counter()
        stats = seal_due(conn, int(now_ms), batch_series=10, max_batches=1)
        print(f"batch {time.perf_counter() - t:.4f}", flush=True)
        if stats.done:
            break
    print("finished", flush=True)


def stored_samples(conn) -> tuple[list[tuple[int, int]], int]:
    """(series_id, ts) of every sample in head rows and chunks (duplicates kept), and the chunk count."""
    from store.codec import decode_samples

    found = [tuple(r) for r in conn.execute("SELECT series_id, ts_ms FROM samples UNION ALL "
                                            "SELECT series_id, ts_ms FROM samples_recent")]
    chunks = conn.execute("SELECT series_id, t_start, t_end, n, data FROM sample_chunks").fetchall()
    for sid, t_start, t_end, n, data in chunks:
        ts, _ = decode_samples(data, n, t_start, t_end)
        found += [(sid, int(t)) for t in ts]
    return found, len(chunks)


def test_sealer_killed_mid_batch_leaves_every_sample_in_rows_or_in_exactly_one_chunk(tmp_path):
    from store.chunks import RAW_WINDOW_MS
    from store.seal import due_horizon, seal_due
    from store.types import Sample
    from store.writes import SampleWriter

    series, hours = 200, 10
    path = str(tmp_path / "s.db")
    w = open_migrated(path)
    sw = SampleWriter(w)
    steps = hours * 3_600_000 // STEP_MS
    for k in range(0, steps, 8):  # 8 cycles per write: quicker to build, the same rows in the end
        sw.write([Sample(LAG, {"cluster": "a", "group": f"g{i}"}, T0 + j * STEP_MS, float((i + j) % 100))
                  for j in range(k, min(k + 8, steps)) for i in range(series)])
    w.close()
    written = {(sid, ts) for sid, ts in stored_samples(connect_reader(path))[0]}
    assert len(written) == series * steps
    now = T0 + hours * 3_600_000

    killed = None
    for attempt in range(6):
        proc = worker("sealer", path, str(now))
        durations, deadline = [], time.monotonic() + 60
        for line in proc.stdout:
            word, *rest = line.split()
            if word == "batch":
                durations.append(float(rest[0]))
                if len(durations) >= 2:
                    time.sleep(min(durations) * (0.2 + 0.15 * attempt))  # inside the next batch, judging by earlier ones
                    proc.send_signal(signal.SIGKILL)
                    break
            assert word != "finished", "sealing finished before the kill"
            assert time.monotonic() < deadline, "sealer too slow to reach its third batch"
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        conn = connect_reader(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        found, chunks = stored_samples(conn)
        assert len(found) == len(set(found)), "a sample is in two places (rows and a chunk, or two chunks)"
        assert set(found) == written, "a sample went missing"
        conn.close()
        if "finished" in out:
            continue
        killed = chunks
        break
    assert killed is not None and 0 < killed < series * 4, "the kill should land while sealing is under way"
    # a new run carries on where the killed one stopped
    w = open_migrated(path)
    assert seal_due(w, now).done
    found, chunks = stored_samples(w)
    horizon = due_horizon(now)
    assert sorted(found) == sorted(written)
    assert chunks == len({(sid, ts // RAW_WINDOW_MS) for sid, ts in written if ts < horizon})
    assert w.execute("SELECT count(*) FROM samples").fetchone()[0] == sum(ts >= horizon for _, ts in written)


def main(argv: list[str]) -> None:
    roles = {"writer": lambda p, s, n, a, b: run_writer(p, int(s), int(n), int(a), int(b)),
             "reader": run_reader, "status": run_status, "sealer": run_sealer}
    roles[argv[0]](*argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
