"""Which series are current and which are gone: "now" is each target's latest successful cycle.

Every sample of a cycle carries the cycle's timestamp and the runner records that timestamp as the
target's ``last_ok_ms`` (``store.status``). A series whose latest sample is older than its target's
latest successful cycle (less the target's grace, ``core.targets.gone_grace_ms``) was absent from
it: the entity is gone (a deleted group or queue, a partition that got its first commit and so no
longer reports "no offset", a consumer that stopped). Gone series stay in history; "now" reads
leave them out unless asked. A down target keeps its last successful cycle's series current: they
are stale (the alert rules' ``stale_after_s``), not gone. Series no single target writes
(``core.targets.series_target`` is None) and series of a target never recorded are never gone.
"""
from __future__ import annotations

import json
from typing import Any

from core.targets import gone_grace_ms, series_target


def cutoffs(conn: Any) -> dict[str, int]:
    """``{target: oldest current sample time}`` of every target with a successful cycle."""
    rows = conn.execute("SELECT target, last_ok_ms, interval_ms FROM collector_status "
                        "WHERE last_ok_ms IS NOT NULL").fetchall()
    return {t: int(ok) - gone_grace_ms(t, iv) for t, ok, iv in rows}


# (metric, labels JSON) -> target: a series' labels never change, so this is shared by every read; bounded.
_TARGETS: dict[tuple[str, str], str | None] = {}
_TARGETS_MAX = 500_000


def target_of(metric: str, labels_json: str) -> str | None:
    key = (metric, labels_json)
    hit = _TARGETS.get(key, _TARGETS)
    if hit is not _TARGETS:
        return hit  # type: ignore[return-value]
    try:
        labels = json.loads(labels_json)
    except ValueError:
        labels = {}
    target = series_target(metric, labels) if isinstance(labels, dict) else None
    if len(_TARGETS) >= _TARGETS_MAX:
        _TARGETS.clear()
    _TARGETS[key] = target
    return target


class Judge:
    """Tells gone series of one read (the status table is read once per read)."""

    def __init__(self, conn: Any) -> None:
        self.cut = cutoffs(conn)

    def target(self, metric: str, labels_json: str) -> str | None:
        return target_of(metric, labels_json)

    def gone(self, metric: str, labels_json: str, ts_ms: int) -> bool:
        if not self.cut:
            return False
        target = target_of(metric, labels_json)
        cut = self.cut.get(target) if target is not None else None
        return cut is not None and ts_ms < cut

    def gone_flags(self, metric_of_row, rows: list, ts_index: int, labels_index: int) -> list[bool]:
        """``gone`` of many rows at once (``metric_of_row(row)`` names each row's metric)."""
        if not self.cut:
            return [False] * len(rows)
        cut, targets, out = self.cut, _TARGETS, []
        for r in rows:
            key = (metric_of_row(r), r[labels_index])
            target = targets.get(key, targets)
            if target is targets:
                target = target_of(*key)
            c = cut.get(target) if target is not None else None
            out.append(c is not None and r[ts_index] < c)
        return out
