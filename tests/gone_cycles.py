"""A target's next collection cycle written as the collector would, without some entities (deleted while
the dashboard runs): for the gone-entity tests (AppTest and browser)."""
from __future__ import annotations

from store import queries, status
from store.db import connect_reader, connect_writer
from store.types import Sample
from store.writes import SampleWriter
from tests import seed


def next_cycle_without(store, target: str, prefixes: tuple[str, ...], drop: dict[str, str],
                       ts: int | None = None) -> int:
    """Write the target's next cycle: every current series of ``prefixes`` again, except those whose label
    ``k`` is ``drop[k]``; record the cycle as successful. Returns its timestamp."""
    r = connect_reader(store)
    try:
        names = [m for m in queries.metrics(r)["metric"] if m.startswith(prefixes)]
        cluster = target.split(":", 1)[1]
        frames = {m: queries.latest(r, m, {"cluster": cluster}) for m in names}
        if ts is None:
            ts = int(max(f["ts_ms"].max() for f in frames.values() if not f.empty)) + seed.STEP_MS
    finally:
        r.close()
    out = []
    for m, df in frames.items():
        labels_cols = [c for c in df.columns if c not in ("series_id", "ts_ms", "value")]
        for row in df.to_dict("records"):
            labels = {c: row[c] for c in labels_cols if isinstance(row[c], str)}
            if any(labels.get(k) == v for k, v in drop.items()):
                continue
            out.append(Sample(m, labels, ts, float(row["value"])))
    w = connect_writer(store)
    try:
        SampleWriter(w).write(out)
        status.set_status(w, target, True, None, ts, 10, seed.STEP_MS)
    finally:
        w.close()
    return ts
