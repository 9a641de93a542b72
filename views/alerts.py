"""Alerts: firing and pending, rule editor, silences, transition history. Changes need the operator role."""
from __future__ import annotations

import math
from typing import get_args

import pandas as pd
import streamlit as st
import yaml

from alerts import api
from alerts.rules import COMPARISONS, Aggregation, RuleError, Severity, parse_matchers
from alerts.silences import alert_labels, duration_hours, end_after, matching
from core import links
from store import rejects as store_rejects
from views import common, frames

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
    table = pd.DataFrame(rules)
    common.table(table, "no alert rules stored", key="alerts_rules")
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
    editing = st.selectbox("Edit rule", ["(new rule)", *names], key="rule_pick")
    base = next((r for r in rules if r["name"] == editing), {})
    known = sorted(api.known_metrics(ctx.conn))
    with st.form("rule_form"):
        name = st.text_input("Name", value=base.get("name", ""), key="rule_name")
        metric = st.selectbox("Metric", known, index=known.index(base["metric"]) if base.get("metric") in known else 0)
        selector = st.text_area("Selector (YAML: label: value | {glob: ..} | {regex: ..})",
                                value=yaml.safe_dump(base.get("selector") or {}, sort_keys=True).strip()
                                if base.get("selector") else "")
        a1, a2, a3 = st.columns(3)
        aggs = list(get_args(Aggregation))
        aggregation = a1.selectbox("Aggregation", aggs, index=_pick(aggs, base.get("aggregation")))
        stored_by = base.get("by") if isinstance(base.get("by"), list) else []
        by = a2.text_input("By labels (comma separated)", value=",".join(str(b) for b in stored_by))
        comps = list(COMPARISONS)
        comparison = a3.selectbox("Comparison", comps, index=_pick(comps, base.get("comparison")))
        b1, b2, b3 = st.columns(3)
        threshold = b1.number_input("Threshold", value=_number(base.get("threshold")))
        for_s = b2.number_input("For (s)", min_value=0.0, max_value=366 * 86400.0,
                                value=min(max(_number(base.get("for_s")), 0.0), 366 * 86400.0))
        sevs = list(get_args(Severity))
        severity = b3.selectbox("Severity", sevs, index=_pick(sevs, base.get("severity"), 1))
        summary = st.text_input("Summary", value=base.get("summary", "{metric} is {value} ({comparison} {threshold})"))
        enabled = st.checkbox("Enabled", value=base.get("enabled", True))
        save = st.form_submit_button("Save rule")
    if save:
        try:
            sel = yaml.safe_load(selector) if selector.strip() else {}
        except yaml.YAMLError as exc:
            sel = None
            st.error(f"selector: not valid YAML: {frames.md_escape(exc, 500)}")
        if sel is not None:
            spec = {**{k: v for k, v in base.items() if k not in ("builtin", "updated_ms", "updated_by", "error")},
                    "name": name, "metric": metric, "selector": sel, "aggregation": aggregation,
                    "by": [b.strip() for b in by.split(",") if b.strip()], "comparison": comparison,
                    "threshold": threshold, "for_s": for_s, "severity": severity, "summary": summary,
                    "enabled": enabled}
            if common.operator_action(ctx, "alert_rule.save", name or "?",
                                      lambda conn: api.save_rule(conn, spec, ctx.user.name, common.now_ms())):
                st.success(f"Rule {name} saved.")
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
        preview = p1.form_submit_button("Preview matches")
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
