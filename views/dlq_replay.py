"""The one replay dialog of the DLQ page: every entry (the ticked messages, the time window, the filters, the
whole DLQ) opens it with a selection; the dialog shows the options (target override, rate, RabbitMQ's
in-flight window, force, and the time range for a filter or whole-DLQ replay) above the dry run, and
Confirm queues exactly what that dry run saw. Nothing is preselected: the operator picks an entry.

``replay_request`` is pure (the request the options make); the dialog's variable part sits in one container
so the Confirm/Cancel row keeps its place when an error appears or goes (no stale copy of the row).
"""
from __future__ import annotations

import json
from typing import Any, Callable

import pandas as pd
import streamlit as st

from dlq import api
from dlq.edit import payload_diff
from dlq.guards import read_only_refusal
from dlq.headers import is_broker_routing_header
from views import cells, common, dlq_schema, frames, ticks

ENTRY_KEY = "replay_entry"   # set by an entry button: the dialog is open while it is set
DONE_KEY = "replay_done"
_OPTION_KEYS = ("replay_target", "replay_rate", "replay_window", "replay_force", "replay_in_range")
_EDIT_KEYS = ("edit_on", "edit_payload", "edit_headers", "edit_schema_on", "edit_schema_payload")
FILTER_NAMES = {"key": "key contains", "reason": "reason contains", "exception_class": "exception class",
                "field": "decoded field"}


def entry(dlq: dict[str, str], selection: dict[str, Any], range_ms: tuple[int, int], in_range: bool) -> dict:
    """What an entry button hands the dialog: the DLQ, the selection without a time range, the page's
    range and whether the dialog starts with the selection limited to it."""
    return {**dlq, "selection": selection, "range_ms": list(range_ms), "in_range": in_range}


def replay_request(ent: dict, *, target: str, rate: float, window: int | None, force: bool,
                   in_range: bool) -> dict:
    """The replay request the dialog's options make of an entry (the ``dlq.api.enqueue_replay`` form).

    A picked selection stays exactly the ticked coordinates (no time range applies); a filter or whole-DLQ
    selection limited to the range becomes a filter with ``from_ms``/``to_ms``; a filter with no criterion
    and no range is the whole DLQ, said as such."""
    sel = dict(ent["selection"])
    if sel["mode"] != "picked":
        criteria = {k: v for k, v in sel.items() if k != "mode" and v not in (None, "")}
        if in_range:
            sel = {"mode": "filter", **criteria, "from_ms": ent["range_ms"][0], "to_ms": ent["range_ms"][1]}
        else:
            sel = {"mode": "filter", **criteria} if criteria else {"mode": "all"}
    req = {"broker": ent["broker"], "cluster": ent["cluster"], "dlq": ent["dlq"], "vhost": ent.get("vhost", "/"),
           "selection": sel, "rate_per_s": float(rate), "force": bool(force),
           "target": ({"topic": target} if ent["broker"] == "kafka" else {"queue": target}) if target else None}
    if window is not None and ent["broker"] == "rabbitmq":
        req["window"] = int(window)
    return req


def describe(sel: dict, fmt_ts: Callable[[int], str]) -> str:
    """The selection in words: ``2 ticked messages (0:1, 0:5)``, ``messages with reason contains 'x'
    dead-lettered 12:00 – 13:00 UTC``, ``every message in the DLQ``."""
    if sel["mode"] == "picked":
        coords = sel.get("coords") or []
        return f"{len(coords)} ticked message{'s' if len(coords) != 1 else ''} " \
               f"({', '.join(ticks.short(c) for c in coords[:ticks.LABEL_COORDS])}" \
               f"{f' +{len(coords) - ticks.LABEL_COORDS} more' if len(coords) > ticks.LABEL_COORDS else ''})"
    if sel["mode"] == "all":
        return "every message in the DLQ"
    parts = [f"{FILTER_NAMES.get(k, k)} {v!r}" for k, v in sel.items()
             if k in FILTER_NAMES and v not in (None, "")]
    text = "messages" + (" with " + ", ".join(parts) if parts else "")
    if sel.get("from_ms") is not None:
        text += f" dead-lettered {fmt_ts(sel['from_ms'])} – {fmt_ts(sel['to_ms'])}"
    return text


def close() -> None:
    for k in (ENTRY_KEY, *_OPTION_KEYS, *_EDIT_KEYS):
        st.session_state.pop(k, None)


@st.cache_data(ttl=15, show_spinner="Dry run…")
def dry_run(_settings, store: str, request_json: str) -> dict:
    return api.dry_run_report(_settings, json.loads(request_json))


def options(ctx, ent: dict) -> dict:
    """Target override, rate, RabbitMQ's window, force and (not for ticked messages) the time range."""
    t1, t2, t3 = st.columns([3, 2, 2])
    target = t1.text_input("Target override (topic or queue; empty: from the headers)", key="replay_target")
    rate = t2.number_input("Rate (messages/s)", min_value=0.1, value=float(ctx.settings.dlq.default_rate_per_s),
                           key="replay_rate")
    window = None
    if ent["broker"] == "rabbitmq":
        window = t3.number_input("Window (unconfirmed publishes)", min_value=1, max_value=10_000,
                                 value=int(ctx.settings.dlq.default_window), step=1, key="replay_window",
                                 help="a crash duplicates at most this many messages (same eventdeck-replay-id); "
                                      "1 is the strict mode")
    else:
        t3.caption("Window: Kafka replays wait for each batch's acks.")
    force = st.checkbox("Force (replay messages already replayed)", key="replay_force")
    in_range = False
    if ent["selection"]["mode"] == "picked":
        st.caption("Time range: none — exactly the ticked messages.")
    else:
        start, end = ent["range_ms"]
        in_range = st.toggle(f"Only messages dead-lettered {common.fmt_ts(start)} – {common.fmt_ts(end)} "
                             "(the page's time range)", value=bool(ent["in_range"]), key="replay_in_range")
    return replay_request(ent, target=target, rate=rate, window=window, force=force, in_range=in_range)


