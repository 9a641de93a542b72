"""The pure decision of one rule's evaluation (alerts.decide) as tables: what is written, forgotten,
recorded and announced for each stored state × what is observed now. No store: silences and inhibition
come in as functions."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.decide import FORGET_AFTER_MS, GONE_PREFIX, decide
from alerts.rules import rule_from_dict
from alerts.series import group_key

NOW = 1_700_000_000_000
REPEAT = 3_600_000
LAB = {"cluster": "c1", "group": "g1"}
KEY = group_key(LAB)
RULE = rule_from_dict({"name": "lag", "metric": "kafka_group_lag_messages", "threshold": 100, "for_s": 60})
IDENTITY = RULE.identity


def stored(state: str, active: int | None = None, fired: int | None = None, notified: int | None = None,
           resolved: int | None = None, nodata: int | None = None, value: float | None = None,
           identity: str = IDENTITY, silenced_by: list[int] | None = None, clear: int | None = None) -> dict:
    return {"rule": "lag", "group_key": KEY, "labels": LAB, "severity": "warning", "state": state,
            "active_since_ms": active, "fired_at_ms": fired, "last_notified_ms": notified,
            "resolved_at_ms": resolved, "nodata_since_ms": nodata, "value": value, "summary": "",
            "silenced_by": silenced_by, "identity": identity, "inhibited_by": None, "clear_since_ms": clear}


PENDING = stored("pending", NOW - 30_000, value=150.0)
PENDING_LONG = stored("pending", NOW - 60_000, value=150.0)
FIRING = stored("firing", NOW - 120_000, NOW - 60_000, NOW - 60_000, value=150.0)
RESOLVED = stored("resolved", NOW - 120_000, NOW - 60_000, NOW - 60_000, NOW - 30_000, value=5.0)
RESOLVED_NODATA_OLD = stored("resolved", NOW - 3 * FORGET_AFTER_MS, NOW - 3 * FORGET_AFTER_MS,
                             NOW - 3 * FORGET_AFTER_MS, NOW - 2 * FORGET_AFTER_MS,
                             nodata=NOW - FORGET_AFTER_MS - 1)
FIRING_OLD_RULE = {**FIRING, "identity": "an edited rule"}
ABOVE, BELOW, NODATA, GONE = 150.0, 5.0, None, "gone"

# stored row, observed now, expected (written state or None, forgotten, events, announce), why
CASES = [
    (None, BELOW, (None, False, [], False), "quiet and was quiet: nothing written, nothing kept"),
    (None, ABOVE, ("pending", False, ["pending"], False), "a first breach waits out for_s: pending row"),
    (None, NODATA, (None, False, [], False), "no data and no stored state: nothing"),
    (PENDING, ABOVE, ("pending", False, [], False), "still pending inside for_s: the row's value is rewritten"),
    (PENDING_LONG, ABOVE, ("firing", False, ["firing"], False), "for_s elapsed: fires (the event notifies)"),
    (PENDING, BELOW, (None, True, [], False), "cleared while pending: its row is forgotten, nothing recorded"),
    (FIRING, ABOVE, ("firing", False, [], True), "firing, no event: announced if its notification was held"),
    (FIRING, BELOW, ("resolved", False, ["resolved"], False), "cleared: resolved"),
    (FIRING, NODATA, ("firing", False, ["nodata"], True), "no data holds a firing alert (keep)"),
    (FIRING, GONE, ("resolved", False, ["resolved"], False), "its series are gone: resolved at once"),
    (FIRING_OLD_RULE, NODATA, ("resolved", False, ["resolved"], False),
     "the edited rule no longer selects the group: resolved, not no data"),
    (RESOLVED, BELOW, (None, False, [], False), "resolved and quiet: its row is kept as is (no write)"),
    (RESOLVED, ABOVE, ("pending", False, ["pending"], False), "a new incident after a resolved one"),
    (RESOLVED_NODATA_OLD, NODATA, (None, True, [], False), "resolved and without data for a day: forgotten"),
]


def _run(old, observed, **kw):
    previous = {KEY: old} if old is not None else {}
    if observed in (None, GONE):
        keys, labels, values = [], [], np.empty(0)
    else:
        keys, labels, values = [KEY], [LAB], np.array([observed])
    gone = {KEY: NOW - 20_000} if observed == GONE else {}
    return decide(kw.pop("rule", RULE), keys, labels, values, previous, now_ms=NOW, repeat_ms=REPEAT, gone=gone,
                  **kw)


@pytest.mark.parametrize("old,observed,expected,why", CASES, ids=[c[-1] for c in CASES])
def test_decide_table(old, observed, expected, why):
    state, forgotten, events, announce = expected
    plan = _run(old, observed)
    assert [r["state"] for r in plan.rows] == ([state] if state else []), why
    assert plan.forget == ([KEY] if forgotten else []), why
    assert [e.kind for ch in plan.changes for e in ch.events] == events, why
    assert [ch.announce for ch in plan.changes] == ([announce] if events or announce else []), why
    assert plan.groups == (1 if old is not None or observed not in (None, GONE) else 0), why


def test_gone_summary_names_the_reason_and_time():
    plan = _run(FIRING, GONE)
    row, = plan.rows
    assert row["summary"].startswith(GONE_PREFIX) and "cluster=c1, group=g1" in row["summary"]
    assert row["value"] is None and row["nodata_since_ms"] == NOW


MUTE_CASES = [
    # stored, observed, silences, inhibit rules, written silenced_by, inhibited_by, announce, why
    (PENDING_LONG, ABOVE, [7], [], [7], None, False, "a silenced firing is recorded with its silence"),
    (PENDING_LONG, ABOVE, [], ["down"], None, ["down"], False, "an inhibited firing names its inhibit rule"),
    (FIRING, ABOVE, [7], [], [7], None, False, "still silenced: no announcement"),
    (FIRING, ABOVE, [], ["down"], None, ["down"], False, "still inhibited: no announcement"),
    (FIRING, BELOW, [], ["down"], None, None, False, "a resolved alert is not asked about inhibition"),
    (RESOLVED, BELOW, [7], [], [7], None, False, "a newly silenced resolved row is rewritten (its silence shows)"),
]


@pytest.mark.parametrize("old,observed,muted,inhibited,silenced_by,inhibited_by,announce,why", MUTE_CASES,
                         ids=[c[-1] for c in MUTE_CASES])
def test_silences_and_inhibition_table(old, observed, muted, inhibited, silenced_by, inhibited_by, announce, why):
    asked = []

    def inhibit(key, labels, value):
        asked.append(key)
        return list(inhibited)

    plan = _run(old, observed, mute=lambda labels: list(muted), inhibit=inhibit)
    row, = plan.rows
    assert (row["silenced_by"], row["inhibited_by"]) == (silenced_by, inhibited_by), why
    assert any(ch.announce for ch in plan.changes) == announce, why
    assert asked == ([] if row["state"] == "resolved" else [KEY]), why


def test_only_breaching_or_stored_groups_are_stepped():
    """10,000 quiet series and one breaching: one row, and the quiet ones never reach the state machine."""
    keys = [group_key({"p": str(i)}) for i in range(10_000)]
    labels = [{"p": str(i)} for i in range(10_000)]
    values = np.full(10_000, 1.0)
    values[4321] = 500.0
    asked = []
    plan = decide(RULE, keys, labels, values, {}, now_ms=NOW, repeat_ms=REPEAT,
                  inhibit=lambda k, lab, v: asked.append(k) or [])
    assert [r["group_key"] for r in plan.rows] == [keys[4321]] and asked == [keys[4321]]
    assert plan.groups == 10_000


def test_no_data_alerting_keeps_every_group():
    rule = rule_from_dict({"name": "up", "metric": "collector_up", "comparison": "<", "threshold": 1,
                           "no_data": "alerting"})
    plan = decide(rule, [KEY], [LAB], np.array([1.0]), {}, now_ms=NOW, repeat_ms=REPEAT)
    assert [r["state"] for r in plan.rows] == ["inactive"]  # remembered: its series exists
    gone = decide(rule, [], [], np.empty(0), {KEY: {**stored("inactive"), "identity": rule.identity}},
                  now_ms=NOW, repeat_ms=REPEAT)
    assert [e.kind for ch in gone.changes for e in ch.events] == ["firing"]  # no data counts as a breach


def test_keep_firing_for_holds_a_cleared_alert():
    rule = rule_from_dict({"name": "lag", "metric": "kafka_group_lag_messages", "threshold": 100,
                           "for_s": 60, "keep_firing_for_s": 120})
    plan = _run(FIRING, BELOW, rule=rule)
    row, = plan.rows
    assert row["state"] == "firing" and row["clear_since_ms"] == NOW and plan.changes[0].events == []


def _alerts_imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "alerts":
                out |= {f"alerts.{a.name}" for a in node.names}
            elif node.module.startswith("alerts."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("alerts.")}
    return out


def test_alerts_modules_import_no_cycle():
    """Every import between alerts modules, nested ones included, points one way (rules builds on series)."""
    root = Path(__file__).resolve().parents[2] / "alerts"
    graph = {f"alerts.{p.stem}": _alerts_imports(p) for p in root.glob("*.py")}
    assert "alerts.series" in graph["alerts.rules"] and "alerts.rules" not in graph["alerts.series"]
    done: set[str] = set()

    def visit(mod: str, path: tuple[str, ...]) -> None:
        assert mod not in path, " -> ".join((*path, mod))
        if mod in done:
            return
        for dep in graph.get(mod, ()):
            visit(dep, (*path, mod))
        done.add(mod)

    for mod in graph:
        visit(mod, ())


SUMMARIES = [
    "{metric} is {value} ({comparison} {threshold})",
    "{rule}/{severity}: {labels} -> {value}",
    "group {group} on {cluster} lags {value}; {missing} stays ?",
    "{{literal braces}} and {value}",
    "{rule} shadows a label named rule, {group}",
    "no placeholders at all",
    "",
    "{value}",                                # the value alone (the renderer's value-only short cut)
    "{value} over {threshold}, was {value}",  # two values: the general renderer
]


@pytest.mark.parametrize("template", SUMMARIES)
@pytest.mark.parametrize("labels,value", [({"cluster": "c1", "group": "g1", "rule": "x"}, 1234.5),
                                          ({}, None), ({"group": "ü/\u2603"}, -0.0), ({"group": "g"}, 1e21)])
def test_summary_renderer_writes_what_render_summary_writes(template, labels, value):
    from alerts.rules import render_summary, summary_renderer
    rule = rule_from_dict({"name": "lag", "metric": "kafka_group_lag_messages", "threshold": 100.5,
                           "summary": template})
    assert summary_renderer(rule)(labels, value) == render_summary(rule, labels, value)


def _reference(rule, keys, group_labels, values, previous, now_ms, repeat_ms, gone):
    """The decision as evaluate_rule made it before alerts.decide (every group through step): the
    shortcuts of decide must agree with it."""
    from dataclasses import replace

    from alerts.decide import as_state, forget, gone_summary, unchanged_quiet
    from alerts.rules import breaches, render_summary
    from alerts.state import step
    index = {k: i for i, k in enumerate(keys)}
    rows, forgotten, events_out = [], [], []
    for key in sorted(index.keys() | previous.keys()):
        i = index.get(key)
        labels, value = (previous[key]["labels"], None) if i is None else (group_labels[i], float(values[i]))
        breach = None if value is None else breaches(rule, value)
        if breach is None and previous.get(key, {}).get("identity") not in (None, rule.identity):
            breach = False
        if breach is False and key not in previous and rule.no_data != "alerting":
            continue
        old = previous.get(key)
        prev = as_state(old)
        last_seen = gone.get(key) if i is None else None
        kw = dict(for_ms=int(rule.for_s * 1000), repeat_ms=repeat_ms, no_data=rule.no_data, now_ms=now_ms)
        if last_seen is not None:
            new, events = step(prev, False, None, **kw)
            new = replace(new, value=None, nodata_since_ms=prev.nodata_since_ms or now_ms)
        else:
            new, events = step(prev, breach, value, keep_ms=int(rule.keep_firing_for_s * 1000), **kw)
        if forget(rule, new, now_ms):
            if key in previous:
                forgotten.append(key)
            continue
        if not events and old is not None and unchanged_quiet(old, new, rule, rule.identity, []):
            continue
        rows.append((key, new.state, new.active_since_ms, new.fired_at_ms, new.last_notified_ms,
                     new.resolved_at_ms, new.nodata_since_ms, new.value, new.clear_since_ms,
                     gone_summary(labels, last_seen) if last_seen is not None else render_summary(rule, labels, new.value)))
        events_out += [(key, e.kind) for e in events]
    return rows, forgotten, events_out


STATES = st.sampled_from(["inactive", "pending", "firing", "resolved"])
TIMES = st.one_of(st.none(), st.integers(NOW - 2 * FORGET_AFTER_MS, NOW))


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.tuples(st.one_of(st.none(), st.floats(0, 200)), st.one_of(st.none(), STATES), TIMES, TIMES,
                                 st.booleans(), st.booleans()), min_size=1, max_size=8),
       for_s=st.sampled_from([0, 30, 60]), keep_s=st.sampled_from([0, 60]),
       no_data=st.sampled_from(["keep", "ok", "alerting"]), comparison=st.sampled_from([">", "<=", "=="]))
def test_decide_agrees_with_stepping_every_group(groups, for_s, keep_s, no_data, comparison):
    rule = rule_from_dict({"name": "lag", "metric": "kafka_group_lag_messages", "threshold": 100, "for_s": for_s,
                           "keep_firing_for_s": keep_s, "no_data": no_data, "comparison": comparison})
    keys, labels, values, previous, gone = [], [], [], {}, {}
    for n, (value, state, t1, t2, edited, is_gone) in enumerate(groups):
        lab = {"partition": str(n)}
        key = group_key(lab)
        if value is not None:
            keys.append(key), labels.append(lab), values.append(value)
        elif is_gone:
            gone[key] = NOW - 5_000
        if state is not None:
            previous[key] = {**stored(state, t1, t2 if state in ("firing", "resolved") else None, t2,
                                      t1 if state == "resolved" else None, t2 if value is None else None, value),
                             "group_key": key, "labels": lab, "identity": "old" if edited else rule.identity}
    plan = decide(rule, keys, labels, np.array(values, dtype=float), previous, now_ms=NOW, repeat_ms=REPEAT,
                  gone=gone)
    rows, forgotten, events = _reference(rule, keys, labels, np.array(values, dtype=float), previous, NOW, REPEAT,
                                         gone)
    got = [(r["group_key"], r["state"], r["active_since_ms"], r["fired_at_ms"], r["last_notified_ms"],
            r["resolved_at_ms"], r["nodata_since_ms"], r["value"], r["clear_since_ms"], r["summary"])
           for r in plan.rows]
    assert (got, plan.forget) == (rows, forgotten)
    assert [(ch.key, e.kind) for ch in plan.changes for e in ch.events] == events
