"""Kafka: cluster → group → topic → partition lag in messages and seconds, Burrow status, members, rates."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import links, metrics
from core.codes import GROUP_STATE_NAMES, STATUS_NAMES
from store import queries
from views import charts, common, frames, group_actions, units

TOP_TOPICS = 10
GROUP_METRICS = metrics.columns(metrics.KAFKA_GROUP_TOTAL_LAG_MESSAGES, metrics.KAFKA_GROUP_MAX_LAG_SECONDS,
                                metrics.KAFKA_GROUP_DRAIN_ETA_SECONDS, metrics.KAFKA_GROUP_STATUS,
                                metrics.KAFKA_GROUP_STATE, metrics.KAFKA_GROUP_MEMBERS,
                                metrics.KAFKA_GROUP_CONSUME_RATE_PER_S)
PARTITION_METRICS = metrics.columns(metrics.KAFKA_GROUP_LAG_MESSAGES, metrics.KAFKA_GROUP_LAG_SECONDS,
                                    metrics.KAFKA_GROUP_PARTITION_STATUS, metrics.KAFKA_GROUP_COMMITTED_OFFSET,
                                    metrics.KAFKA_GROUP_PARTITION_NO_OFFSET)
LAG_LEGEND = ("Time lag: exact from the record's timestamp; ≈ interpolated from offsets seen; ≥ a lower bound "
              "(the record is older than Eventdeck's first look); — not dated yet (unknown, never 0).")


ctx = common.page("Kafka", needs=lambda s: s.kafka.clusters, missing="no Kafka cluster (kafka.clusters)")

cluster = common.cluster_header(ctx, "kafka", "Kafka", [c.name for c in ctx.settings.kafka.clusters],
                                 key=links.KAFKA_CLUSTER)

groups = common.latest_wide(ctx.conn, {**GROUP_METRICS, **metrics.columns(metrics.KAFKA_GROUP_MAX_LAG_SECONDS_METHOD)},
                            {"cluster": cluster}, ["group"])
st.subheader("Consumer groups")
if groups.empty:
    common.no_data(f"no consumer group with commits in Kafka {cluster}")
    common.gone_section(ctx.conn, [*GROUP_METRICS], {"cluster": cluster}, ["group"], "groups", "kafka_gone")
    st.stop()
groups = frames.decode(frames.decode(groups, "status", STATUS_NAMES), "state", GROUP_STATE_NAMES)
groups = groups.sort_values("lag (messages)", ascending=False) if "lag (messages)" in groups else groups
c1, c2, c3 = st.columns(3)
c1.metric("Groups", len(groups))
c2.metric("Total lag (messages)", units.count(groups.get('lag (messages)', pd.Series(dtype=float)).sum()))
c3.metric("Groups not OK", int((groups.get("status", pd.Series(dtype=str)) != "OK").sum()))
st.dataframe(frames.in_units(groups, counts=["lag (messages)", "members"], rates=["consume (msg/s)"]), hide_index=True,
             key="kafka_groups", column_order=["group", *GROUP_METRICS.values()])
st.caption(LAG_LEGEND)
common.gone_section(ctx.conn, [*GROUP_METRICS], {"cluster": cluster}, ["group"], "groups", "kafka_gone")

group = st.selectbox("Group", groups["group"].tolist(), key=links.KAFKA_GROUP, bind="query-params")
match = {"cluster": cluster, "group": group}
parts = common.latest_wide(ctx.conn, {**PARTITION_METRICS, **metrics.columns(metrics.KAFKA_GROUP_LAG_SECONDS_METHOD)}, match,
                           ["topic", "partition"])
st.subheader(f"Partitions of {frames.md_escape(group)}")
if parts.empty:
    common.no_data(f"no partition data for group {frames.md_escape(group)}")
else:
    parts = frames.decode(parts, "status", STATUS_NAMES)
    parts["partition"] = parts["partition"].astype(int)
    st.dataframe(frames.in_units(parts.sort_values(["topic", "partition"]), counts=["lag (messages)", "committed offset"]),
                 hide_index=True, key="kafka_partitions", column_order=["topic", "partition", *PARTITION_METRICS.values()])

group_actions.render(ctx, cluster, group, parts)

left, right = st.columns(2)
with left:
    common.history_chart(ctx, metrics.KAFKA_GROUP_TOPIC_LAG_MESSAGES, match, title=f"Lag of {group} per topic",
                         unit=metrics.unit(metrics.KAFKA_GROUP_TOPIC_LAG_MESSAGES), label_cols=["topic"],
                         empty="no lag history in this time range",
                         key="kafka_lag_chart")
with right:
    common.history_chart(ctx, metrics.KAFKA_GROUP_MAX_LAG_SECONDS, match, title=f"Worst time lag of {group}",
                         unit=metrics.unit(metrics.KAFKA_GROUP_MAX_LAG_SECONDS),
                         label_cols=["group"], key="kafka_seconds_chart",
                         empty="no time-lag history in this time range (a lag not dated yet is 'unknown')")

st.subheader("Topic rates")
busiest = queries.top_n(ctx.conn, metrics.KAFKA_TOPIC_PRODUCE_RATE_PER_S, TOP_TOPICS, {"cluster": cluster})
rates = busiest if busiest.empty else queries.range_query(
    ctx.conn, metrics.KAFKA_TOPIC_PRODUCE_RATE_PER_S, {"cluster": cluster, "topic": busiest["topic"].tolist()},
    ctx.start_ms, ctx.end_ms)
if rates.empty:
    common.no_data("no produce rates yet (they need two polls)")
else:
    st.plotly_chart(charts.timeseries_figure(rates, title=f"Produce rate of the {TOP_TOPICS} busiest topics",
                                             unit=metrics.unit(metrics.KAFKA_TOPIC_PRODUCE_RATE_PER_S),
                                             label_cols=["topic"], zone=ctx.zone,
                                             x_range=(ctx.start_ms, ctx.end_ms)), key="kafka_rate_chart")
