"""Pure part of telemetry collection: decoded summaries of one tick → samples, and running counters.

One tick's summaries are grouped per consumer ``(cluster, broker, consumer)`` and merged; the
consumer's rate is the sum over its instances of each instance's calls / its covered span.
Counters (``*_total``) accumulate across ticks from per-summary deltas, like Prometheus counters.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from core.names import safe_label_value
from instrument.sketch import quantiles
from instrument.summary import Summary, merge_summaries
from store.types import Sample

QUANTILES = {"0.5": 0.5, "0.95": 0.95, "0.99": 0.99}
PROCESSING = "consumer_processing_seconds"
RATE = "consumer_processed_rate_per_s"
ERROR_RATIO = "consumer_error_rate_ratio"
ERRORS_TOTAL = "consumer_errors_total"
INSTANCES = "consumer_instances_count"
DROPPED_TOTAL = "consumer_telemetry_dropped_total"

ConsumerKey = tuple[str, str, str]  # cluster, broker, consumer


@dataclass
class Counters:
    """Running totals: errors per (consumer, exception), dropped summaries per consumer."""

    errors: dict[tuple[ConsumerKey, str], float] = field(default_factory=dict)
    dropped: dict[ConsumerKey, float] = field(default_factory=dict)
    # cumulative dropped count last reported per (consumer, instance): two consumers may share an instance name
    last_dropped: dict[tuple[ConsumerKey, str], int] = field(default_factory=dict)


MAX_EXCEPTIONS = 50  # distinct exception names kept per consumer; later new ones count as OTHER
MAX_CONSUMERS = 1000  # distinct consumers per telemetry target (cluster); telemetry.max_consumers
OTHER = "other"


class TooManyConsumers(ValueError):
    """A summary of a new consumer when the target already has its maximum of distinct consumers."""


def consumer_key(s: Summary, cluster: str) -> ConsumerKey:
    """The consumer's identity; its cluster is the one the summary was read from, never the payload's
    own ``cluster`` (a consumer must not be able to write into another cluster's series). Names are taken
    as the store keeps them (``safe_label_value``), so counters resumed from the store find their keys."""
    return (cluster, safe_label_value(s.broker), safe_label_value(s.consumer))


def _exception_name(counters: Counters, key: ConsumerKey, exc: str) -> str:
    """``exc``, or OTHER once the consumer already has MAX_EXCEPTIONS distinct names (bounded cardinality)."""
    exc = safe_label_value(exc)
    if (key, exc) in counters.errors:
        return exc
    known = sum(1 for (k, _e) in counters.errors if k == key)
    return exc if known < MAX_EXCEPTIONS - 1 or exc == OTHER else OTHER


def instance_rate(items: list[Summary]) -> float | None:
    """Calls per second of one instance over the span its summaries cover; None if the span is 0."""
    span = max(s.end_ms for s in items) - min(s.start_ms for s in items)
    return sum(s.count for s in items) * 1000.0 / span if span > 0 else None


def tick_samples(summaries: Iterable[Summary], default_cluster: str, now_ms: int,
                 counters: Counters) -> list[Sample]:
    # ``default_cluster``: the cluster the summaries were read from; it is every sample's cluster.
    """Samples for one collection tick (timestamp ``now_ms``); updates ``counters`` in place."""
    groups: dict[ConsumerKey, list[Summary]] = defaultdict(list)
    for s in summaries:
        groups[consumer_key(s, default_cluster)].append(s)
    out: list[Sample] = []
    for key, items in sorted(groups.items()):
        cluster, broker, consumer = key
        labels = {"cluster": cluster, "broker": broker, "consumer": consumer}
        merged = merge_summaries(items)
        for q, v in quantiles(merged.sketch, QUANTILES).items():
            out.append(Sample(PROCESSING, {**labels, "quantile": q}, now_ms, v))
        per_instance: dict[str, list[Summary]] = defaultdict(list)
        for s in items:
            per_instance[s.instance].append(s)
        rates = [r for r in (instance_rate(v) for v in per_instance.values()) if r is not None]
        if rates:
            out.append(Sample(RATE, labels, now_ms, sum(rates)))
        if merged.error_ratio is not None:
            out.append(Sample(ERROR_RATIO, labels, now_ms, merged.error_ratio))
        out.append(Sample(INSTANCES, labels, now_ms, float(len(per_instance))))
        for exc, n in merged.errors.items():
            name = _exception_name(counters, key, exc)
            counters.errors[(key, name)] = counters.errors.get((key, name), 0.0) + n
        for (ckey, exc), total in counters.errors.items():
            if ckey == key:
                out.append(Sample(ERRORS_TOTAL, {**labels, "exception": exc}, now_ms, total))
        for inst, cumulative in merged.dropped_by_instance.items():
            last = counters.last_dropped.get((key, inst), 0)
            delta = cumulative - last if cumulative >= last else cumulative
            counters.last_dropped[(key, inst)] = cumulative
            counters.dropped[key] = counters.dropped.get(key, 0.0) + delta
        out.append(Sample(DROPPED_TOTAL, labels, now_ms, counters.dropped[key]))
    return out


def capped(summaries: list[Summary], cluster: str, counters: Counters, max_consumers: int,
           reject: Callable[[Summary, Exception], None]) -> list[Summary]:
    """``summaries`` without those of consumers beyond the first ``max_consumers`` distinct ones this target
    knows (``counters.dropped`` holds every consumer that ever had a sample); each left out is rejected."""
    known = set(counters.dropped)
    room = max_consumers - len(known)
    kept = []
    for s in summaries:
        key = consumer_key(s, cluster)
        if key not in known:
            if room <= 0:
                reject(s, TooManyConsumers(f"target already has {max_consumers} consumers "
                                           "(telemetry.max_consumers); a new one is not stored"))
                continue
            known.add(key)
            room -= 1
        kept.append(s)
    return kept


def isolated_tick_samples(summaries: list[Summary], cluster: str, now_ms: int, counters: Counters,
                          reject: Callable[[Summary, Exception], None],
                          max_consumers: int = MAX_CONSUMERS) -> list[Sample]:
    """:func:`tick_samples`, but a summary that makes it fail is left out (``reject`` is told why) and
    the others still give their samples; ``counters`` only take what the returned samples carry.

    Isolation goes per consumer: a summary that fails on its own is left out; if the rest of its consumer
    still fails together (e.g. two sketch accuracies that cannot merge), that consumer's summaries are.
    Consumers beyond ``max_consumers`` distinct ones are left out first (bounded series per tick)."""
    summaries = capped(summaries, cluster, counters, max_consumers, reject)
    def works(items: list[Summary]) -> Exception | None:
        try:
            tick_samples(items, cluster, now_ms, copy.deepcopy(counters))
        except (ValueError, TypeError, ArithmeticError) as exc:  # passed decoding, not merging/storing
            return exc
        return None

    if works(summaries) is not None:
        groups: dict[ConsumerKey, list[Summary]] = defaultdict(list)
        for s in summaries:
            groups[consumer_key(s, cluster)].append(s)
        kept: list[Summary] = []
        for items in groups.values():
            if works(items) is None:
                kept += items
                continue
            alone = []
            for s in items:
                exc = works([s])
                if exc is None:
                    alone.append(s)
                else:
                    reject(s, exc)
            together = works(alone) if alone else None
            if together is None:
                kept += alone
            else:
                for s in alone:
                    reject(s, together)
        summaries = kept
    trial = copy.deepcopy(counters)
    out = tick_samples(summaries, cluster, now_ms, trial)
    counters.errors, counters.dropped, counters.last_dropped = trial.errors, trial.dropped, trial.last_dropped
    return out
