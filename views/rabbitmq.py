"""RabbitMQ: queues (classic, quorum, stream) with depth, unacked, rates, consumers, head age; quorum queues'
delivery limits (flagged when nothing dead-letters); stream consumers' lag; node health and alarms."""
from __future__ import annotations

import streamlit as st

from core import links, metrics
from core.codes import STATUS_NAMES
from store import queries
from views import common, frames, queue_actions, units

QUEUE_METRICS = metrics.columns(
    metrics.RABBITMQ_QUEUE_READY_MESSAGES, metrics.RABBITMQ_QUEUE_UNACKED_MESSAGES,
    metrics.RABBITMQ_QUEUE_CONSUMERS, metrics.RABBITMQ_QUEUE_CONSUMER_UTILISATION_RATIO,
    metrics.RABBITMQ_QUEUE_PUBLISH_RATE_PER_S, metrics.RABBITMQ_QUEUE_DELIVER_RATE_PER_S,
    metrics.RABBITMQ_QUEUE_ACK_RATE_PER_S, metrics.RABBITMQ_QUEUE_REDELIVER_RATE_PER_S,
    metrics.RABBITMQ_QUEUE_ERROR_RATE_RATIO, metrics.RABBITMQ_QUEUE_HEAD_AGE_SECONDS,
    metrics.RABBITMQ_QUEUE_STATUS, metrics.RABBITMQ_QUEUE_DRAIN_ETA_SECONDS,
    metrics.RABBITMQ_QUEUE_DELIVERY_LIMIT, metrics.RABBITMQ_QUEUE_DELIVERY_LIMIT_WITHOUT_DLX,
)
SHOWN = ["vhost", "queue", "type", "status", "ready", "unacked", "drain ETA", "consumers", "utilisation", "publish/s",
         "deliver/s", "ack/s", "redeliver/s", "error ratio", "head age", "delivery limit"]
STREAM_METRICS = metrics.columns(
    metrics.RABBITMQ_STREAM_CONSUMER_STATUS, metrics.RABBITMQ_STREAM_CONSUMER_LAG_MESSAGES,
    metrics.RABBITMQ_STREAM_CONSUMER_LAG_SECONDS, metrics.RABBITMQ_STREAM_CONSUMER_DRAIN_ETA_SECONDS,
    metrics.RABBITMQ_STREAM_CONSUMER_OFFSET, metrics.RABBITMQ_STREAM_CONSUMER_LIVE,
)
STREAM_SHOWN = ["vhost", "stream", "consumer", "status", "lag (messages)", "time lag", "drain ETA", "stored offset",
                "connected"]
NODE_METRICS = metrics.columns(metrics.RABBITMQ_NODE_UP, metrics.RABBITMQ_NODE_MEM_ALARM,
                               metrics.RABBITMQ_NODE_DISK_ALARM, metrics.RABBITMQ_NODE_FD_USED_RATIO)

ctx = common.page("RabbitMQ", needs=lambda s: s.rabbitmq.clusters, missing="no RabbitMQ cluster (rabbitmq.clusters)")

cluster = common.cluster_header(ctx, "rabbitmq", "RabbitMQ", [c.name for c in ctx.settings.rabbitmq.clusters],
                                 key=links.RABBIT_CLUSTER)

nodes = common.latest_wide(ctx.conn, NODE_METRICS, {"cluster": cluster}, ["node"])
queues = common.latest_wide(ctx.conn, QUEUE_METRICS, {"cluster": cluster}, ["vhost", "queue"])
types = queries.latest(ctx.conn, metrics.RABBITMQ_QUEUE_INFO, {"cluster": cluster})
if not queues.empty and not types.empty and "type" in types:
    queues = queues.merge(types[["vhost", "queue", "type"]].drop_duplicates(["vhost", "queue"]), how="left",
                          on=["vhost", "queue"])
c1, c2, c3, c4 = st.columns(4)
c1.metric("Queues", len(queues))
c2.metric("Ready", units.count(queues["ready"].sum()) if "ready" in queues else units.MISSING)
c3.metric("Unacked", units.count(queues["unacked"].sum()) if "unacked" in queues else units.MISSING)
alarms = int(nodes[["memory alarm", "disk alarm"]].sum().sum()) if {"memory alarm", "disk alarm"} <= set(nodes) else 0
c4.metric("Node alarms", alarms)

