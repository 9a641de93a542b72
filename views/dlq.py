"""DLQ: browse a dead-letter queue (or its parking lot), pick messages in the table or a time window,
replay them after a dry-run confirmation (one picked message may be edited first), follow jobs, audit.

The DLQ, its parking lot, the filters and the page are URL query parameters (``core.links``), so a
link opens exactly this view. Broker-supplied text is shown as plain text (tables, ``st.code``,
text areas), never as Markdown.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core import links, metrics
from dlq import api
from dlq.edit import payload_diff
from dlq.guards import read_only_refusal
from dlq.headers import is_broker_routing_header
from store import status
from store.dlq import ACTIVE  # the replay job states that hold a DLQ
from views import common, dlq_schema, dlq_search, frames, ticks

PAGE_SIZE = 50
_REQUEST_KEY = "replay_request"   # set by a Replay button; the confirmation dialog is open while it is set
_DONE_KEY = "replay_done"
_PENDING_KEY = "replay_pending_selection"  # a selection from the table or the time window, waiting for a request
_EDIT_KEYS = ("edit_on", "edit_payload", "edit_headers")
_TICKS_KEY = "dlq_ticked"        # {DLQ id: [coords]}: the ticked messages, by coordinate (views.ticks)
_HELD_KEY = "dlq_held"           # {"view": ..., "msgs": [...]}: the list last shown (held while anything is ticked)
_TABLE_KEY = "dlq_messages_key"  # the messages table's current widget key (it changes with the rows)

ctx = common.page("DLQ", needs=lambda s: s.has_brokers,
                  missing="no broker cluster (kafka.clusters, rabbitmq.clusters)")
limit = ctx.settings.dlq.payload_preview_bytes


# ``store`` only keys the caches (one per store); ``_settings`` is not hashed.
@st.cache_data(ttl=15, show_spinner="Reading the DLQ from the broker…")
def browse(_settings, store: str, broker: str, cluster: str, dlq: str, vhost: str, page: int,
           filters: tuple[tuple[str, object], ...]) -> list[dict]:
    extra = {"vhost": vhost} if broker == "rabbitmq" else {}
    return api.browse(_settings, broker, cluster, dlq, page, PAGE_SIZE, **extra, **dict(filters))


@st.cache_data(ttl=15, show_spinner="Dry run…")
def dry_run(_settings, store: str, request_json: str) -> dict:
    return api.dry_run_report(_settings, json.loads(request_json))


def _close_dialog() -> None:
    st.session_state.pop(_REQUEST_KEY, None)
    for k in _EDIT_KEYS:
        st.session_state.pop(k, None)


def edit_form(request: dict, shown: dict[str, dict]) -> dict | None | bool:
    """For one picked message: the operator's edit of payload and headers (None: no edit, False: invalid)."""
    sel = request["selection"]
    coords = sel.get("coords") or []
    if sel["mode"] != "picked" or len(coords) != 1:
        return None
    m = shown.get(coords[0])
    if m is not None and m.get("schema") and m["schema"]["status"] == "decoded":
        return dlq_schema.schema_edit(request, m, ctx.settings)
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
    try:
        headers = json.loads(headers_text)
    except ValueError as exc:
        st.error(f"Headers are not valid JSON: {exc}")
        return False
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        st.error("Headers must be a JSON object whose values are strings.")
        return False
    diff = payload_diff(m["raw_text"].encode("utf-8"), payload.encode("utf-8"))
    st.caption("Payload diff")
    st.code(diff or "(payload unchanged)", language="diff")
    return {"coord": coords[0], "payload": payload, "headers": headers}


