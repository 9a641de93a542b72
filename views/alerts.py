"""Alerts: firing and pending, rule editor, silences, transition history. Changes need the operator role."""
from __future__ import annotations

import math
from typing import get_args

import pandas as pd
import streamlit as st
import yaml

from alerts import api, preview
from alerts.evaluator import series_points
from alerts.rules import COMPARISONS, Aggregation, RuleError, Severity, parse_matchers, rule_from_dict
from alerts.silences import alert_labels, duration_hours, end_after, matching
from core import links
from store import rejects as store_rejects
from views import cells, common, frames, units

ctx = common.page("Alerts")
RESOLVED_SHOWN_MS = 3_600_000
GONE_PREFIX = api.GONE_PREFIX  # the summary of an alert resolved because its entity is gone

firing = api.alerts(ctx.conn, ["firing"])
pending = api.alerts(ctx.conn, ["pending"])
resolved = api.alerts(ctx.conn, ["resolved"])
resolved = resolved[resolved["resolved_at_ms"].fillna(0) >= ctx.now_ms - RESOLVED_SHOWN_MS] if not resolved.empty \
    else resolved
rules = api.list_rules(ctx.conn)
silences = api.list_silences(ctx.conn, ctx.now_ms)
c1, c2, c3, c4 = st.columns(4)
inhibited = int(firing["inhibited_by"].notna().sum()) if not firing.empty else 0
c1.metric("Firing", len(firing), delta=f"{inhibited} inhibited" if inhibited else None, delta_color="off")
c2.metric("Pending", len(pending))
c3.metric("Rules", len(rules))
c4.metric("Active silences", int(silences["active"].sum()) if not silences.empty else 0)

def _number(v: object) -> float:
    """A stored rule's number as a form default; 0 for anything a refused rule may hold (inf, text)."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return f if math.isfinite(f) else 0.0


def _pick(options: list[str], value: object, default: int = 0) -> int:
    return options.index(value) if value in options else default


SHOWN = ["rule", "labels", "view", "severity", "state", "summary", "value", "since", "silenced_by", "inhibited_by"]
_PREFILL = "silence_prefill"  # matchers YAML a "Silence…" on an alert row put into the silence form


def _labels_text(lab: object) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((lab or {}).items())) if isinstance(lab, dict) else ""


def _silence_labels(row: dict) -> dict[str, str]:
    return alert_labels(str(row["rule"]), str(row["severity"]), {}, row.get("labels") or {})


_EDITOR_KEY = "rule_rows"  # ids of the selector rows on screen; each row's widgets are keyed by its id
_AGGS = list(get_args(Aggregation))  # the rule model's choices (alerts.rules), one definition
_COMPS = list(COMPARISONS)
_SEVS = list(get_args(Severity))


def _by_name(rules: list[dict], name: str) -> dict:
    return next((r for r in rules if r["name"] == name), {})


def _load_rule(base: dict, known: list[str]) -> None:
    """Put ``base`` (a stored rule, or {} for a new one) into the editor's widgets."""
    state = st.session_state
    for k in list(state):
        if isinstance(k, str) and k.startswith("rule_row_"):
            del state[k]
    stored_by = base.get("by") if isinstance(base.get("by"), list) else []
    state.update({
        "rule_name": base.get("name", ""), "rule_metric": base["metric"] if base.get("metric") in known else
        (known[0] if known else None), "rule_agg": _AGGS[_pick(_AGGS, base.get("aggregation"))],
        "rule_by": ",".join(str(b) for b in stored_by), "rule_comp": _COMPS[_pick(_COMPS, base.get("comparison"))],
        "rule_threshold": _number(base.get("threshold")),
        "rule_for": min(max(_number(base.get("for_s")), 0.0), 366 * 86400.0),
        "rule_severity": _SEVS[_pick(_SEVS, base.get("severity"), 1)],
        "rule_summary": base.get("summary", "{metric} is {value} ({comparison} {threshold})"),
        "rule_enabled": bool(base.get("enabled", True))})
    try:
        rows = preview.rows_of(base.get("selector") or {})
    except RuleError as exc:  # a refused stored selector: start with no rows and say why
        rows = []
        state["rule_selector_error"] = str(exc)
    else:
        state.pop("rule_selector_error", None)
    state[_EDITOR_KEY] = list(range(len(rows)))
    state["rule_row_next"] = len(rows)
    for i, r in enumerate(rows):
        state[f"rule_row_{i}_label"], state[f"rule_row_{i}_op"], state[f"rule_row_{i}_value"] = r.label, r.op, r.value


