"""System: collector status per target, store size and schema, versions."""
from __future__ import annotations

import platform
import sqlite3
from importlib.metadata import version

import pandas as pd
import streamlit as st

from core.rejects import METRIC
from core.targets import kafka_target, rabbitmq_target
from store import leases as store_leases
from store import queries, status
from store import rejects as store_rejects
from store.db import applied_migrations
from views import common, frames, lease_frames, units
from views.signin import NotAllowed, require_operator
from brokers.kafka import crc32c_status
from brokers.probe import connection_rows, connection_warnings, probe_all

ctx = common.page("System")
st.subheader("Collector status")
targets = status.read_status(ctx.conn)
configured = ([kafka_target(c.name) for c in ctx.settings.kafka.clusters]
              + [rabbitmq_target(c.name) for c in ctx.settings.rabbitmq.clusters])
if not configured and targets.empty:
    common.not_configured("no broker cluster (kafka.clusters, rabbitmq.clusters)")
else:
    known = set(targets["target"]) if not targets.empty else set()
    for t in configured:
        if t not in known:
            common.no_data(f"{t} has not been polled yet")
    if not targets.empty:
        c1, c2 = st.columns(2)
        c1.metric("Targets up", f"{int(targets['up'].astype(bool).sum())}/{len(targets)}")
        c2.metric("Targets down", int((~targets["up"].astype(bool)).sum()))
        for r in targets[~targets["up"].astype(bool)].itertuples():
            common.broker_down(r.target, r.reason)
        for r in targets[targets["up"].astype(bool) & targets["reason"].notna()].itertuples():  # collector_degraded
            st.warning(f"{frames.md_escape(r.target, 200)} answers, but part of it failed: "
                       f"{frames.md_escape(r.reason, 300)}")
        shown = targets.assign(
            since=targets["since_ms"].map(common.fmt_ts), checked=targets["last_ms"].map(common.fmt_ts),
            last_ok=targets["last_ok_ms"].map(lambda v: common.fmt_ts(v) if pd.notna(v) else "never"))
        shown = shown.assign(poll=(shown["duration_ms"] / 1000).map(units.duration),
                             reason=shown["reason"].fillna("—"))
        st.dataframe(shown[["target", "up", "reason", "since", "checked", "last_ok", "poll"]], hide_index=True,
                     key="sys_targets")

st.subheader("Connections")
_crc_ok, _crc_text = crc32c_status()
(st.caption if _crc_ok else st.warning)(_crc_text)
for _cluster, _warning in connection_warnings(ctx.settings):
    st.warning(f"{_cluster}: {_warning}")
if ctx.settings.has_brokers:
    _may = ctx.user.is_operator
    if st.button("Test connection", key="sys_test_connection", disabled=not _may,
                 help=None if _may else "needs the operator role"):
        try:
            require_operator(ctx.user, "test connection")
            with st.spinner("Connecting to every cluster (each bounded by its timeout)..."):
                st.session_state["sys_connection_checks"] = connection_rows(probe_all(ctx.settings))
        except NotAllowed as exc:
            st.error(f"Refused: {frames.md_escape(exc, 500)}.")
    if not _may:
        st.caption("Testing the connections needs the operator role.")
    _rows = st.session_state.get("sys_connection_checks")
    if _rows:  # plain cells in a table: never Markdown or HTML
        st.dataframe(pd.DataFrame(_rows), hide_index=True, key="sys_connections")

st.subheader("Collector processes")
members = store_leases.read_members(ctx.conn)
if members.empty:
    st.caption("One collector service writes this store alone (SQLite, or PostgreSQL before any collector joined).")
else:
    lease_rows = store_leases.read_leases(ctx.conn)
    st.caption("Collector processes sharing this PostgreSQL store: each target is collected by the holder of its "
               "lease; a process that stops beating loses its targets to the others within two intervals.")
    st.dataframe(lease_frames.collector_members(members, lease_rows, ctx.now_ms), hide_index=True, key="sys_members")
    st.dataframe(lease_frames.target_leases(lease_rows, ctx.now_ms), hide_index=True, key="sys_leases")

st.subheader("Rejected inputs")
st.caption("Bad telemetry summaries, DLQ messages, rules, silences and requests are skipped and counted here; "
           "the rest of each cycle goes on.")
rejected = queries.latest(ctx.conn, METRIC)
if rejected.empty:
    st.success("No input has been rejected.")
else:
    st.dataframe(rejected[["source", "reason", "value"]].rename(columns={"value": "rejected (total)"})
                 .sort_values(["source", "reason"]), hide_index=True, key="sys_rejected")
    examples = store_rejects.recent_examples(ctx.conn, 20)
    if not examples.empty:  # plain text in a table, truncated when stored: never Markdown or HTML
        st.dataframe(examples.assign(time=examples["ts_ms"].map(common.fmt_ts),
                                     text=examples["text"].map(lambda t: frames.escape_text(t, 200)))
                     [["time", "source", "reason", "text"]], hide_index=True, key="sys_rejected_examples")

st.subheader("Store")
c1, c2, c3 = st.columns(3)
store_handle = ctx.settings.store.handle
sizes = store_handle.size_bytes(ctx.conn)
c1.metric("Store size (MiB)", f"{sizes['store'] / 2**20:,.1f}")
if store_handle.is_postgres:
    c2.metric("Store", "PostgreSQL")
else:
    c2.metric("WAL size (MiB)", f"{sizes['wal'] / 2**20:,.1f}")
c3.metric("Metrics", len(queries.metrics(ctx.conn)))
st.caption(f"Schema migrations applied: {', '.join(f'{v:04d}' for v in applied_migrations(ctx.conn))}")

st.subheader("Versions")
packages = ["streamlit", "plotly", "pandas", "kafka-python", "pika", "APScheduler", "pydantic", "apprise"]
st.dataframe(pd.DataFrame([{"component": "python", "version": platform.python_version()},
                           {"component": "sqlite", "version": sqlite3.sqlite_version},
                           *({"component": p, "version": version(p)} for p in packages)]),
             hide_index=True, key="sys_versions")
