"""The rule editor's pure parts: a metric's unit and help text, label selectors as rows, and the live preview
"matches N series, M over the threshold now" over the store's latest values. No store, no clock, no I/O.

The preview selects and groups exactly as the evaluator does (``alerts.series.PointSet`` and
``alerts.rules.breaches``: same matchers, same staleness, same aggregation), on each series' latest value.
A rule with a range function (``increase`` …) is previewed on latest values too; the editor says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from alerts.rules import Rule, SeriesPoint, breaches, parse_matchers
from alerts.series import PointSet

# --------------------------------------------------------------------------- metrics: unit and help

# Units by the name's last part(s) (core.names: ``<source>_<thing>_<unit>``), longest suffix first.
_UNITS: tuple[tuple[str, str], ...] = (
    ("_rate_per_s", "per second"), ("_per_s", "per second"), ("_seconds_method", "code (0 exact, 1 ≈, 2 ≥, 3 unknown)"),
    ("_seconds", "seconds"), ("_messages", "messages"), ("_ratio", "ratio 0–1 (0.05 = 5 %)"),
    ("_bytes", "bytes"), ("_total", "count since start"), ("_count", "count"), ("_offset", "offset"),
    ("_status", "status code (0 OK, 1 WARN, 2 STALL, 3 STOP, 4 ERR)"), ("_up", "1 up, 0 down"),
    ("_alarm", "1 raised, 0 clear"), ("_info", "1 (labels carry the information)"),
)
# What the metrics operators alert on mean (others get a description built from the name).
HELP: dict[str, str] = {
    "kafka_group_lag_messages": "Messages a consumer group is behind on one partition (end offset − committed).",
    "kafka_group_total_lag_messages": "Messages a consumer group is behind, summed over its partitions.",
    "kafka_group_lag_seconds": "How long ago the oldest unconsumed message of a group's partition was produced.",
    "kafka_group_max_lag_seconds": "A group's worst time lag over its partitions.",
    "kafka_group_status": "Burrow-style status of a group over the status window (OK, WARN, STALL, STOP, ERR).",
    "kafka_group_drain_eta_seconds": "Seconds until a group's lag is 0 at its smoothed net drain rate "
                                     "(about ten years: not draining).",
    "kafka_group_consume_rate_per_s": "Messages a group commits per second.",
    "kafka_topic_produce_rate_per_s": "Messages produced to a topic per second.",
    "rabbitmq_queue_ready_messages": "Messages waiting in a queue, ready for delivery.",
    "rabbitmq_queue_unacked_messages": "Messages delivered to consumers and not yet acknowledged.",
    "rabbitmq_queue_status": "Status of a queue over the status window (OK, WARN, STALL, STOP, ERR).",
    "rabbitmq_queue_drain_eta_seconds": "Seconds until a queue's ready messages are 0 at the smoothed net rate.",
    "rabbitmq_queue_consumers": "Consumers attached to a queue.",
    "rabbitmq_queue_publish_rate_per_s": "Messages published to a queue per second.",
    "rabbitmq_queue_head_age_seconds": "Age of the oldest message at the head of a queue.",
    "dlq_messages": "Messages in a dead-letter queue (or DLQ topic).",
    "dlq_inflow_rate_per_s": "Messages arriving in a dead-letter queue per second.",
    "consumer_error_rate_ratio": "Share of a consumer's messages that failed (0.05 = 5 %).",
    "consumer_processing_seconds": "Time a consumer takes per message (by quantile).",
    "consumer_processed_rate_per_s": "Messages a consumer processed per second.",
}


def unit_of(metric: str) -> str:
    """The unit a metric's values are in, from its name; '' when the name does not say."""
    for suffix, unit in _UNITS:
        if metric.endswith(suffix):
            return unit
    return ""


def help_of(metric: str) -> str:
    """What a metric means: the known text, or one built from its name (``kafka group members``)."""
    if metric in HELP:
        return HELP[metric]
    source, _, thing = metric.partition("_")
    return f"{source.capitalize()}: {thing.replace('_', ' ')}."


