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
from store import status
from store.dlq import ACTIVE  # the replay job states that hold a DLQ
from views import cells, common, dlq_replay, dlq_schema, dlq_search, frames, ticks

PAGE_SIZE = 50
_TICKS_KEY = "dlq_ticked"        # {DLQ id: [coords]}: the ticked messages, by coordinate (views.ticks)
_HELD_KEY = "dlq_held"           # {"view": ..., "msgs": [...]}: the list last shown (held while anything is ticked)
_TABLE_KEY = "dlq_messages_key"  # the messages table's current widget key (it changes with the rows)
TABS = ["Messages", "Search & export", "Replay jobs", "Audit"]
TAB_KEY = "dlq_tab"  # the open tab is a query parameter: a link opens it
WHY_KEY = "dlq_why"  # the "Why is it growing?" expander: its chart and causes are drawn only while it is open

ctx = common.page("DLQ", needs=lambda s: s.has_brokers,
                  missing="no broker cluster (kafka.clusters, rabbitmq.clusters)")
limit = ctx.settings.dlq.payload_preview_bytes


# ``store`` only keys the caches (one per store); ``_settings`` is not hashed.
@st.cache_data(ttl=15, show_spinner="Reading the DLQ from the broker…")
def browse(_settings, store: str, broker: str, cluster: str, dlq: str, vhost: str, page: int,
           filters: tuple[tuple[str, object], ...]) -> list[dict]:
    extra = {"vhost": vhost} if broker == "rabbitmq" else {}
    return api.browse(_settings, broker, cluster, dlq, page, PAGE_SIZE, **extra, **dict(filters))


def _guarded_browse(broker: str, cluster: str, name: str, vhost: str, page: int, filters: dict) -> list[dict]:
    """Browse unless the role may not (RabbitMQ: dlq.rabbit_browse_role); say what a RabbitMQ browse does."""
    refusal = api.browse_refusal(ctx.settings, broker, ctx.user.role)
    if refusal:
        raise api.BrowseRefused(refusal)
    if broker == "rabbitmq":
        st.caption(api.RABBIT_BROWSE_NOTE + " A queue is never browsed while a replay job runs on it.")
    return browse(ctx.settings, ctx.settings.store.handle.display, broker, cluster, name, vhost, page,
                  tuple((k, v) for k, v in filters.items() if v))


def linked_gone(dlqs: list[dict], gone: pd.DataFrame) -> dict | None:
    """The DLQ a link names when it is not among the live ones but is gone (it left its cluster's latest
    successful cycle): the picker offers it, so the link never silently opens another DLQ."""
    wanted = st.query_params.get(links.DLQ)
    if not wanted or any(_dlq_id(d) == wanted for d in dlqs):
        return None
    for row in gone.to_dict("records"):
        d = {"broker": row["broker"], "cluster": row["cluster"], "dlq": row["dlq"],
             "vhost": row.get("vhost") if isinstance(row.get("vhost"), str) else None}
        if _dlq_id(d) == wanted:
            return {**d, "messages": None, "ts_ms": int(row["last_seen_ms"]), "gone": True}
    st.warning(f"The link names the DLQ {frames.md_escape(wanted)}, which no collector has reported: "
               "showing another DLQ instead (pick it below).")
    return None