@st.dialog("Confirm replay", width="large", on_dismiss=_close_dialog)
def confirm(request: dict, shown: dict[str, dict]) -> None:
    """The dry run of ``request``; Confirm queues the job (operator only, audited)."""
    st.text(f"Replay from {request['broker']} {request['cluster']} {request['dlq']} "
            f"({request['selection']['mode']} messages).")
    refusal = api.browse_refusal(ctx.settings, request["broker"], ctx.user.role)  # a RabbitMQ dry run peeks too
    try:
        if refusal:
            raise api.BrowseRefused(refusal)
        report = dry_run(ctx.settings, ctx.settings.store.handle.display, json.dumps(request, sort_keys=True))
    except Exception as exc:  # broker unreachable or request refused: say why, queue nothing
        st.error(f"Dry run failed: {frames.md_escape(exc, 500)}")
        report = None
    plan = None if report is None else _show_plan(request, report)
    edit = edit_form(request, shown)
    refused = read_only_refusal(ctx.settings, request["broker"], request["cluster"], "replay")
    if refused:
        st.error(refused)
    ok, cancel = st.columns(2)
    # A viewer refused the dry run may still press Confirm: the server-side role check refuses and audits it.
    if ok.button("Confirm replay", type="primary", key="replay_confirm",
                 disabled=edit is False or bool(refused) or (not refusal and (plan is None or plan.empty))):
        # the job replays exactly what this dry run saw (the pin), with the operator's edit if any
        final = {**request, "pin": report["pin"] if report else None, **({"edit": edit} if edit else {})}
        job_id = common.operator_action(  # enqueue_replay commits the job and its audit entry together
            ctx, "dlq.replay.requested", f"{request['broker']}:{request['cluster']}:{request['dlq']}",
            lambda conn: api.enqueue_replay(conn, final, ctx.user.name, common.now_ms()))
        if job_id:
            _close_dialog()
            if request["selection"]["mode"] == "picked":  # replayed: the ticks have done their job
                st.session_state.get(_TICKS_KEY, {}).pop(_dlq_id(request), None)
                st.session_state.pop(_HELD_KEY, None)
            st.session_state[_DONE_KEY] = job_id
            st.rerun()
    if cancel.button("Cancel", key="replay_cancel"):
        _close_dialog()
        st.rerun()


def _show_plan(request: dict, report: dict) -> pd.DataFrame:
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
    common.table(plan, "the selection matches no message", key="dry_run_plan")
    return plan


def _guarded_browse(broker: str, cluster: str, name: str, vhost: str, page: int, filters: dict) -> list[dict]:
    """Browse unless the role may not (RabbitMQ: dlq.rabbit_browse_role); say what a RabbitMQ browse does."""
    refusal = api.browse_refusal(ctx.settings, broker, ctx.user.role)
    if refusal:
        raise api.BrowseRefused(refusal)
    if broker == "rabbitmq":
        st.caption(api.RABBIT_BROWSE_NOTE + " A queue is never browsed while a replay job runs on it.")
    return browse(ctx.settings, ctx.settings.store.handle.display, broker, cluster, name, vhost, page,
                  tuple((k, v) for k, v in filters.items() if v))


def pick_dlq(dlqs: list[dict]) -> tuple[str, str, str, str, bool]:
    """The DLQ picker (and its parking-lot switch): broker, cluster, name to browse, vhost, parking."""
    chosen = st.selectbox("DLQ", dlqs, key=links.DLQ, bind="query-params",
                          format_func=lambda d: links.dlq_label(d["broker"], d["cluster"], d.get("vhost"), d["dlq"]))
    vhost = chosen.get("vhost") if isinstance(chosen.get("vhost"), str) else "/"
    suffix = ctx.settings.dlq.parking_suffix
    parking = st.toggle(f"Parking lot ({frames.md_escape(chosen['dlq'] + suffix)}: messages replayed too often)",
                        key=links.DLQ_PARKING, bind="query-params")  # widget labels are Markdown: escape the name
    name = chosen["dlq"] + suffix if parking else chosen["dlq"]
    return chosen["broker"], chosen["cluster"], name, vhost, parking


def filter_row() -> tuple[dict, int, bool]:
    """Text filters, page number, and whether to show only messages in the page's time range."""
    f1, f2, f3, f4, f5 = st.columns([3, 3, 3, 2, 2])
    filters = {"key": f1.text_input("Key contains", key=links.DLQ_KEY, bind="query-params"),
               "reason": f2.text_input("Reason contains", key=links.DLQ_REASON, bind="query-params"),
               "exception_class": f3.text_input("Exception class", key=links.DLQ_EXC, bind="query-params")}
    page = int(f4.number_input("Page", min_value=0, max_value=ctx.settings.dlq.browse_max_page, value=0, step=1,
                               key=links.DLQ_PAGE, bind="query-params"))
    in_window = f5.toggle("In range only", key="f_window", bind="query-params",
                          help="only messages dead-lettered in the time range picked in the sidebar")
    filters.update(dlq_schema.field_filter())
    return filters, page, in_window


