"""Inhibition during one evaluation: the store side of ``alerts.inhibit`` (firing alerts, DLQ links).

The evaluator decides rules whose alerts may be inhibition sources first (``order``), and asks
``check`` about each alert it decides; ``check`` sees the alerts firing as this evaluation leaves them
for the rules already decided (``planned``: the stored firing alerts with each decided rule's plan
applied, what a read after writing that plan would see) and as the last evaluation left them for the
others. The evaluator writes every rule's plan at the end of the evaluation, in one transaction.
"""
from __future__ import annotations

import sqlite3
from typing import Mapping, Sequence

from alerts import inhibit
from alerts.decide import Plan
from alerts.rules import Rule
from alerts.silences import alert_labels
from store import alerts as store_alerts
from store import queries


def read_links(conn: sqlite3.Connection) -> inhibit.Links:
    """DLQ links from the latest ``dlq_source_info`` and Kafka group → topic series."""
    links = inhibit.Links()
    for row in _labels(conn, "dlq_source_info"):
        key = (row.get("broker", ""), row.get("cluster", ""), row.get("vhost", ""), row.get("source", ""))
        links.dlqs_of_source.setdefault(key, set()).add(row.get("dlq", ""))
    for row in _labels(conn, "kafka_group_topic_lag_messages"):
        links.topics_of_group.setdefault((row.get("cluster", ""), row.get("group", "")), set()).add(row.get("topic", ""))
    return links


def _labels(conn: sqlite3.Connection, metric: str) -> list[dict[str, str]]:
    """The labels of each current series of ``metric`` (read lean: no data frame for a few label sets)."""
    return [{str(k): str(v) for k, v in queries.load_labels(text).items() if v is not None}
            for _sid, _ts, _value, text in queries.latest_points(conn, metric)]


class Inhibition:
    def __init__(self, conn: sqlite3.Connection, rules: Sequence[Rule], inhibit_rules: Sequence[inhibit.InhibitRule]):
        self.conn = conn
        self.inhibit_rules = list(inhibit_rules)
        self.by_name: dict[str, Rule] = {r.name: r for r in rules}
        self.links = read_links(conn) if self.inhibit_rules else inhibit.Links()
        # possible sources' firing alerts {rule: {group key: alert}}, read once, then updated by planned(); and
        # each rule's alerts matching each inhibit rule's source side, {rule: [alerts per inhibit rule]}
        self._firing_by_rule: dict[str, dict[str, inhibit.Alert]] | None = None
        self._matching: dict[str, list[list[inhibit.Alert]]] = {}
        # each inhibit rule with the firing alerts matching its source side; None: made again before use
        self._firing: list[tuple[inhibit.InhibitRule, list[inhibit.Alert]]] | None = None
        # (rule, the inhibit rules with sources that may target its alerts, with those sources)
        self._for_rule: tuple[str, list[tuple[inhibit.InhibitRule, list[inhibit.Alert]]]] | None = None
        self._targets: dict[tuple[str, str, str, int], bool] = {}
        self._possible_source = {r.name: inhibit.may_be_source(r.name, r.severity, r.labels, self.inhibit_rules)
                                 for r in rules}

    def order(self, rules: Sequence[Rule]) -> list[Rule]:
        """Possible sources first (those that cannot be targets before those that can), else as given."""
        def rank(rule: Rule) -> int:
            static = {**rule.labels, "alertname": rule.name, "severity": rule.severity}
            source = inhibit.may_be_source(rule.name, rule.severity, rule.labels, self.inhibit_rules)
            target = any(all(m.matches(static) for m in r.target if m.label in static) for r in self.inhibit_rules)
            return 0 if source and not target else 1 if source else 2
        return sorted(rules, key=rank)

    def alert(self, rule: Rule, key: str, labels: Mapping[str, str], value: float | None) -> inhibit.Alert:
        return inhibit.alert_of((rule.name, key), rule.metric, alert_labels(rule.name, rule.severity, rule.labels,
                                                                            labels), value, self.links)

    def check(self, rule: Rule, key: str, labels: Mapping[str, str], value: float | None) -> list[str]:
        """Names of the inhibit rules inhibiting this alert now."""
        sources = self.sources_for(rule)
        if not sources:
            return []
        return inhibit.inhibited_by_sources(self.alert(rule, key, labels, value), sources)

    def sources_for(self, rule: Rule) -> list[tuple[inhibit.InhibitRule, list[inhibit.Alert]]]:
        """The inhibit rules that may inhibit alerts of ``rule`` now, each with its firing sources (empty: no
        alert of the rule can be inhibited now, and ``check`` answers [] for every one)."""
        if not self.inhibit_rules:
            return []
        if self._firing is None:
            self._stored_firing()
            self._firing = [(irule, [a for per_rule in self._matching.values() for a in per_rule[j]])
                            for j, irule in enumerate(self.inhibit_rules)]
            self._for_rule = None
        if self._for_rule is None or self._for_rule[0] != rule.name:
            self._for_rule = (rule.name, [(r, srcs) for r, srcs in self._firing if srcs and self._may_target(rule, r)])
        return self._for_rule[1]

    def _stored_firing(self) -> dict[str, dict[str, inhibit.Alert]]:
        if self._firing_by_rule is None:
            self._firing_by_rule = {}
            for row in store_alerts.read_states(self.conn, states=["firing"], shared_labels=True):
                src_rule = self.by_name.get(row["rule"])
                if src_rule is not None and self._possible_source.get(src_rule.name, False):
                    self._firing_by_rule.setdefault(src_rule.name, {})[row["group_key"]] = \
                        self.alert(src_rule, row["group_key"], row["labels"] or {}, row["value"])
            for name in self._firing_by_rule:
                self._match(name)
        return self._firing_by_rule

    def _match(self, name: str) -> None:
        alerts = list(self._stored_firing()[name].values())
        self._matching[name] = [srcs for _irule, srcs in inhibit.sources_by_rule(alerts, self.inhibit_rules)]

    def planned(self, rule: Rule, plan: Plan) -> None:
        """``rule`` was decided: when its alerts may be sources, its firing alerts become those its plan
        leaves (a row written firing fires; a row written in another state or forgotten does not; a row
        not written is kept as stored). Only the evaluator writes states during an evaluation, so this is
        what a read after writing the plan would see, without reading and matching every firing alert
        again for each rule."""
        if not self.inhibit_rules or not self._possible_source.get(rule.name, False):
            return
        firing = self._stored_firing().setdefault(rule.name, {})
        for key in plan.forget:
            firing.pop(key, None)
        for row in plan.rows:
            if row["state"] == "firing":
                firing[row["group_key"]] = self.alert(rule, row["group_key"], row["labels"], row["value"])
            else:
                firing.pop(row["group_key"], None)
        self._match(rule.name)
        self._firing = None

    def _may_target(self, rule: Rule, irule: inhibit.InhibitRule) -> bool:
        """Whether ``irule``'s target side can match alerts of ``rule``: its matchers on ``alertname`` and
        ``severity`` (the same for every alert of a rule, never derived) hold (cached per rule)."""
        ck = (rule.name, rule.severity, irule.name, id(irule))
        hit = self._targets.get(ck)
        if hit is None:
            static = {"alertname": rule.name, "severity": rule.severity}
            hit = self._targets[ck] = all(m.matches(static) for m in irule.target if m.label in static)
        return hit