def edit_form(ctx, request: dict, shown: dict[str, dict]) -> dict | None | bool:
    """For one picked message: the operator's edit of payload and headers (None: no edit, False: invalid)."""
    sel = request["selection"]
    coords = sel.get("coords") or []
    if sel["mode"] != "picked" or len(coords) != 1:
        return None
    m = shown.get(coords[0])
    if m is not None and m.get("schema") and m["schema"]["status"] == "decoded":
        return dlq_schema.schema_edit(request, m, ctx.settings)
    limit = ctx.settings.dlq.payload_preview_bytes
    if m is None or m.get("raw_text") is None:
        st.caption("Edit before replay: only for a message on the current page whose whole payload is UTF-8 text "
                   f"of at most {limit} bytes.")
        return None
    if not st.toggle("Edit payload and headers before replay", key="edit_on"):
        return None
    st.caption("The edited copy is published; the original stays in the DLQ until the copy is confirmed "
               "(Kafka never deletes it). The audit keeps both hashes and the diff.")
    payload = st.text_area("Payload", value=m["raw_text"], height=200, key="edit_payload")
    headers_text = st.text_area("Headers (JSON object of name → text; Eventdeck's replay headers are set for you)",
                                value=json.dumps({k: v for k, v in m["headers"].items()  # CC/BCC are never republished
                                                  if not k.startswith("eventdeck-replay-")
                                                  and not is_broker_routing_header(k)}, indent=2,
                                                 ensure_ascii=False), height=150, key="edit_headers")
    slot = st.empty()  # one place for the refusal, present or not: nothing below moves when it comes or goes
    try:
        headers = json.loads(headers_text)
    except ValueError as exc:
        slot.error(f"Headers are not valid JSON: {exc}")
        return False
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        slot.error("Headers must be a JSON object whose values are strings.")
        return False
    diff = payload_diff(m["raw_text"].encode("utf-8"), payload.encode("utf-8"))
    st.caption("Payload diff")
    st.code(diff or "(payload unchanged)", language="diff")
    return {"coord": coords[0], "payload": payload, "headers": headers}


def show_plan(request: dict, report: dict) -> pd.DataFrame:
    """The dry run: how far it looked, the explicit target if any, counts per destination, the rows."""
    st.text(f"Dry run {api.describe_scan(report)}.")  # plain text: never Markdown
    if request.get("target"):
        st.warning("Explicit target chosen by you (overrides the message headers; recorded in the audit log): "
                   + frames.md_escape(json.dumps(request["target"], sort_keys=True), 300))
    plan = pd.DataFrame(report["rows"])
    counts = plan["action"].value_counts() if not plan.empty else pd.Series(dtype=int)
    cols = st.columns(4)
    for col, action in zip(cols, ("replay", "park", "skip", "error")):
        col.metric(action, int(counts.get(action, 0)))
    common.table(pd.DataFrame(report["by_destination"]), "no destination", key="dry_run_destinations")
    common.table(cells.readable(plan, common.fmt_ts), "the selection matches no message", key="dry_run_plan")
    return plan


@st.dialog("Confirm replay", width="large", on_dismiss=close)
def confirm(ctx, ent: dict, shown: dict[str, dict], on_queued: Callable[[dict], None]) -> None:
    """Options, then the dry run of the request they make; Confirm queues the job (operator only, audited)."""
    request = options(ctx, ent)
    with st.container():  # everything that may grow or shrink; the button row below keeps its place
        st.text(f"Replay from {ent['broker']} {ent['cluster']} {ent['dlq']}: "
                f"{describe(request['selection'], common.fmt_ts)}.")
        refusal = api.browse_refusal(ctx.settings, ent["broker"], ctx.user.role)  # a RabbitMQ dry run peeks too
        dry = {k: v for k, v in request.items() if k not in ("rate_per_s", "window")}  # they do not change the plan
        try:
            if refusal:
                raise api.BrowseRefused(refusal)
            report = dry_run(ctx.settings, ctx.settings.store.handle.display, json.dumps(dry, sort_keys=True))
        except Exception as exc:  # broker unreachable or request refused: say why, queue nothing
            st.error(f"Dry run failed: {frames.md_escape(exc, 500)}")
            report = None
        plan = None if report is None else show_plan(request, report)
        with st.container():
            edit = edit_form(ctx, request, shown)
        refused = read_only_refusal(ctx.settings, ent["broker"], ent["cluster"], "replay")
        if refused:
            st.error(refused)
    ok, cancel = st.columns(2)
    # A viewer refused the dry run may still press Confirm: the server-side role check refuses and audits it.
    if ok.button("Confirm replay", type="primary", key="replay_confirm",
                 disabled=edit is False or bool(refused) or (not refusal and (plan is None or plan.empty))):
        # the job replays exactly what this dry run saw (the pin), with the operator's edit if any
        final = {**request, "pin": report["pin"] if report else None, **({"edit": edit} if edit else {})}
        job_id = common.operator_action(  # enqueue_replay commits the job and its audit entry together
            ctx, "dlq.replay.requested", f"{ent['broker']}:{ent['cluster']}:{ent['dlq']}",
            lambda conn: api.enqueue_replay(conn, final, ctx.user.name, common.now_ms()))
        if job_id:
            close()
            on_queued(request)
            st.session_state[DONE_KEY] = job_id
            st.rerun()
    if cancel.button("Cancel", key="replay_cancel"):
        close()
        st.rerun()
