"""store.writes: the column-wise fast path of a batch gives what the per-sample path gives, and hands
every batch it cannot take whole (odd values, unhashable labels) to the per-sample path, whose checks
and skips then apply; on both backends the stored rows and ``latest`` are the same either way."""
from __future__ import annotations

import math

import pytest

from store.types import Sample
from store.writes import SampleWriter

T0 = 1_780_000_000_000


def lag(group: str, ts: int, value) -> Sample:
    return Sample("kafka_group_lag_messages", {"cluster": "c", "group": group}, ts, value)


WELL_FORMED = [lag(f"g{i}", T0 + 15_000 * (i % 3), float(i)) for i in range(50)]


@pytest.mark.parametrize("batch, fast", [
    (WELL_FORMED, True),
    ([], False),  # nothing to zip
    ([lag("g", T0, 1)], False),  # an int value: converted by the per-sample path
    ([lag("g", T0, True)], False),  # a bool is not a number here
    ([lag("g", T0, math.nan)], False),
    ([lag("g", T0, math.inf)], False),
    ([lag("g", T0, 1e308), lag("h", T0, 1e308)], False),  # finite, but the sum overflows: checked one by one
    ([Sample("kafka_group_lag_messages", {"group": ["x"]}, T0, 1.0)], False),  # unhashable label value
    ([lag("g", float(T0), 1.0)], False),  # a float timestamp
])
def test_fast_path_takes_only_well_formed_batches(tmp_path, batch, fast):
    from store.db import open_migrated

    w = SampleWriter(open_migrated(tmp_path / "s.db"))
    got = w._columns(batch)
    assert (got is not None) is fast
    if fast:
        assert got == w._rows(batch)


def test_both_paths_store_the_same(store):
    w, r = store
    sw = SampleWriter(w)
    # the second batch repeats (series, ts) pairs (first write wins) and mixes in int values (per-sample path)
    first = WELL_FORMED
    second = [lag(f"g{i}", T0 + 15_000 * (i % 3), i * 2) for i in range(0, 50, 2)] + \
             [lag(f"g{i}", T0 + 60_000, i * 3) for i in range(50)]
    assert sw.write(first) == 50
    assert sw._columns(second) is None
    assert sw.write(second) == 50  # the repeats are ignored
    sw.write(iter([lag("g1", T0 + 75_000, 7.0)]))  # any iterable, not only a list
    rows = r.execute("SELECT s.labels, x.ts_ms, x.value FROM samples_recent x JOIN series s ON s.id = x.series_id "
                     "ORDER BY s.labels, x.ts_ms").fetchall()
    want = sorted([(f'{{"cluster":"c","group":"g{i}"}}', T0 + 15_000 * (i % 3), float(i)) for i in range(50)]
                  + [(f'{{"cluster":"c","group":"g{i}"}}', T0 + 60_000, float(i * 3)) for i in range(50)]
                  + [('{"cluster":"c","group":"g1"}', T0 + 75_000, 7.0)])
    assert sorted(tuple(x) for x in rows) == want
    latest = dict(r.execute("SELECT s.labels, l.value FROM latest l JOIN series s ON s.id = l.series_id").fetchall())
    assert latest['{"cluster":"c","group":"g1"}'] == 7.0
    assert latest['{"cluster":"c","group":"g4"}'] == 12.0


def test_unhashable_label_skips_that_series_only(store):
    w, r = store
    sw = SampleWriter(w)
    bad = Sample("kafka_group_lag_messages", {"cluster": "c", "group": ["x"]}, T0, 1.0)
    assert sw.write([lag("a", T0, 1.0), bad, lag("b", T0, 2.0)]) == 2
    assert r.execute("SELECT count(*) FROM series WHERE metric = 'eventdeck_rejected_inputs_total'").fetchone()[0] == 1
    assert r.execute("SELECT count(*) FROM series WHERE metric = 'kafka_group_lag_messages'").fetchone()[0] == 2


def _reference(batches: list[list[Sample]]) -> tuple[dict, dict]:
    """What row-by-row writes give: the first value of a (series, ts) is kept; ``latest`` is the newest, the
    first of equal timestamps."""
    kept: dict[tuple, float] = {}
    latest: dict[str, tuple[int, float]] = {}
    for batch in batches:
        for s in batch:
            g = s.labels["group"]
            kept.setdefault((g, s.ts_ms), s.value)
            if g not in latest or s.ts_ms > latest[g][0]:
                latest[g] = (s.ts_ms, s.value)
    return kept, latest