def metric_label(metric: str) -> str:
    """A metric as the editor's choice shows it: name and unit."""
    unit = unit_of(metric)
    return f"{metric} ({unit})" if unit else metric


# --------------------------------------------------------------------------- selector rows

# What a row's operator means in the selector's YAML shorthand (alerts.rules.Matcher.parse).
OPS: dict[str, tuple[str, bool]] = {
    "=": ("exact", False), "!=": ("exact", True), "glob": ("glob", False), "not glob": ("glob", True),
    "regex": ("regex", False), "not regex": ("regex", True),
}
_SHORT = {v: k for k, v in OPS.items()}


@dataclass(frozen=True)
class Row:
    """One label condition as the editor shows it: label, operator (``OPS``), value."""

    label: str
    op: str
    value: str


def selector_of(rows: Sequence[Row]) -> dict[str, Any]:
    """The selector (YAML shorthand) of the editor's rows; rows without a label are left out, and a label
    given twice keeps its last row (a selector has one matcher per label). The result is validated by
    ``alerts.rules`` when the rule is built (a bad regex is refused there, naming the label)."""
    out: dict[str, Any] = {}
    for r in rows:
        label = r.label.strip()
        if not label:
            continue
        op, negate = OPS.get(r.op, ("exact", False))
        if op == "exact" and not negate:
            out[label] = r.value
        else:
            key = {"exact": "not", "glob": "not_glob", "regex": "not_regex"}[op] if negate else op
            out[label] = {key: r.value}
    return out


def rows_of(selector: Any) -> list[Row]:
    """The editor's rows of a stored selector (raises ``RuleError`` for one that cannot be read)."""
    return [Row(m.label, _SHORT[(m.op, m.negate)], m.value) for m in parse_matchers(selector, "selector")]


def label_names(points: Sequence[SeriesPoint]) -> list[str]:
    """The label names a metric's series carry, sorted (what a row's label is chosen from)."""
    return sorted({k for p in points for k in p.labels})


def label_values(points: Sequence[SeriesPoint], label: str, limit: int = 50) -> list[str]:
    """Up to ``limit`` distinct values of ``label`` among the series, sorted (shown as a hint)."""
    return sorted({p.labels[label] for p in points if label in p.labels})[:limit]


# --------------------------------------------------------------------------- preview

@dataclass(frozen=True)
class Preview:
    """What a rule would see now: ``matched`` series its selector picks (of ``total``), ``fresh`` of them with
    a value no older than ``stale_after_s``, the ``groups`` it compares (one per series, or per ``by``
    value) and those ``over`` the threshold now, with up to a few examples ``(labels, value)``."""

    total: int
    matched: int
    fresh: int
    groups: int
    over: int
    examples: tuple[tuple[Mapping[str, str], float], ...]

    def text(self) -> str:
        stale = self.matched - self.fresh
        series = f"matches {self.matched} of {self.total} series" + (f" ({stale} stale: no data)" if stale else "")
        if not self.matched:
            return series + "."
        unit = "series" if self.groups == self.fresh else f"group{'s' if self.groups != 1 else ''}"
        return f"{series}, {self.over} of {self.groups} {unit} over the threshold now."


def preview(rule: Rule, points: Sequence[SeriesPoint], now_ms: int, examples: int = 5) -> Preview:
    """The rule's selection and its breaching groups over the latest ``points`` of its metric at ``now_ms``."""
    ps = PointSet(list(points), cache=False)
    matched = len(ps.selected(rule))
    fresh = len(ps.fresh(rule, now_ms))
    values = ps.group_values(rule, now_ms)
    hits = sorted(((lab, v) for lab, v in values.values() if breaches(rule, v)),
                  key=lambda lv: -lv[1] if rule.comparison in (">", ">=") else lv[1])
    return Preview(len(ps.points), matched, fresh, len(values), len(hits), tuple(hits[:examples]))
