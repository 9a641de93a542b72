"""RabbitMQ page: move the head message of a queue whose consumers keep rejecting it to the queue's DLQ,
behind a confirmation dialog with the dry run (layout only; the work is in ``dlq.rabbit_move``). The dialog
opens from a ``st.session_state`` flag so AppTest can confirm it."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dlq import skip_plan as sp
from dlq.guards import read_only_refusal
from views import common, frames

ACTION_KEY = "queue_action"
DONE_KEY = "queue_action_done"


def _close() -> None:
    st.session_state.pop(ACTION_KEY, None)


def _run(ctx: common.PageContext, action: dict, dry_run: bool, conn=None, expect_id: str | None = None) -> dict:
    from dlq import rabbit_move  # broker clients load only when an action runs

    return rabbit_move.move_head(ctx.settings, conn, action["cluster"], action["queue"], vhost=action["vhost"],
                                 reason=action["reason"], actor=ctx.user.name,
                                 role=ctx.user.role if not dry_run else "operator", dry_run=dry_run,
                                 expect_id=expect_id)


@st.dialog("Confirm: move the head message to the DLQ", width="large", on_dismiss=_close)
def confirm(ctx: common.PageContext, action: dict) -> None:
    st.text(f"Queue {action['queue']} (vhost {action['vhost']}) on RabbitMQ {action['cluster']}. The dry run takes "
            f"the rejected message and requeues it (it is marked redelivered).")
    if "dry" not in action:  # one dry run per dialog: each one requeues the message
        try:
            action["dry"] = _run(ctx, action, dry_run=True)
        except sp.Refused as exc:
            action["dry"] = {"refused": str(exc)}
        except Exception as exc:  # broker unreachable: say why, change nothing
            action["dry"] = {"refused": f"{type(exc).__name__}: {exc}"}
    dry = action["dry"]
    if "refused" in dry:
        st.error(f"Refused: {frames.md_escape(dry['refused'], 1000)}")
    else:
        st.text(dry["plan"])
        st.dataframe(pd.DataFrame([dry["head"]]), hide_index=True, key="move_dry_run")
    ok, cancel = st.columns(2)
    if ok.button("Confirm move", type="primary", disabled="refused" in dry, key="queue_action_confirm"):
        done = common.operator_action(ctx, "rabbitmq.queue.move_head",
                                      f"rabbitmq:{action['cluster']}:{action['vhost']}:{action['queue']}",
                                      lambda conn: _run(ctx, action, False, conn, dry["head"]["move_id"]))
        if done:
            _close()
            st.session_state[DONE_KEY] = f"Moved: {done['plan']}"
            st.rerun()
    if cancel.button("Cancel", key="queue_action_cancel"):
        _close()
        st.rerun()


def render(ctx: common.PageContext, cluster: str, queues: pd.DataFrame) -> None:
    st.subheader("Move a rejected message to the DLQ")
    if (msg := st.session_state.pop(DONE_KEY, None)) is not None:
        st.success(msg)
    refused = read_only_refusal(ctx.settings, "rabbitmq", cluster, "moving a message")
    if refused:
        st.info(refused)
    elif ctx.user.role != "operator":
        st.caption("Moving a message needs the operator role.")
    disabled = bool(refused) or ctx.user.role != "operator" or queues.empty
    if queues.empty:
        return
    labels = {f"{v} {q}" if v != "/" else q: (v, q) for v, q in zip(queues["vhost"], queues["queue"])}
    left, right = st.columns(2)
    pick = left.selectbox("Queue whose head message its consumers keep rejecting", list(labels), key="move_queue",
                          disabled=disabled)
    reason = right.text_input("Reason (travels with the copy)", key="move_reason", disabled=disabled)
    if st.button("Move head message to DLQ…", key="move_open", disabled=disabled or not pick):
        vhost, queue = labels[pick]
        st.session_state[ACTION_KEY] = {"cluster": cluster, "vhost": vhost, "queue": queue, "reason": reason}
    action = st.session_state.get(ACTION_KEY)
    if action and action.get("cluster") == cluster:
        confirm(ctx, action)