def _add_row() -> None:
    i = st.session_state.get("rule_row_next", 0)
    st.session_state["rule_row_next"] = i + 1
    st.session_state[_EDITOR_KEY] = [*st.session_state.get(_EDITOR_KEY, []), i]


def _drop_row(i: int) -> None:
    st.session_state[_EDITOR_KEY] = [r for r in st.session_state.get(_EDITOR_KEY, []) if r != i]


def selector_rows(points: list) -> list[preview.Row]:
    """The selector as rows: label (chosen from the metric's labels), operator, value; add and remove rows."""
    names = preview.label_names(points)
    rows = []
    st.caption("Label conditions (all must hold; none: every series of the metric)")
    for i in st.session_state.get(_EDITOR_KEY, []):
        c1, c2, c3, c4 = st.columns([3, 2, 4, 1], vertical_alignment="bottom")
        current = st.session_state.get(f"rule_row_{i}_label")
        options = names + ([current] if current and current not in names else [])
        label = c1.selectbox("Label", options, key=f"rule_row_{i}_label", accept_new_options=True)
        op = c2.selectbox("Operator", list(preview.OPS), key=f"rule_row_{i}_op")
        seen = preview.label_values(points, label, 8) if label else []
        value = c3.text_input("Value", key=f"rule_row_{i}_value",
                              help=("Values now: " + ", ".join(seen)) if seen else None)
        c4.button("✕", key=f"rule_row_{i}_del", on_click=_drop_row, args=(i,), help="remove this condition")
        rows.append(preview.Row(label or "", op, value))
    st.button("Add condition", key="rule_row_add", on_click=_add_row)
    return rows


def rule_editor(base: dict, known: list[str]) -> tuple[dict | None, bool]:
    """The rule form with a live preview; returns (the rule spec or None if it is refused, Save pressed)."""
    if st.session_state.get("rule_selector_error"):
        st.warning(f"The stored selector cannot be read ({frames.md_escape(st.session_state['rule_selector_error'], 300)}"
                   "): its conditions are not shown; saving replaces them.")
    name = st.text_input("Name", key="rule_name")
    metric = st.selectbox("Metric", known, key="rule_metric", format_func=preview.metric_label)
    if metric:
        st.caption(f"{frames.md_escape(preview.help_of(metric), 300)}"
                   + (f" Unit: {preview.unit_of(metric)}." if preview.unit_of(metric) else ""))
    points = series_points(ctx.conn, metric) if metric else []
    rows = selector_rows(points)
    a1, a2, a3 = st.columns(3)
    aggregation = a1.selectbox("Aggregation", _AGGS, key="rule_agg")
    by = a2.text_input("By labels (comma separated)", key="rule_by")
    comparison = a3.selectbox("Comparison", _COMPS, key="rule_comp")
    b1, b2, b3 = st.columns(3)
    threshold = b1.number_input("Threshold" + (f" ({preview.unit_of(metric)})" if metric and preview.unit_of(metric)
                                               else ""), key="rule_threshold")
    for_s = b2.number_input("For (s)", min_value=0.0, max_value=366 * 86400.0, key="rule_for")
    severity = b3.selectbox("Severity", _SEVS, key="rule_severity")
    summary = st.text_input("Summary", key="rule_summary")
    enabled = st.checkbox("Enabled", key="rule_enabled")
    spec = {**{k: v for k, v in base.items() if k not in ("builtin", "updated_ms", "updated_by", "error")},
            "name": name, "metric": metric, "selector": preview.selector_of(rows), "aggregation": aggregation,
            "by": [b.strip() for b in by.split(",") if b.strip()], "comparison": comparison,
            "threshold": threshold, "for_s": for_s, "severity": severity, "summary": summary, "enabled": enabled}
    try:
        rule = rule_from_dict({**spec, "name": name or "preview"})
    except RuleError as exc:
        st.warning(f"Not a valid rule yet: {frames.md_escape(exc, 500)}")
        rule = None
    if rule is not None:
        seen = preview.preview(rule, points, ctx.now_ms)
        note = "" if rule.range_function == "last" else f" (on latest values; the rule uses {rule.range_function})"
        st.info(f"Preview: {frames.md_escape(seen.text())}{note}", icon=":material/visibility:")
        if seen.examples:
            st.dataframe(pd.DataFrame([{"labels": _labels_text(lab), "value now": units.significant(v)}
                                       for lab, v in seen.examples]), hide_index=True, key="rule_preview")
    save = st.button("Save rule", key="rule_save", type="primary")
    return (spec if rule is not None or save else None), save


