"""DLQ page: search the whole DLQ (key, header, reason, exception, payload) within the scan limits, with
progress, and export the matches as JSON Lines or CSV (operator-only, audited, disableable per cluster).
Layout only: the work is in ``dlq.search_api``. Broker text is shown in tables and plain text only."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dlq import api, search_api
from dlq import search as se
from dlq.guards import export_refusal
from views import common, frames

RESULT_KEY = "dlq_search_result"
EXPORT_KEY = "dlq_export_data"
SHOWN = 500  # matches listed on the page (the export has them all)


def render(ctx: common.PageContext, broker: str, cluster: str, dlq: str, vhost: str) -> None:
    st.subheader("Search the whole DLQ")
    refusal = api.browse_refusal(ctx.settings, broker, ctx.user.role)
    if refusal:
        st.info(refusal)
        return
    st.caption(f"Reads up to {ctx.settings.dlq.scan_max_messages:,} messages / "
               f"{ctx.settings.dlq.scan_max_bytes:,} bytes (dlq.scan_max_messages, dlq.scan_max_bytes)"
               + (". " + api.RABBIT_BROWSE_NOTE if broker == "rabbitmq" else "."))
    cols = st.columns(len(se.FIELDS))
    # labels differ from the page's own filters above ("Reason contains" there filters the browsed page)
    labels = {"key": "Search: key contains", "header": "Search: header (name or name=text)",
              "reason": "Search: reason contains", "exception": "Search: exception contains",
              "payload": "Search: payload contains"}
    query = {f: c.text_input(labels[f], key=f"dlq_search_{f}", bind="query-params")  # deep-linkable
             for f, c in zip(se.FIELDS, cols)}
    where = (broker, cluster, dlq, vhost)
    if st.button("Search", key="dlq_search_go"):
        bar = st.progress(0.0, text="Searching…")

        def progress(looked: int, total: int) -> None:
            bar.progress(min(1.0, looked / total) if total else 1.0, text=f"read {looked:,} of {total:,}")

        try:
            res = search_api.search(ctx.settings, broker, cluster, dlq, query, vhost=vhost, progress=progress)
            st.session_state[RESULT_KEY] = {"where": where, "query": query, "describe": search_api.describe(res),
                                            "rows": [se.export_record(m) for m in res["matches"][:SHOWN]]}
        except se.QueryError as exc:
            st.error(f"Search refused: {frames.md_escape(exc, 500)}")
        except Exception as exc:  # broker I/O: say why, keep the page
            st.warning(f"Search failed: {type(exc).__name__}: {frames.md_escape(exc, 500)}")
        st.session_state.pop(EXPORT_KEY, None)
    result = st.session_state.get(RESULT_KEY)
    if not result or result["where"] != where:
        return
    st.text(result["describe"])
    if result["rows"]:
        df = pd.DataFrame(result["rows"])
        df["time"] = df["timestamp_ms"].map(lambda t: common.fmt_ts(t) if t is not None else "—")
        st.dataframe(df[["coord", "time", "reason", "exception_class"]], hide_index=True, key="dlq_search_rows")
    disabled_why = export_refusal(ctx.settings, broker, cluster)
    if disabled_why:
        st.info(disabled_why)
        return
    if ctx.user.role != "operator":
        st.caption("Export needs the operator role.")
    fmt = st.radio("Export format", list(search_api.FORMATS), horizontal=True, key="dlq_export_format")
    if st.button("Export matches", key="dlq_export_go", disabled=ctx.user.role != "operator"):
        out = common.operator_action(ctx, "dlq.export", f"{broker}:{cluster}:{dlq}", lambda conn: search_api.export(
            ctx.settings, conn, broker, cluster, dlq, result["query"], fmt, actor=ctx.user.name,
            role=ctx.user.role, vhost=vhost))
        if out is not None:
            data, summary = out
            st.session_state[EXPORT_KEY] = {"where": where, "fmt": fmt, "data": data, "n": summary["exported"]}
    ready = st.session_state.get(EXPORT_KEY)
    if ready and ready["where"] == where:
        st.download_button(f"Download {ready['n']:,} messages ({ready['fmt']})", ready["data"],
                           file_name=f"{dlq}.{ready['fmt']}", key="dlq_export_download",
                           mime="application/jsonl" if ready["fmt"] == "jsonl" else "text/csv")
