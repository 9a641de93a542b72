"""Kafka collector: consumer lag in messages and seconds, Burrow-style status, rates, DLQ sizes.

Series written every cycle (all carry ``cluster``; ``partition`` is the decimal partition number;
unknown values are not written):

per group × topic × partition (labels ``cluster, group, topic, partition``)
  kafka_group_committed_offset        committed offset (OffsetFetch)
  kafka_group_lag_messages            max(0, log-end offset − committed offset)
  kafka_group_partition_no_offset     1 for a partition the group never committed (no lag written)
  kafka_group_lag_seconds             time lag, kafka-lag-exporter interpolation (collectors.timelag)
  kafka_group_partition_status        Burrow status code (collectors.burrow: 0 OK, 1 WARN,
                                      2 REWIND, 3 STALL, 4 STOP, 5 ERR)
per group × topic (labels ``cluster, group, topic``)
  kafka_group_topic_lag_messages      sum of the partitions' lag (no-offset partitions excluded)
per group (labels ``cluster, group``)
  kafka_group_total_lag_messages      sum over all topics of the group
  kafka_group_max_lag_seconds         worst partition time lag
  kafka_group_status                  worst partition status code (same codes)
  kafka_group_state                   collectors.kafka_lag.GROUP_STATE_CODES: 0 unknown, 1 Stable,
                                      2 PreparingRebalance, 3 CompletingRebalance, 4 Empty, 5 Dead,
                                      6 Assigning, 7 Reconciling
  kafka_group_members                 member count (not written when the broker cannot describe)
  kafka_group_consume_rate_per_s      Δ committed offsets / Δt over the group's partitions
per topic partition (labels ``cluster, topic, partition``)
  kafka_partition_end_offset          log-end offset (ListOffsets LATEST)
per topic (labels ``cluster, topic``)
  kafka_topic_produce_rate_per_s      Δ log-end offsets / Δt
  kafka_topic_error_rate_ratio        DLQ inflow / (consumed + DLQ inflow), topic = the DLQ's source
per DLQ topic (labels ``broker="kafka", cluster, dlq``)
  dlq_messages                        Σ (end − start) offsets
  dlq_inflow_rate_per_s               Δ end offsets / Δt
per cluster (label ``cluster``)
  kafka_collect_requests              Kafka protocol requests sent by the last cycle
plus ``store.status.set_status("kafka:<cluster>", ...)`` with the cycle duration, which writes
``collector_up{target="kafka:<cluster>"}``.
"""