def _dlq_id(d: dict) -> str:
    return links.dlq_label(d["broker"], d["cluster"], d.get("vhost") if d["broker"] == "rabbitmq" else None, d["dlq"])


def held_messages(dlq_id: str, view: str, fresh: list[dict]) -> list[dict]:
    """What the table shows: the fresh read, or, while messages of this DLQ are ticked, the list the operator
    ticked them on (the rows do not move under the ticks); then "N new messages — refresh" says what waits.
    The previous table's selection is folded into the ticks first, by coordinate."""
    held = st.session_state.get(_HELD_KEY)
    all_ticks = st.session_state.setdefault(_TICKS_KEY, {})
    if held and held["view"] == view:
        prev = st.session_state.get(st.session_state.get(_TABLE_KEY, ""))
        if prev is not None:
            shown = [m["coord"] for m in held["msgs"]]
            all_ticks[dlq_id] = ticks.merge(all_ticks.get(dlq_id, []), shown, prev["selection"]["rows"])
    if all_ticks.get(dlq_id) and held and held["view"] == view:
        new = ticks.arrivals([m["coord"] for m in held["msgs"]], [m["coord"] for m in fresh])
        if new:
            c1, c2 = st.columns([4, 1])
            c1.info(f"{new} new message{'s' if new != 1 else ''} — refresh to show them (the list holds still "
                    "while messages are ticked; your ticks stay on their messages).", icon=":material/update:")
            if c2.button("Show new messages", key="dlq_show_new"):
                st.session_state[_HELD_KEY] = {"view": view, "msgs": fresh}
                st.rerun()
        return held["msgs"]
    st.session_state[_HELD_KEY] = {"view": view, "msgs": fresh}
    return fresh


def message_table(msgs: list[dict], ticked: list[str]) -> None:
    """The messages, with row selection mapped to the ticked coordinates (``views.ticks``)."""
    shown = pd.DataFrame([{"coord": m["coord"], "time": common.fmt_ts(m["timestamp_ms"]),
                           "mark": "malformed header" if m.get("header_error") else "",
                           "key": frames.escape_text(m["key"], 80), "schema": dlq_schema.schema_cell(m),
                           "reason": frames.escape_text(m["reason"], 120),
                           "exception": frames.escape_text(m["exception_class"], 256), "replays": m["replay_count"],
                           "target": frames.escape_text(m["target"], 300),
                           "size (B)": m["size"]} for m in msgs])
    coords = shown["coord"].tolist()
    key = ticks.table_key("dlq_messages", coords)
    st.session_state[_TABLE_KEY] = key
    st.dataframe(shown, hide_index=True, key=key, on_select="rerun", selection_mode="multi-row",
                 selection_default={"selection": {"rows": ticks.rows_of(ticked, coords), "columns": []}})
    elsewhere = len(set(ticked) - set(coords))
    if elsewhere:
        st.caption(f"{elsewhere} ticked message{'s' if elsewhere != 1 else ''} not on this page (still ticked).")


def message_detail(msgs: list[dict]) -> None:
    by_coord = {m["coord"]: m for m in msgs}
    detail = st.selectbox("Message detail", list(by_coord), key="dlq_detail")
    m = by_coord[detail]
    h, p = st.columns(2)
    with h:
        st.caption("Headers")
        common.table(pd.DataFrame([{"header": k, "value": frames.escape_text(v, limit)}
                                   for k, v in m["headers"].items()]), "no headers", key="dlq_headers")
        if m.get("header_error"):
            st.warning("Malformed header (the message can still be replayed to an explicit target):")
            st.code(frames.escape_text(m["header_error"], limit), language=None)
    with p:
        st.caption(f"Payload ({m['payload_kind']}, {m['size']} bytes{', truncated' if m['truncated'] else ''})")
        st.code(m["payload"] or "(empty)", language="json" if m["payload_kind"] == "json" else None)
        dlq_schema.schema_detail(m, limit)


