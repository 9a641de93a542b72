"""The rule editor's pure parts: a metric's unit and help text, label selectors as rows, and the live preview
"matches N series, M over the threshold now" over the store's latest values. No store, no clock, no I/O.

The preview selects and groups exactly as the evaluator does (``alerts.series.PointSet`` and
``alerts.rules.breaches``: same matchers, same staleness, same aggregation), on each series' latest value.
A rule with a range function (``increase`` …) is previewed on latest values too; the editor says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from alerts.rules import Rule, breaches, parse_matchers
from alerts.series import SeriesPoint
from alerts.series import PointSet
from core import metrics as catalogue

# --------------------------------------------------------------------------- metrics: unit and help

# Units as the editor words them, from the catalogue's unit (core.metrics); codes and 0/1 flags say their
# meaning in the help text, so they get no unit word.
_UNIT_WORDS: dict[str, str] = {"s": "seconds", "msg/s": "messages per second", "calls/s": "calls per second",
                               "ratio": "ratio 0–1 (0.05 = 5 %)", "1": "", "code": ""}


def unit_of(metric: str) -> str:
    """The unit a metric's values are in, from the metric catalogue; '' for codes, flags and unknown metrics."""
    m = catalogue.get(metric)
    return "" if m is None else _UNIT_WORDS.get(m.unit, m.unit)


def help_of(metric: str) -> str:
    """What a metric means: the catalogue's help, or a text built from the name (``Kafka: group members.``) for a
    metric Eventdeck does not write itself."""
    m = catalogue.get(metric)
    if m is not None:
        return m.help if m.help.endswith(".") else m.help + "."
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
    return Preview(len(ps.keys), matched, fresh, len(values), len(hits), tuple(hits[:examples]))
