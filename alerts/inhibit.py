"""Alert inhibition with Alertmanager's semantics, pure (the evaluator supplies the firing alerts).

An inhibit rule has source matchers, target matchers and ``equal`` labels: while an alert matching
the source matchers fires, every alert matching the target matchers whose ``equal`` labels have the
same values (a missing label equals the empty string) is inhibited: still evaluated, recorded and
shown (as inhibited), but nothing is sent for it; once the inhibition ends a still-firing alert is
announced. An alert matching both sides of a rule is never inhibited by an alert that also matches
both sides (so no alert inhibits itself).

Matching sees the alert's labels (the group's labels, the rule's labels, ``alertname``,
``severity``; ``alerts.silences.alert_labels``) plus derived ones, so the built-ins can be written
as plain rules:

* ``broker`` and ``cluster`` of ``collector_up`` alerts come from their ``target`` label
  (``kafka:<cluster>``, ``rabbitmq:<cluster>``; ``telemetry:…`` targets are left as they are);
  other alerts without a ``broker`` label get it from their metric (``kafka_*``, ``rabbitmq_*``).
* ``status``: the Burrow status name of ``kafka_group_status`` / ``rabbitmq_queue_status`` alerts.
* ``dlq``: for group/queue status alerts, the DLQs linked to what they consume (``Links``); it may
  hold several values, and ``equal`` on it holds when the target's value is one of them.

Built-ins (``BUILTIN_INHIBIT_RULES``): while ``collector-down`` fires for a cluster, that cluster's
other alerts are inhibited; while a consumer group or queue is STOP, ``dlq-growing`` for its
linked DLQ is inhibited. More come from ``alerts.inhibit_rules`` in the configuration.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from alerts.rules import Matcher, RuleError, parse_matchers
from core.codes import STATUS_NAMES, name_of
from core.names import LABEL_RE

STATUS_METRICS = {"kafka_group_status", "rabbitmq_queue_status"}


@dataclass(frozen=True)
class InhibitRule:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    """An alert as inhibition sees it: single-valued labels plus multi-valued derived ones."""

    key: tuple[str, str]  # (rule, group_key)
    labels: Mapping[str, str]
    multi: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def values(self, label: str) -> frozenset[str]:
        return self.multi.get(label) or frozenset({self.labels.get(label, "")})


BUILTIN_INHIBIT_RULES: list[dict[str, Any]] = [
    {"name": "collector-down-inhibits-its-cluster",
     "source_matchers": {"alertname": "collector-down"},
     "target_matchers": {"alertname": {"not": "collector-down"}},
     "equal": ["broker", "cluster"]},
    {"name": "stopped-consumer-inhibits-its-dlq",
     "source_matchers": {"alertname": {"regex": "kafka-group-stalled|rabbitmq-queue-stalled"}, "status": "STOP"},
     "target_matchers": {"alertname": "dlq-growing"},
     "equal": ["broker", "cluster", "vhost", "dlq"]},
]


def parse_rule(spec: Any, where: str) -> InhibitRule:
    """One inhibit rule from YAML; ``RuleError`` naming ``where.<key>`` when it is refused."""
    if not isinstance(spec, Mapping):
        raise RuleError(where, "expected a mapping with source_matchers, target_matchers, equal")
    unknown = set(spec) - {"name", "source_matchers", "target_matchers", "equal"}
    if unknown:
        raise RuleError(f"{where}.{sorted(unknown)[0]}", "unknown key")
    source = parse_matchers(spec.get("source_matchers"), f"{where}.source_matchers")
    target = parse_matchers(spec.get("target_matchers"), f"{where}.target_matchers")
    if not source or not target:
        raise RuleError(where, "needs source_matchers and target_matchers")
    equal = spec.get("equal") or []
    if not isinstance(equal, list) or not all(isinstance(x, str) and LABEL_RE.match(x) for x in equal):
        raise RuleError(f"{where}.equal", "expected a list of label names")
    name = str(spec.get("name") or where)[:128]
    return InhibitRule(name, tuple(source), tuple(target), tuple(equal))


def rules_from(configured: Iterable[Any], with_builtin: bool = True) -> list[InhibitRule]:
    """The built-in rules plus the configured ones (``alerts.inhibit_rules[i]`` in errors)."""
    out = [parse_rule(r, r["name"]) for r in BUILTIN_INHIBIT_RULES] if with_builtin else []
    out += [parse_rule(r, f"alerts.inhibit_rules[{i}]") for i, r in enumerate(configured)]
    return out


@dataclass
class Links:
    """What links a consumer to DLQs: ``(broker, cluster, vhost, source) → DLQs`` from
    ``dlq_source_info`` series, and Kafka ``(cluster, group) → topics`` it consumes."""

    dlqs_of_source: dict[tuple[str, str, str, str], set[str]] = field(default_factory=dict)
    topics_of_group: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def dlqs(self, metric: str, labels: Mapping[str, str]) -> frozenset[str]:
        cluster, vhost = labels.get("cluster", ""), labels.get("vhost", "")
        if metric == "rabbitmq_queue_status":
            return frozenset(self.dlqs_of_source.get(("rabbitmq", cluster, vhost, labels.get("queue", "")), ()))
        if metric == "kafka_group_status":
            out: set[str] = set()
            for topic in self.topics_of_group.get((cluster, labels.get("group", "")), ()):
                out |= self.dlqs_of_source.get(("kafka", cluster, "", topic), set())
            return frozenset(out)
        return frozenset()


def alert_of(key: tuple[str, str], metric: str, labels: Mapping[str, str], value: float | None,
             links: Links | None = None) -> Alert:
    """An alert with its derived labels (see the module docstring); ``labels`` are the alert labels."""
    lab = dict(labels)
    if metric == "collector_up":
        broker, _, cluster = lab.get("target", "").partition(":")
        if broker in ("kafka", "rabbitmq") and cluster:
            lab.setdefault("broker", broker)
            lab.setdefault("cluster", cluster)
    elif "broker" not in lab:
        prefix = metric.split("_", 1)[0]
        if prefix in ("kafka", "rabbitmq"):
            lab["broker"] = prefix
    multi: dict[str, frozenset[str]] = {}
    if metric in STATUS_METRICS:
        if value is not None:
            lab["status"] = name_of(value, STATUS_NAMES)
        if links is not None:
            dlqs = links.dlqs(metric, labels)
            if dlqs:
                multi["dlq"] = dlqs
    return Alert(key, lab, multi)


def _matches(matchers: Iterable[Matcher], alert: Alert) -> bool:
    return all(m.matches(alert.labels) for m in matchers)


def inhibited_by(target: Alert, firing: Iterable[Alert], rules: Iterable[InhibitRule]) -> list[str]:
    """Names of the inhibit rules that inhibit ``target`` given the ``firing`` alerts."""
    return inhibited_by_sources(target, sources_by_rule(firing, rules))


def sources_by_rule(firing: Iterable[Alert], rules: Iterable[InhibitRule]) -> list[tuple[InhibitRule, list[Alert]]]:
    """Each rule with the firing alerts matching its source side (computed once, checked per target)."""
    firing = list(firing)
    return [(rule, [a for a in firing if _matches(rule.source, a)]) for rule in rules]


def inhibited_by_sources(target: Alert, sources: list[tuple[InhibitRule, list[Alert]]]) -> list[str]:
    out: list[str] = []
    for rule, srcs in sources:
        if not srcs or not _matches(rule.target, target):
            continue
        both = _matches(rule.source, target)
        for src in srcs:
            if src.key == target.key or (both and _matches(rule.target, src)):
                continue  # itself, or both match both sides: they cannot inhibit each other
            if all(target.values(lab) & src.values(lab) for lab in rule.equal):
                out.append(rule.name)
                break
    return out


def rules_from_builtin() -> list[InhibitRule]:
    return rules_from([])


def may_be_source(rule_name: str, severity: str, rule_labels: Mapping[str, str],
                  rules: Iterable[InhibitRule]) -> bool:
    """Whether alerts of an alert rule can be inhibition sources: its static labels do not rule it out
    (labels known only per alert — cluster, status… — count as possibly matching)."""
    static = {**rule_labels, "alertname": rule_name, "severity": severity}
    return any(all(m.matches(static) for m in r.source if m.label in static) for r in rules)