tab_now, tab_rules, tab_silences, tab_history = st.tabs(["Firing & pending", "Rules", "Silences", "History"],
                                                        key=links.ALERTS_TAB, bind="query-params")
with tab_now:
    now_df = pd.concat([firing, pending], ignore_index=True)
    if now_df.empty:
        st.success("Nothing firing or pending.")
    else:
        view = now_df["labels"].map(lambda lab: links.link_for("", lab or {}))  # relative: this dashboard
        st.dataframe(now_df.assign(since=now_df["active_since_ms"].map(common.fmt_ts), view=view,
                                   labels=now_df["labels"].map(_labels_text))[SHOWN],
                     hide_index=True, key="alerts_now",
                     column_config={"view": st.column_config.LinkColumn("view", display_text="open view")})
        rows = now_df.to_dict("records")
        s1, s2 = st.columns([4, 1])
        pick = s1.selectbox("Alert to silence", range(len(rows)), key="silence_alert_pick",
                            format_func=lambda i: f"{rows[i]['rule']} · {_labels_text(rows[i]['labels'])}")
        if s2.button("Silence…", key="silence_from_alert"):
            lab = _silence_labels(rows[pick])
            lab.pop("severity", None)
            st.session_state[_PREFILL] = yaml.safe_dump(lab, sort_keys=True, allow_unicode=True).strip()
            st.session_state["silence_matchers"] = st.session_state[_PREFILL]
            st.info("The silence form (tab Silences) is filled with this alert's labels: set a duration and a reason.")
    if not resolved.empty:
        gone = resolved["summary"].fillna("").str.startswith(GONE_PREFIX)
        st.subheader("Resolved in the last hour")
        st.caption(f"{int(gone.sum())} resolved because their entity is gone (no longer reported by its collector)"
                   if gone.any() else "Resolved because their condition cleared.")
        st.dataframe(resolved.assign(
            reason=gone.map({True: "gone", False: "condition cleared"}),
            labels=resolved["labels"].map(lambda lab: ", ".join(f"{k}={v}" for k, v in sorted((lab or {}).items()))),
            resolved=resolved["resolved_at_ms"].map(common.fmt_ts))[
            ["rule", "severity", "labels", "reason", "resolved", "summary"]],
            hide_index=True, key="alerts_resolved")

