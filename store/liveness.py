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


class Judge:
    """Tells gone series of one read (the status table is read once; labels JSON parsed once per series)."""

    def __init__(self, conn: Any) -> None:
        self.cut = cutoffs(conn)
        self._target: dict[tuple[str, str], str | None] = {}

    def target(self, metric: str, labels_json: str) -> str | None:
        key = (metric, labels_json)
        if key not in self._target:
            try:
                labels = json.loads(labels_json)
            except ValueError:
                labels = {}
            self._target[key] = series_target(metric, labels) if isinstance(labels, dict) else None
        return self._target[key]

    def gone(self, metric: str, labels_json: str, ts_ms: int) -> bool:
        target = self.target(metric, labels_json)
        cut = self.cut.get(target) if target is not None else None
        return cut is not None and int(ts_ms) < cut
