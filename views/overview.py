"""Overview: health of every cluster of both brokers, firing alerts, worst lags and queues, DLQ totals."""
from __future__ import annotations

import streamlit as st

from core import links, metrics
from store import queries, status
from alerts import api as alerts_api
from views import attention, charts, common, frames, units

ctx = common.page("Overview")


@st.fragment(run_every=ctx.settings.dashboard.refresh_s)
def live_tiles() -> None:
    conn, s = ctx.conn, ctx.settings
    st_df = status.read_status(conn)
    kafka = frames.cluster_health([c.name for c in s.kafka.clusters], st_df, "kafka")
    rabbit = frames.cluster_health([c.name for c in s.rabbitmq.clusters], st_df, "rabbitmq")
    lag = queries.latest(conn, "kafka_group_total_lag_messages")
    ready = queries.latest(conn, "rabbitmq_queue_ready_messages")
    dlq = queries.latest(conn, "dlq_messages")
    firing = alerts_api.alerts(conn, ["firing"])
    pending = alerts_api.alerts(conn, ["pending"])
    p99 = queries.latest(conn, "consumer_processing_seconds", {"quantile": "0.99"})
    todo = attention.needs_attention(
        firing=firing, pending=pending, group_status=queries.latest(conn, "kafka_group_status"),
        group_lag_s=queries.latest(conn, "kafka_group_max_lag_seconds"),
        queue_status=queries.latest(conn, "rabbitmq_queue_status"),
        dlq_inflow=queries.latest(conn, "dlq_inflow_rate_per_s"), dlq_depth=dlq,
        consumer_errors=queries.latest(conn, "consumer_error_rate_ratio"), consumer_p99=p99,
        link=lambda labels: links.link_for("", labels, st.session_state.get(common.RANGE_STATE, links.DEFAULT_RANGE)),
        fmt_duration=units.duration, fmt_rate=units.significant)
    st.subheader("Needs attention")
    if todo.empty:
        st.success("Nothing needs attention: no alert firing or pending, every group and queue OK, no DLQ "
                   "growing, no consumer failing or slow.", icon=":material/check_circle:")
    else:
        st.dataframe(todo.style.map(attention.colour_of, subset=["severity"]), hide_index=True, key="attention",
                     column_config={"view": st.column_config.LinkColumn("view", display_text="open view"),
                                    "rank": st.column_config.NumberColumn("#", width="small")})

    cols = st.columns(5)
    cols[0].metric("Kafka clusters up", f"{(kafka.state == frames.UP).sum()}/{len(kafka)}")
    cols[1].metric("RabbitMQ clusters up", f"{(rabbit.state == frames.UP).sum()}/{len(rabbit)}")
    cols[2].metric("Firing alerts", len(firing))
    cols[3].metric("Kafka lag (messages)", units.count(lag.value.sum()) if not lag.empty else units.MISSING)
    cols[4].metric("DLQ messages", units.count(dlq.value.sum()) if not dlq.empty else units.MISSING)

    left, right = st.columns(2)
    with left:
        st.subheader("Clusters")
        health = [("Kafka", kafka, "Kafka clusters"), ("RabbitMQ", rabbit, "RabbitMQ clusters")]
        for broker, df, what in health:
            if df.empty:
                common.not_configured(what)
            for r in df.itertuples():
                if common.health_line(broker, r):
                    st.success(f"{broker} {r.cluster}: up (checked {common.fmt_ts(r.checked_ms)})",
                               icon=":material/check_circle:")
        st.subheader("Firing alerts")
        if firing.empty:
            st.success("Nothing firing.")
        else:
            st.dataframe(firing.assign(since=firing["active_since_ms"].map(common.fmt_ts))[
                ["rule", "severity", "summary", "since"]], hide_index=True)
    with right:
        st.subheader("Worst lagging groups")
        common.table(frames.in_units(frames.sum_by(lag, ["cluster", "group"]).head(5), counts=["value"]),
                     "no consumer group lag collected",
                     {"value": "lag (messages)"})
        st.subheader("Deepest queues")
        common.table(frames.in_units(frames.sum_by(ready, ["cluster", "vhost", "queue"]).head(5), counts=["value"]),
                     "no RabbitMQ queue depth collected",
                     {"value": "ready (messages)"})
        st.subheader("DLQ totals")
        common.table(frames.in_units(frames.sum_by(dlq, ["broker", "cluster", "dlq"]), counts=["value"]),
                     "no dead-letter queue found",
                     {"value": "messages"})


live_tiles()

st.subheader("Trends")
spark = [(metrics.KAFKA_GROUP_TOTAL_LAG_MESSAGES, "Kafka lag"), (metrics.RABBITMQ_QUEUE_READY_MESSAGES, "RabbitMQ ready"),
         (metrics.DLQ_MESSAGES, "DLQ messages")]
for col, (metric, label) in zip(st.columns(len(spark)), spark):
    unit = metrics.unit(metric)
    df = queries.range_query(ctx.conn, metric, None, ctx.start_ms, ctx.end_ms, max_points=120, agg="avg")
    with col:
        st.caption(f"{label} ({unit}, total)")
        if df.empty:
            common.no_data(label)
        else:
            st.plotly_chart(charts.sparkline_figure(frames.over_time(df), unit=unit, zone=ctx.zone,
                                                    x_range=(ctx.start_ms, ctx.end_ms)), key=f"spark_{metric}",
                            config={"displayModeBar": False})
