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