def pick_dlq(dlqs: list[dict], gone: pd.DataFrame) -> tuple[str, str, str, str, bool]:
    """The DLQ picker (and its parking-lot switch): broker, cluster, name to browse, vhost, parking."""
    linked = linked_gone(dlqs, gone)
    chosen = st.selectbox("DLQ", dlqs + [linked] if linked else dlqs, key=links.DLQ, bind="query-params",
                          format_func=_dlq_id)
    if chosen.get("gone"):
        st.warning(f"{frames.md_escape(_dlq_id(chosen))} is gone: it left its cluster's latest successful "
                   f"collection cycle (last seen {common.fmt_ts(chosen['ts_ms'])}); its size is unknown. "
                   "The broker is read as for any DLQ: if the queue or topic no longer exists, that is what "
                   "the messages tab says.")
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
        common.table(pd.DataFrame([{"header": k, "value": cells.structured(frames.escape_text(v, limit), limit + 40)}
                                   for k, v in m["headers"].items()]), "no headers", key="dlq_headers")
        if m.get("header_error"):
            st.warning("Malformed header (the message can still be replayed to an explicit target):")
            st.code(frames.escape_text(m["header_error"], limit), language=None)
    with p:
        st.caption(f"Payload ({m['payload_kind']}, {m['size']} bytes{', truncated' if m['truncated'] else ''})")
        st.code(m["payload"] or "(empty)", language="json" if m["payload_kind"] == "json" else None)
        dlq_schema.schema_detail(m, limit)


def replay_entries(selected: list[str], filters: dict) -> None:
    """The ways into the one replay dialog: the ticked messages (named by coordinate), the page's time window,
    the filters, the whole DLQ. None is preselected; each opens the same dialog with its selection."""
    dlq = {"broker": broker, "cluster": cluster, "dlq": name, "vhost": vhost}
    rng = (ctx.start_ms, ctx.end_ms)
    criteria = {k: v for k, v in filters.items() if v}
    st.caption("Replay: each button opens the same confirmation (target, rate, window, force, then a dry run).")
    b1, b2 = st.columns([4, 1])
    if b1.button(ticks.button_label(selected), disabled=not selected, key="replay_selected", type="primary"):
        _open(dlq_replay.entry(dlq, {"mode": "picked", "coords": list(selected)}, rng, False))
    if b2.button("Clear ticks", disabled=not selected, key="dlq_clear_ticks"):
        st.session_state.get(_TICKS_KEY, {}).pop(dlq_id, None)
        st.session_state.pop(_TABLE_KEY, None)
        st.rerun()
    c1, c2, c3 = st.columns(3)
    if c1.button(f"Replay this time window ({common.fmt_ts(ctx.start_ms)} – {common.fmt_ts(ctx.end_ms)})…",
                 key="replay_window_open"):
        _open(dlq_replay.entry(dlq, {"mode": "filter", **criteria}, rng, True))
    if c2.button("Replay what the filters match…", key="replay_filtered", disabled=not criteria,
                 help=None if criteria else "set a filter above (key, reason, exception class) first"):
        _open(dlq_replay.entry(dlq, {"mode": "filter", **criteria}, rng, False))
    if c3.button("Replay the whole DLQ…", key="replay_all"):
        _open(dlq_replay.entry(dlq, {"mode": "all"}, rng, False))


def _open(ent: dict) -> None:
    for k in list(st.session_state):  # a fresh dialog: options and edits start from their defaults
        if isinstance(k, str) and (k.startswith("replay_") or k.startswith("edit_")) and k not in (_TICKS_KEY,):
            if k in ("replay_selected", "replay_window_open", "replay_filtered", "replay_all"):
                continue
            st.session_state.pop(k, None)
    st.session_state[dlq_replay.ENTRY_KEY] = ent


def _queued(request: dict) -> None:
    if request["selection"]["mode"] == "picked":  # replayed: the ticks have done their job
        st.session_state.get(_TICKS_KEY, {}).pop(_dlq_id(request), None)
        st.session_state.pop(_HELD_KEY, None)