def _rollup(kept: dict[tuple, float], width: int) -> dict[tuple, tuple]:
    out: dict[tuple, list] = {}
    for (g, ts), v in sorted(kept.items()):
        b = out.setdefault((g, ts // width * width), [v, v, 0.0, 0, ts, v])
        b[0], b[1], b[2], b[3] = min(b[0], v), max(b[1], v), b[2] + v, b[3] + 1
        b[4], b[5] = ts, v  # sorted by ts within a series: the last one seen is the bucket's last
    return {k: tuple(b) for k, b in out.items()}


@pytest.mark.parametrize("size", [40, 2500])  # below / above the bulk paths' thresholds (SQLite 64, PostgreSQL 2,000)
def test_large_and_small_batches_follow_the_row_by_row_rules(store, size):
    """Batches with repeated (series, ts) pairs, timestamps out of order and across hour boundaries, and a late
    batch after a flush: ``samples``, ``latest`` and both rollup tiers hold what row-by-row writes and a
    reference aggregation give (values are small integers, so sums are exact in any order)."""
    import random

    from store.writes import flush

    w, r = store
    rnd = random.Random(size)
    groups = [f"g{i}" for i in range(30)]

    def batch(lo: int, hi: int) -> list[Sample]:
        return [lag(rnd.choice(groups), T0 + rnd.randrange(lo, hi) * 5_000, float(rnd.randrange(100)))
                for _ in range(size)]

    sw = SampleWriter(w)
    first = [batch(0, 2_000) for _ in range(3)]  # ~2.8 h of 5 s slots: several hours, many repeats
    for b in first:
        sw.write(b)
    flush(w)
    late = [batch(0, 2_400) for _ in range(2)]  # repeats of flushed pairs (dropped) and newer rows
    newest = T0 + 2_400 * 5_000  # equal newest timestamps in one batch: the first is kept, in latest too
    late[-1] += [lag(g, newest, v) for g in groups[:5] for v in (1.0, 2.0)]
    for b in late:
        sw.write(b)
    flush(w)
    kept, latest = _reference(first + late)
    labels = {f'{{"cluster":"c","group":"{g}"}}': g for g in groups}
    got = {(labels[lab], ts): v for lab, ts, v in r.execute(
        "SELECT s.labels, x.ts_ms, x.value FROM samples x JOIN series s ON s.id = x.series_id")}
    assert got == kept
    got_latest = {labels[lab]: (ts, v) for lab, ts, v in r.execute(
        "SELECT s.labels, l.ts_ms, l.value FROM latest l JOIN series s ON s.id = l.series_id")}
    assert got_latest == latest
    for table, width in (("rollup_1m", 60_000), ("rollup_1h", 3_600_000)):
        rows = r.execute(f"SELECT s.labels, x.bucket_ms, x.min_v, x.max_v, x.sum_v, x.cnt, x.last_ts_ms, x.last_v "
                         f"FROM {table} x JOIN series s ON s.id = x.series_id").fetchall()
        assert {(labels[row[0]], row[1]): tuple(row[2:]) for row in rows} == _rollup(kept, width), table


def test_batches_of_new_ticks_then_a_repeat(store):
    """The usual large batch (each (series, ts) once, timestamps not staged before: PostgreSQL COPYs it straight
    into samples_recent), then one that repeats a staged tick with other values (ignored, first write wins)."""
    w, r = store
    sw = SampleWriter(w)
    groups = [f"g{i}" for i in range(1250)]
    batches = [[lag(g, T0 + (2 * k + j) * 15_000, float(k * 10 + j)) for j in (0, 1) for g in groups]
               for k in range(3)]  # 2,500 rows: two ticks of 1,250 series each
    batches.append([lag(g, T0 + 15_000, 99.0) for g in groups] + [lag("new", T0 + 15_000, 5.0)])
    assert [sw.write(b) for b in batches] == [2_500, 2_500, 2_500, 1]
    kept, latest = _reference(batches)
    got = {(lab.split('"group":"')[1][:-2], ts): v for lab, ts, v in r.execute(
        "SELECT s.labels, x.ts_ms, x.value FROM samples_recent x JOIN series s ON s.id = x.series_id")}
    assert got == kept
    got_latest = {lab.split('"group":"')[1][:-2]: (ts, v) for lab, ts, v in r.execute(
        "SELECT s.labels, l.ts_ms, l.value FROM latest l JOIN series s ON s.id = l.series_id")}
    assert got_latest == latest
    assert [t for (t,) in r.execute("SELECT ts_ms FROM staged_ts ORDER BY ts_ms")] == [T0 + k * 15_000 for k in range(6)]


def test_a_row_another_writer_committed_after_the_check_keeps_its_value(store):
    """Two writers may stage the same tick: one checks ``staged_ts`` (not there yet), the other commits its rows,
    then the first COPYs. Simulated by a committed row whose tick is missing from ``staged_ts``: the large batch
    still lands (on PostgreSQL by the general path after the direct COPY meets the duplicate), first write wins."""
    w, r = store
    sw = SampleWriter(w)
    assert sw.write([lag("g0", T0, 7.0)]) == 1
    w.execute("DELETE FROM staged_ts WHERE ts_ms = ?", (T0,))
    w.commit()
    batch = [lag(f"g{i}", T0, float(i) + 100) for i in range(2_500)]
    assert sw.write(batch) == 2_499
    got = {lab.split('"group":"')[1][:-2]: v for lab, v in r.execute(
        "SELECT s.labels, x.value FROM samples_recent x JOIN series s ON s.id = x.series_id WHERE x.ts_ms = ?", (T0,))}
    assert got == {"g0": 7.0, **{f"g{i}": float(i) + 100 for i in range(1, 2_500)}}
