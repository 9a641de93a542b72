"""Kafka page, group view: the operator actions on a stuck group — skip the record at the committed offset to
the DLQ, reset offsets — each behind a confirmation dialog that shows the dry run (layout only; the work is
in ``dlq.group_actions``). The dialog opens from a ``st.session_state`` flag so AppTest can confirm it."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dlq import skip_plan as sp
from dlq.guards import read_only_refusal
from views import common, frames

ACTION_KEY = "group_action"  # the pending action; its dialog is open while it is set
DONE_KEY = "group_action_done"
MODES = {"earliest": "earliest", "latest": "latest", "a time (epoch ms)": "timestamp", "an offset": "offset",
         "shift by N": "shift"}


def _close() -> None:
    st.session_state.pop(ACTION_KEY, None)


def _run(ctx: common.PageContext, action: dict, dry_run: bool, conn=None) -> dict:
    from dlq import group_actions  # broker clients load only when an action runs

    common_args = dict(actor=ctx.user.name, role=ctx.user.role if not dry_run else "operator", dry_run=dry_run)
    if action["kind"] == "skip":
        return group_actions.skip(ctx.settings, conn, action["cluster"], action["group"], action["topic"],
                                  action["partition"], reason=action["reason"], **common_args)
    spec = sp.ResetSpec(action["mode"], action.get("value"))
    return group_actions.reset(ctx.settings, conn, action["cluster"], action["group"], spec, topic=action["topic"],
                               partitions=action.get("partitions"), **common_args)


@st.dialog("Confirm group action", width="large", on_dismiss=_close)
def confirm(ctx: common.PageContext, action: dict) -> None:
    what = "Skip to DLQ" if action["kind"] == "skip" else "Offset reset"
    st.text(f"{what}: group {action['group']} on Kafka {action['cluster']}, topic {action['topic']}"
            + (f" partition {action['partition']}" if action["kind"] == "skip" else ""))
    try:
        report = _run(ctx, action, dry_run=True)
    except sp.Refused as exc:
        st.error(f"Refused: {frames.md_escape(exc, 1000)}")
        report = None
    except Exception as exc:  # broker unreachable: say why, change nothing
        st.error(f"Dry run failed: {type(exc).__name__}: {frames.md_escape(exc, 500)}")
        report = None
    if report is not None:
        st.text(f"Group state: {report.get('state') or 'unknown (the broker does not describe groups)'}; "
                f"no active member")
        if action["kind"] == "skip":
            st.text(report["plan"])
            st.dataframe(pd.DataFrame(report["records"]), hide_index=True, key="skip_dry_run")
        else:
            st.text(f"Reset to {report['spec']}: {report['skipped']:,} records skipped, "
                    f"{report['reread']:,} re-read")
            st.dataframe(pd.DataFrame(report["rows"]), hide_index=True, key="reset_dry_run",
                         column_order=["topic", "partition", "current", "new", "skipped", "reread", "note"])
    ok, cancel = st.columns(2)
    if ok.button("Confirm", type="primary", disabled=report is None or report.get("already_past", False),
                 key="group_action_confirm"):
        target = f"kafka:{action['cluster']}:{action['group']}"
        done = common.operator_action(ctx, f"kafka.group.{action['kind']}", target,
                                      lambda conn: _run(ctx, action, dry_run=False, conn=conn))
        if done:
            _close()
            copies = ", ".join(f"offset {c['offset']} → {c['copy']}" for c in done.get("copies") or [])
            st.session_state[DONE_KEY] = (f"{what}: {done.get('outcome')}" + (f" ({copies}); the group is committed "
                                          f"at {done['commit_to']}" if copies else ""))
            st.rerun()
    if cancel.button("Cancel", key="group_action_cancel"):
        _close()
        st.rerun()


def render(ctx: common.PageContext, cluster: str, group: str, parts: pd.DataFrame) -> None:
    """The action entry points under the group's partition table."""
    st.subheader("Actions on this group")
    if (msg := st.session_state.pop(DONE_KEY, None)) is not None:
        st.success(msg)
    refused = read_only_refusal(ctx.settings, "kafka", cluster, "skip and reset")
    if refused:
        st.info(refused)
    elif ctx.user.role != "operator":
        st.caption("Skip to DLQ and offset reset need the operator role.")
    disabled = bool(refused) or ctx.user.role != "operator" or parts.empty
    st.caption("Kafka refuses offset commits for a group with live members: stop its consumers first "
               "(the dry run lists them).")
    if parts.empty:
        return
    stuck = parts[parts.get("status", pd.Series(dtype=str)).isin(["STOP", "STALL"])] if "status" in parts else parts
    pick = (stuck if not stuck.empty else parts).sort_values(["topic", "partition"])
    choices = [f"{t}[{int(p)}]" for t, p in zip(pick["topic"], pick["partition"])]
    skip_col, reset_col = st.columns(2)
    with skip_col:
        where = st.selectbox("Partition to skip on", choices, key="skip_partition", disabled=disabled)
        reason = st.text_input("Reason (travels with the copy)", key="skip_reason", disabled=disabled)
        if st.button("Skip record at committed offset to DLQ…", key="skip_open", disabled=disabled or not where):
            topic, _, part = where.rpartition("[")
            st.session_state[ACTION_KEY] = {"kind": "skip", "cluster": cluster, "group": group, "topic": topic,
                                            "partition": int(part.rstrip("]")), "reason": reason}
    with reset_col:
        topics = sorted(set(parts["topic"]))
        topic = st.selectbox("Topic to reset", topics, key="reset_topic", disabled=disabled)
        mode = MODES[st.selectbox("Reset to", list(MODES), key="reset_mode", disabled=disabled)]
        value = None
        if mode in ("timestamp", "offset", "shift"):
            value = int(st.number_input("Value", step=1, value=0, key="reset_value", disabled=disabled))
        if st.button("Reset offsets…", key="reset_open", disabled=disabled):
            st.session_state[ACTION_KEY] = {"kind": "reset", "cluster": cluster, "group": group, "topic": topic,
                                            "mode": mode, "value": value}
    action = st.session_state.get(ACTION_KEY)
    if action and action.get("group") == group and action.get("cluster") == cluster:
        confirm(ctx, action)