def selection_buttons(selected: list[str], filters: dict) -> None:
    """Replay the ticked messages (named by coordinate), or every message of the page's time window."""
    b1, b2, b3 = st.columns([3, 1, 3])
    if b1.button(ticks.button_label(selected), disabled=not selected, key="replay_selected"):
        st.session_state[_PENDING_KEY] = {"mode": "picked", "coords": list(selected)}
    if b2.button("Clear ticks", disabled=not selected, key="dlq_clear_ticks"):
        st.session_state.get(_TICKS_KEY, {}).pop(dlq_id, None)
        st.session_state.pop(_TABLE_KEY, None)
        st.rerun()
    b2 = b3
    if b2.button(f"Replay messages from this time window ({common.fmt_ts(ctx.start_ms)} – {common.fmt_ts(ctx.end_ms)})…",
                 key="replay_window"):
        st.session_state[_PENDING_KEY] = {"mode": "filter", "from_ms": ctx.start_ms, "to_ms": ctx.end_ms,
                                          **{k: v for k, v in filters.items() if v}}


dlqs = api.list_dlqs(ctx.conn)
st.subheader("Dead-letter queues")
DLQ_INDEX = ["broker", "cluster", "vhost", "dlq"]
if not dlqs:
    common.no_data("no dead-letter queue found by the collectors")
    common.gone_section(ctx.conn, ["dlq_messages"], None, DLQ_INDEX, "DLQs", "dlq_gone")
    st.stop()
table = pd.DataFrame(dlqs)
st.metric("Messages in DLQs", f"{int(table['messages'].sum()):,}")
st.dataframe(table.drop(columns=["ts_ms"]).fillna("—"), hide_index=True, key="dlq_list")
common.gone_section(ctx.conn, ["dlq_messages"], None, DLQ_INDEX, "DLQs", "dlq_gone")

broker, cluster, name, vhost, parking = pick_dlq(dlqs)
st.subheader(f"Messages in {frames.md_escape(name)}" + (" (parking lot)" if parking else ""))
filters, page, in_window = filter_row()
health = frames.cluster_health([cluster], status.read_status(ctx.conn), broker).iloc[0]
msgs: list[dict] | None = None  # None: could not be read
if health.state == frames.DOWN:
    common.broker_down(f"{broker} {cluster}", health.reason)
else:
    window = {"from_ms": ctx.start_ms, "to_ms": ctx.end_ms} if in_window else {}
    try:
        msgs = _guarded_browse(broker, cluster, name, vhost, page, {**filters, **window})
    except api.BrowseRefused as exc:
        st.info(f"Not browsed: {frames.md_escape(exc, 1000)}")
    except Exception as exc:  # broker I/O of any kind: say why, keep the rest of the page
        st.warning(f"Cannot read {frames.md_escape(name)} from {broker} {frames.md_escape(cluster)}: "
                   f"{frames.md_escape(exc, 500)}")
if st.button("Refresh", key="dlq_refresh"):
    browse.clear()
    st.session_state.pop(_HELD_KEY, None)  # show what is there now; ticks stay on their messages
    st.rerun()

dlq_id = links.dlq_label(broker, cluster, vhost if broker == "rabbitmq" else None, name)
selected: list[str] = []
if msgs:
    view = json.dumps([dlq_id, page, sorted(filters.items()), in_window], default=str)
    msgs = held_messages(dlq_id, view, msgs)
    selected = st.session_state[_TICKS_KEY].get(dlq_id, [])
    message_table(msgs, selected)
    selection_buttons(selected, filters)
    message_detail(msgs)
elif msgs is not None:
    common.no_data(f"{frames.md_escape(name)} is empty (or nothing matches the filters)")

with st.expander("Why is it growing?", expanded=False):
    dmatch = {"broker": broker, "cluster": cluster, "dlq": name.removesuffix(ctx.settings.dlq.parking_suffix)
              if parking else name}
    common.history_chart(ctx, metrics.DLQ_INFLOW_RATE_PER_S, dmatch, title=f"Inflow of {name}",
                         unit=metrics.unit(metrics.DLQ_INFLOW_RATE_PER_S),
                         label_cols=["dlq"], empty="no inflow history in this time range", key="dlq_inflow_chart")
    causes = frames.top_causes(msgs or [])
    st.caption(f"Exception classes and reasons among the {len(msgs or [])} messages listed below"
               + (" (dead-lettered in the selected range)" if in_window else
                  " (switch on 'In range only' for the selected range)") + ".")
    common.table(causes, "no message listed", key="dlq_causes")