with tab_rules:
    table = pd.DataFrame(rules)  # selectors and labels as "name: value" text, times readable (views.cells)
    common.table(cells.readable(table, common.fmt_ts), "no alert rules stored", key="alerts_rules")
    for r in rules:  # a refused rule is not evaluated; the others are
        if r.get("error"):
            st.warning(f"Rule {frames.md_escape(r.get('name'))} is not evaluated: {frames.md_escape(r['error'], 500)}")
    failed = store_rejects.recent_examples(ctx.conn, 200)
    failed = failed[failed["source"].isin(["alert_rule", "silence"])].head(10)
    if not failed.empty:
        st.caption("Recent rule and silence errors (the other rules were evaluated)")
        st.dataframe(failed.assign(time=failed["ts_ms"].map(common.fmt_ts))[["time", "source", "reason", "text"]],
                     hide_index=True, key="alerts_rule_errors")
    names = [r["name"] for r in rules]
    known = sorted(api.known_metrics(ctx.conn))
    editing = st.selectbox("Edit rule", ["(new rule)", *names], key="rule_pick",
                           on_change=lambda: _load_rule(_by_name(rules, st.session_state["rule_pick"]), known))
    base = _by_name(rules, editing)
    if "rule_name" not in st.session_state:  # first visit (widget state is dropped when the page is left)
        _load_rule(base, known)
    spec, save = rule_editor(base, known)
    if save and spec is not None:
        if common.operator_action(ctx, "alert_rule.save", spec["name"] or "?",
                                  lambda conn: api.save_rule(conn, spec, ctx.user.name, common.now_ms())):
            st.success(f"Rule {frames.md_escape(spec['name'])} saved.")
    if base and not base.get("builtin") and st.button(f"Delete rule {editing}", key="rule_delete"):
        if common.operator_action(ctx, "alert_rule.delete", editing,
                                  lambda conn: api.delete_rule(conn, editing, ctx.user.name, common.now_ms())):
            st.success(f"Rule {editing} deleted.")
    st.download_button("Export rules as YAML", api.export_yaml(ctx.conn), file_name="eventdeck-rules.yaml",
                       key="rules_export")

with tab_silences:
    if silences.empty:
        st.info("No silences.")
    else:
        st.dataframe(silences.assign(start=silences["start_ms"].map(common.fmt_ts),
                                     end=silences["end_ms"].map(common.fmt_ts)), hide_index=True, key="silences")
    with st.form("silence_form"):
        matchers = st.text_area("Matchers (YAML, e.g. `alertname: kafka-group-stalled` or `group: orders`)",
                                key="silence_matchers")
        duration = st.text_input("Duration (30m, 2h, 1d)", value="2h", key="silence_duration")
        reason = st.text_input("Reason", key="silence_reason")
        p1, p2 = st.columns(2)
        p1.form_submit_button("Preview matches")
        add = p2.form_submit_button("Add silence")
    try:
        parsed = yaml.safe_load(matchers) if matchers.strip() else None
    except yaml.YAMLError as exc:
        parsed = None
        st.error(f"matchers: not valid YAML: {frames.md_escape(exc, 500)}")
    if parsed is not None:
        try:
            now_rows = pd.concat([firing, pending], ignore_index=True).to_dict("records")
            hit = matching(parse_matchers(parsed, "matchers"), [_silence_labels(r) for r in now_rows])
            st.caption(f"Would silence {len(hit)} of the {len(now_rows)} firing or pending alerts"
                       + (": " + "; ".join(f"{now_rows[i]['rule']} ({_labels_text(now_rows[i]['labels'])})"
                                           for i in hit[:10]) if hit else "."))
        except RuleError as exc:
            st.error(f"{frames.md_escape(exc, 500)}")
            parsed = None
    if add and parsed is not None:
        try:
            hours = duration_hours(duration)
        except RuleError as exc:
            hours = None
            st.error(f"{frames.md_escape(exc, 500)}")
        if hours is not None:
            start = common.now_ms()
            sid = common.operator_action(ctx, "alert_silence.add", "silence", lambda conn: api.add_silence(
                conn, parsed, start, end_after(start, hours), ctx.user.name, reason, start))
            if sid:
                st.success(f"Silence {sid} added.")
    active = silences[silences["active"]]["id"].tolist() if not silences.empty else []
    if active:
        expire = st.selectbox("Expire silence", active, key="silence_pick")
        if st.button("Expire now", key="silence_expire"):
            if common.operator_action(ctx, "alert_silence.expire", f"silence:{expire}",
                                      lambda conn: api.expire_silence(conn, expire, ctx.user.name, common.now_ms())):
                st.success(f"Silence {expire} expired.")

with tab_history:
    hist = api.history(ctx.conn, 200)
    common.table(hist.assign(time=hist["ts_ms"].map(common.fmt_ts)) if not hist.empty else hist,
                 "no alert transitions yet", key="alerts_history")