st.subheader("Queues")
if queues.empty:
    common.no_data(f"no queue collected from RabbitMQ {cluster}")
    common.gone_section(ctx.conn, [metrics.RABBITMQ_QUEUE_INFO, *QUEUE_METRICS], {"cluster": cluster}, ["vhost", "queue"], "queues",
                        "rabbit_gone")
    st.stop()
queues = queues.sort_values("ready", ascending=False) if "ready" in queues else queues
name_filter = st.text_input("Filter queues (substring)", key=links.RABBIT_FILTER, bind="query-params")
shown = queues[queues["queue"].str.contains(name_filter, regex=False)] if name_filter else queues
if "type" in shown:
    types_shown = st.multiselect("Queue types", ["classic", "quorum", "stream"], key="rabbit_types",
                                 bind="query-params")
    shown = shown[shown["type"].isin(types_shown)] if types_shown else shown
if "drops after" in shown:
    dropping = shown[shown["drops after"] > 0]
    for _, row in dropping.iterrows():  # broker-derived names: st.warning with plain text, never Markdown
        st.warning(f"Quorum queue {row['queue']} (vhost {row['vhost']}) has a delivery limit and no dead-letter "
                   f"exchange: messages will be dropped after {int(row['drops after'])} redeliveries, without a trace.",
                   icon=":material/warning:")
shown = frames.in_units(frames.decode(shown, "status", STATUS_NAMES),
                        counts=["ready", "unacked", "consumers", "delivery limit"],
                        rates=["publish/s", "deliver/s", "ack/s", "redeliver/s"], ratios=["error ratio"],
                        durations=["head age"])
st.dataframe(shown, hide_index=True, key="rabbit_queues", column_order=SHOWN,
             column_config={"utilisation": st.column_config.ProgressColumn(min_value=0, max_value=1, format="%.2f")})
st.caption("Status as for Kafka groups: WARN backlog growing, STALL consumers attached but nothing acknowledged, "
           "STOP backlog and no consumer, over the status window. Error ratio: dead-lettered / (consumed + "
           "dead-lettered) for a queue with its own DLQ (browsing or replaying a DLQ does not count), else "
           "rejected / deliveries; none for DLQs. Type: classic, quorum or stream; a stream keeps what was read, so "
           "its depth is its size and its consumers' lag is below. Delivery limit: a quorum queue's, argument or policy "
           "(the lower).")
common.gone_section(ctx.conn, [metrics.RABBITMQ_QUEUE_INFO, *QUEUE_METRICS], {"cluster": cluster}, ["vhost", "queue"], "queues",
                    "rabbit_gone")

streams = common.latest_wide(ctx.conn, STREAM_METRICS, {"cluster": cluster}, ["vhost", "stream", "consumer"])
if not streams.empty:
    st.subheader("Stream consumers")
    streams = streams.sort_values("lag (messages)", ascending=False) if "lag (messages)" in streams else streams
    streams = frames.in_units(frames.decode(streams, "status", STATUS_NAMES),
                              counts=["lag (messages)", "stored offset", "connected"])
    st.dataframe(streams, hide_index=True, key="rabbit_streams", column_order=STREAM_SHOWN)
    st.caption("Per consumer name: lag = the stream's last offset − the consumer's stored offset (offsets, including "
               "RabbitMQ's offset-tracking entries); time lag = now − the broker's timestamp of the first message not "
               "yet processed (exact); status by Burrow's rules as for Kafka groups, STOP when the stored offset stays "
               "behind and no subscription with that name is connected. Names: the configured stream_consumers and "
               "those seen connected.")

picked = st.multiselect("Queues to chart", queues["queue"].tolist(), default=queues["queue"].head(5).tolist(),
                        key=links.RABBIT_QUEUES, bind="query-params")
if picked:
    match = {"cluster": cluster, "queue": picked}
    left, right = st.columns(2)
    for col, metric, title in ((left, metrics.RABBITMQ_QUEUE_READY_MESSAGES, "Ready messages"),
                               (right, metrics.RABBITMQ_QUEUE_PUBLISH_RATE_PER_S, "Publish rate")):
        with col:
            common.history_chart(ctx, metric, match, title=title, unit=metrics.unit(metric), label_cols=["name"],
                                 empty=f"no {title.lower()} history in this time range", key=f"rabbit_{metric}",
                                 frame=lambda df: df.assign(name=df["queue"].where(df["vhost"] == "/",
                                                                                  df["vhost"] + " " + df["queue"])))

queue_actions.render(ctx, cluster, queues)

st.subheader("Nodes")
common.table(nodes, f"no node health collected from RabbitMQ {cluster}")