st.subheader("Replay")
mode = st.radio("Messages", ["all", "picked", "filter"], horizontal=True, key="replay_mode",
                captions=["every message in the DLQ", "the messages picked below", "the filters above"])
picked = st.multiselect("Picked messages", [m["coord"] for m in msgs or []], key="replay_picked") \
    if mode == "picked" else []
t1, t2, t3 = st.columns(3)
target_name = t1.text_input("Target override (topic or queue; empty: from headers)", key="replay_target")
rate = t2.number_input("Rate (messages/s)", min_value=0.1, value=float(ctx.settings.dlq.default_rate_per_s),
                       key="replay_rate")
force = t3.checkbox("Force (replay messages already replayed)", key="replay_force")


def open_request(selection: dict) -> None:
    """Open the confirmation for ``selection`` of the DLQ on screen, with the options above."""
    target = None
    if target_name:
        target = {"topic": target_name} if broker == "kafka" else {"queue": target_name}
    st.session_state[_REQUEST_KEY] = {"broker": broker, "cluster": cluster, "dlq": name, "vhost": vhost,
                                      "selection": selection, "rate_per_s": rate, "target": target, "force": force}
    st.session_state.pop(_DONE_KEY, None)


if st.button("Replay…", type="primary", key="replay_open"):
    selection = {"mode": mode}
    if mode == "picked":
        selection["coords"] = picked
    elif mode == "filter":
        selection.update({k: v for k, v in filters.items() if v})
    open_request(selection)
if st.session_state.get(_PENDING_KEY):
    open_request(st.session_state.pop(_PENDING_KEY))
if st.session_state.get(_DONE_KEY):
    st.success(f"Replay job {st.session_state[_DONE_KEY]} queued; the collector service runs it.")
if st.session_state.get(_REQUEST_KEY):
    confirm(st.session_state[_REQUEST_KEY], {m["coord"]: m for m in msgs or []})
dlq_search.render(ctx, broker, cluster, name, vhost)


@st.fragment(run_every=ctx.settings.dlq.job_poll_interval_s * 2)
def jobs() -> None:
    st.subheader("Replay jobs")
    rows = api.list_jobs(ctx.conn)
    if not rows:
        st.info("No replay job yet.")
        return
    df = pd.DataFrame(rows)
    done = df[["replayed", "parked", "skipped", "failed"]].sum(axis=1)
    df["progress"] = (done / df["total"].where(df["total"] > 0)).fillna(0).clip(0, 1)
    st.dataframe(df[["id", "state", "broker", "cluster", "dlq", "actor", "progress", "total", "replayed", "parked",
                     "skipped", "failed", "error"]].assign(created=df["created_ms"].map(common.fmt_ts)),
                 hide_index=True, key="dlq_jobs",
                 column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})
    active = df[df["state"].isin(ACTIVE)]["id"].tolist()
    if active:
        c1, c2 = st.columns(2)
        job_id = c1.selectbox("Active job", active, key="job_cancel_pick")
        if c2.button("Cancel job", key="job_cancel"):
            common.operator_action(ctx, "dlq.replay.cancel", f"job {job_id}",
                                   lambda conn: api.cancel(conn, int(job_id), ctx.user.name, common.now_ms()))
    pick = st.selectbox("Job messages", df["id"].tolist(), key="job_pick")
    common.table(pd.DataFrame(api.job_messages(ctx.conn, int(pick))), "no message handled yet", key="job_messages")


jobs()
st.subheader("Audit")
audit = pd.DataFrame(api.audit(ctx.conn))
if not audit.empty:  # the detail (selections, hashes, an edit's diff) as JSON text, never rendered
    audit = audit.assign(time=audit["ts_ms"].map(common.fmt_ts),
                         detail=audit["detail"].map(lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True)))
common.table(audit, "no DLQ action audited yet", key="dlq_audit")