def messages_tab() -> None:
    """The messages of the picked DLQ: filters, the table with its ticks, the replay entries and dialog, the
    detail of one message, and why the DLQ is growing."""
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
    selected: list[str] = []
    if msgs:
        view = json.dumps([dlq_id, page, sorted(filters.items()), in_window], default=str)
        msgs = held_messages(dlq_id, view, msgs)
        selected = st.session_state[_TICKS_KEY].get(dlq_id, [])
        message_table(msgs, selected)
    elif msgs is not None:
        common.no_data(f"{frames.md_escape(name)} is empty (or nothing matches the filters)")
    replay_entries(selected, filters)
    if st.session_state.get(dlq_replay.DONE_KEY):
        st.success(f"Replay job {st.session_state[dlq_replay.DONE_KEY]} queued; the collector service runs it "
                   "(tab Replay jobs).")
    if msgs:
        message_detail(msgs)
    # drawn when opened (a rerun): closed, its chart still made every load fetch and evaluate plotly's 4.7 MB
    why = st.expander("Why is it growing?", expanded=False, key=WHY_KEY, on_change="rerun")
    with why:
        if why.open:
            dmatch = {"broker": broker, "cluster": cluster, "dlq": name.removesuffix(ctx.settings.dlq.parking_suffix)
                      if parking else name}
            common.history_chart(ctx, metrics.DLQ_INFLOW_RATE_PER_S, dmatch, title=f"Inflow of {name}",
                                 unit=metrics.unit(metrics.DLQ_INFLOW_RATE_PER_S), label_cols=["dlq"],
                                 empty="no inflow history in this time range", key="dlq_inflow_chart")
            causes = frames.top_causes(msgs or [])
            st.caption(f"Exception classes and reasons among the {len(msgs or [])} messages listed above"
                       + (" (dead-lettered in the selected range)" if in_window else
                          " (switch on 'In range only' for the selected range)") + ".")
            common.table(causes, "no message listed", key="dlq_causes")
    if st.session_state.get(dlq_replay.ENTRY_KEY):
        dlq_replay.confirm(ctx, st.session_state[dlq_replay.ENTRY_KEY], {m["coord"]: m for m in msgs or []}, _queued)


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
gone_dlqs = common.gone_section(ctx.conn, ["dlq_messages"], None, DLQ_INDEX, "DLQs", "dlq_gone")

broker, cluster, name, vhost, parking = pick_dlq(dlqs, gone_dlqs)
dlq_id = links.dlq_label(broker, cluster, vhost if broker == "rabbitmq" else None, name)
tab_msgs, tab_search, tab_jobs, tab_audit = st.tabs(TABS, key=TAB_KEY, bind="query-params")

if tab_msgs.open:  # only the open tab runs: no broker read behind the audit, no hidden table left loading
    with tab_msgs:
        messages_tab()

if tab_search.open:
    with tab_search:
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
    shown = cells.readable(df[["id", "created_ms", "state", "broker", "cluster", "dlq", "actor", "progress", "total",
                               "replayed", "parked", "skipped", "failed", "error"]], common.fmt_ts)
    st.dataframe(shown, hide_index=True, key="dlq_jobs",
                 column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})
    active = df[df["state"].isin(ACTIVE)]["id"].tolist()
    if active:
        c1, c2 = st.columns(2)
        job_id = c1.selectbox("Active job", active, key="job_cancel_pick")
        if c2.button("Cancel job", key="job_cancel"):
            common.operator_action(ctx, "dlq.replay.cancel", f"job {job_id}",
                                   lambda conn: api.cancel(conn, int(job_id), ctx.user.name, common.now_ms()))
    pick = st.selectbox("Job messages", df["id"].tolist(), key="job_pick")
    common.table(cells.readable(pd.DataFrame(api.job_messages(ctx.conn, int(pick))), common.fmt_ts),
                 "no message handled yet",
                 key="job_messages")


if tab_jobs.open:
    with tab_jobs:
        jobs()
if tab_audit.open:
    with tab_audit:
        st.subheader("Audit")
        audit = pd.DataFrame(api.audit(ctx.conn))
        # the detail (selection, hashes, an edit's diff) as plain "name: value" text, never rendered
        common.table(cells.readable(audit, common.fmt_ts), "no DLQ action audited yet", key="dlq_audit")
