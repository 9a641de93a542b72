"""The latest points of one metric, grouped for rules with numpy: selectors run once per series set.

Pure, and below ``alerts.rules``: it knows a rule only by what it reads of it (:class:`Selecting`), so the
rule model builds on it without an import cycle. A :class:`PointSet` holds one evaluation's latest sample
per series of a metric. Which series a selector picks, and which ``by`` group each series falls in,
depend only on the series' labels, so they are cached across evaluations for as long as the metric's
set of series is unchanged (a tuple of the series keys); each evaluation then only masks fresh, finite
values and aggregates with numpy.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping, Protocol, Sequence

import numpy as np


class Matching(Protocol):
    """One label condition of a selector (``alerts.rules.Matcher``)."""

    label: str
    op: str
    value: str
    negate: bool

    def matches(self, labels: Mapping[str, str]) -> bool: ...


class Selecting(Protocol):
    """What grouping reads of a rule (``alerts.rules.Rule``)."""

    selector: Sequence[Matching]
    aggregation: str
    by: Sequence[str]
    stale_after_s: float


def group_key(labels: Mapping[str, str]) -> str:
    """Canonical, stable key of a label set (JSON with sorted keys)."""
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


@dataclass(frozen=True)
class SeriesPoint:
    """The latest sample of one series (``canonical``: its labels' ``group_key`` when already known)."""

    labels: Mapping[str, str]
    ts_ms: int
    value: float
    canonical: str | None = None

    @cached_property
    def key(self) -> str:
        """``group_key`` of the full label set, computed once however many rules read the point."""
        return self.canonical if self.canonical is not None else group_key(self.labels)

_CACHE_MAX = 4096
# (selector, series keys) -> selected indices; (by labels, series keys) -> (group codes, group keys, labels)
_SELECTED: dict[tuple[Any, tuple[str, ...]], np.ndarray] = {}
_GROUPS: dict[tuple[Any, tuple[str, ...]], tuple[np.ndarray, list[str], list[dict[str, str]]]] = {}


def _remember(cache: dict, key: Any, value: Any) -> Any:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


class PointSet:
    """One metric's latest points with the arrays and caches the rules group them by."""

    def __init__(self, points: Sequence[SeriesPoint], cache: bool = True) -> None:
        points = list(points)
        self._set(tuple(p.key if p.canonical is None else p.canonical for p in points), [p.labels for p in points],
                  np.fromiter((p.ts_ms for p in points), dtype=np.int64, count=len(points)),
                  np.fromiter((p.value for p in points), dtype=np.float64, count=len(points)), cache)

    @classmethod
    def from_columns(cls, keys: Sequence[str], labels: Sequence[Mapping[str, str]], ts: np.ndarray,
                     values: np.ndarray, cache: bool = True) -> "PointSet":
        """From columns (one entry per series): no point object per series."""
        ps = cls.__new__(cls)
        ps._set(tuple(keys), list(labels), np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64),
                cache)
        return ps

    def _set(self, keys: tuple[str, ...], labels: list[Mapping[str, str]], ts: np.ndarray, values: np.ndarray,
             cache: bool) -> None:
        self.keys, self.labels, self.ts, self.values = keys, labels, ts, values
        self._finite = np.isfinite(self.values)
        self._fresh: dict[float, np.ndarray] = {}
        self._cache = cache

    def selected(self, rule: Selecting) -> np.ndarray:
        """Indices of the points ``rule``'s selector matches (cached per series set)."""
        if not rule.selector:
            return np.arange(len(self.keys))
        ck = (tuple((m.label, m.op, m.value, m.negate) for m in rule.selector), self.keys)
        hit = _SELECTED.get(ck) if self._cache else None
        if hit is None:
            matchers = rule.selector
            hit = np.array([i for i, lab in enumerate(self.labels) if all(m.matches(lab) for m in matchers)],
                           dtype=np.int64)
            if self._cache:
                _remember(_SELECTED, ck, hit)
        return hit

    def _groups(self, by: tuple[str, ...]) -> tuple[np.ndarray, list[str], list[dict[str, str]]]:
        ck = (by, self.keys)
        hit = _GROUPS.get(ck) if self._cache else None
        if hit is None:
            index: dict[tuple[str, ...], int] = {}
            codes = np.fromiter((index.setdefault(tuple(lab.get(b, "") for b in by), len(index))
                                 for lab in self.labels), dtype=np.int64, count=len(self.labels))
            labels = [dict(zip(by, values)) for values in index]
            hit = (codes, [group_key(lab) for lab in labels], labels)
            if self._cache:
                _remember(_GROUPS, ck, hit)
        return hit

    def group_keys_of(self, rule: Selecting) -> Sequence[str]:
        """The group key of each point under ``rule``'s aggregation (its own key for ``series``)."""
        if rule.aggregation == "series":
            return self.keys
        codes, gkeys, _ = self._groups(tuple(rule.by))
        return [gkeys[c] for c in codes.tolist()]

    def fresh(self, rule: Selecting, now_ms: int) -> np.ndarray:
        """Indices of the selected points with a finite value no older than the rule's ``stale_after_s``."""
        mask = self._fresh.get(rule.stale_after_s)
        if mask is None:
            mask = self._fresh[rule.stale_after_s] = self._finite & (self.ts >= now_ms - rule.stale_after_s * 1000.0)
        sel = self.selected(rule)
        return sel[mask[sel]]

    def group_arrays(self, rule: Selecting, now_ms: int) -> tuple[list[str], list[Mapping[str, str]], np.ndarray]:
        """The rule's groups over its fresh selected series: keys, labels (read only) and values (float64)."""
        idx = self.fresh(rule, now_ms)
        if rule.aggregation == "series":
            keys, labels = self.keys, self.labels
            picked = idx.tolist()
            return [keys[i] for i in picked], [labels[i] for i in picked], self.values[idx]
        if not len(idx):
            return [], [], np.empty(0)
        codes, gkeys, glabels = self._groups(tuple(rule.by))
        order = idx[np.argsort(codes[idx], kind="stable")]
        sorted_codes = codes[order]
        vals = self.values[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        ends = np.r_[starts[1:], len(order)]
        how = rule.aggregation
        if how == "max":
            agg = np.maximum.reduceat(vals, starts)
        elif how == "min":
            agg = np.minimum.reduceat(vals, starts)
        elif how == "count":
            agg = (ends - starts).astype(np.float64)
        else:  # sum / avg: exactly rounded, as math.fsum over each group
            chunks = [vals[a:b].tolist() for a, b in zip(starts.tolist(), ends.tolist())]
            agg = np.array([math.fsum(c) if how == "sum" else math.fsum(c) / len(c) for c in chunks])
        present = sorted_codes[starts].tolist()
        return [gkeys[c] for c in present], [glabels[c] for c in present], agg

    def group_values(self, rule: Selecting, now_ms: int) -> dict[str, tuple[Mapping[str, str], float]]:
        """``{group key: (group labels, value)}`` over the fresh series the rule selects (labels: read only)."""
        keys, labels, values = self.group_arrays(rule, now_ms)
        return {k: (lab, v) for k, lab, v in zip(keys, labels, values.tolist())}
