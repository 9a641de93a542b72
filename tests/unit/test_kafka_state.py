"""Deriving a cycle's series from raw answers (collectors.kafka_state), with synthetic snapshots."""
import pytest

from collectors.kafka_state import ClusterState, GroupInfo, Snapshot, restore_tables
from config.kafka import KafkaClusterConfig


def cfg(**kw):
    return KafkaClusterConfig(name="c", bootstrap_servers=["127.0.0.1:9092"], status_window_s=10, **kw)


def snap(committed, end, start=None, groups=None, partitions=None):
    partitions = partitions or {}
    for t, p in end:
        partitions.setdefault(t, [])
        if p not in partitions[t]:
            partitions[t].append(p)
    groups = groups or {g: GroupInfo("Stable", 1, set()) for g in committed}
    return Snapshot(groups, committed, partitions, end, start or {}, requests=6)


def values(samples, metric):
    return {tuple(sorted((k, v) for k, v in s.labels.items() if k != "cluster")): s.value
            for s in samples if s.metric == metric}


def one(samples, metric, **labels):
    got = values(samples, metric)
    return got.get(tuple(sorted(labels.items())))


def test_lag_totals_and_no_offset():
    st = ClusterState(cfg())
    s = snap({"g": {("t", 0): 4, ("t", 1): 10}}, {("t", 0): 10, ("t", 1): 10, ("t", 2): 7})
    samples, _ = st.update(s, 1_000)
    assert one(samples, "kafka_group_lag_messages", group="g", topic="t", partition="0") == 6
    assert one(samples, "kafka_group_lag_messages", group="g", topic="t", partition="1") == 0
    # partition 2 never committed: flagged as no offset, no lag written (not 0, not the whole log)
    assert one(samples, "kafka_group_partition_no_offset", group="g", topic="t", partition="2") == 1
    assert one(samples, "kafka_group_lag_messages", group="g", topic="t", partition="2") is None
    assert one(samples, "kafka_group_topic_lag_messages", group="g", topic="t") == 6
    assert one(samples, "kafka_group_total_lag_messages", group="g") == 6
    assert one(samples, "kafka_collect_requests") == 6
    assert all(s.labels["cluster"] == "c" for s in samples)


def test_assigned_topic_without_any_commit_is_all_no_offset():
    # A member is assigned topic u but has committed nothing there yet.
    st = ClusterState(cfg())
    s = snap({"g": {}}, {("u", 0): 5, ("u", 1): 5},
             groups={"g": GroupInfo("Stable", 1, {"u"})})
    samples, _ = st.update(s, 1_000)
    assert values(samples, "kafka_group_partition_no_offset") == {
        (("group", "g"), ("partition", "0"), ("topic", "u")): 1.0,
        (("group", "g"), ("partition", "1"), ("topic", "u")): 1.0}
    assert one(samples, "kafka_group_total_lag_messages", group="g") is None


@pytest.mark.parametrize(
    "info, state, members",
    [
        (GroupInfo("Stable", 3, set()), 1, 3),  # described: state and members written
        (GroupInfo(None, None, set()), 0, None),  # broker could not describe: state 0, no member count
        (GroupInfo("Unknown", None, set()), 0, None),  # Tansu's "Unknown" state is unknown too
    ],
)
def test_group_state_and_members(info, state, members):
    st = ClusterState(cfg())
    samples, _ = st.update(snap({"g": {("t", 0): 1}}, {("t", 0): 2}, groups={"g": info}), 1_000)
    assert one(samples, "kafka_group_state", group="g") == state
    assert one(samples, "kafka_group_members", group="g") == members
    # the lag is collected whatever the description said
    assert one(samples, "kafka_group_lag_messages", group="g", topic="t", partition="0") == 1


def test_rates_time_lag_and_status_over_cycles():
    st = ClusterState(cfg())
    # producer adds 10 records/s on t/0; the group consumes 5/s, so it falls behind
    for i in range(13):
        now = 1_000 * i
        samples, _ = st.update(snap({"g": {("t", 0): 5 * i}}, {("t", 0): 10 * i}), now)
    assert one(samples, "kafka_topic_produce_rate_per_s", topic="t") == 10.0
    assert one(samples, "kafka_group_consume_rate_per_s", group="g") == 5.0
    # committed 60 was the end offset at t = 6 s; now is 12 s
    assert one(samples, "kafka_group_lag_seconds", group="g", topic="t", partition="0") == 6.0
    assert one(samples, "kafka_group_max_lag_seconds", group="g") == 6.0
    # lag grew every cycle over the window: WARN for the partition and the group
    assert one(samples, "kafka_group_partition_status", group="g", topic="t", partition="0") == 1
    assert one(samples, "kafka_group_status", group="g") == 1


def test_dlq_size_inflow_error_rate_and_excluded_lookalike():
    st = ClusterState(cfg(dlq_exclude=["audit.*"]))
    committed = {"g": {("orders", 0): 0}}
    end = {("orders", 0): 100, ("orders.dlq", 0): 10, ("orders.dlq", 1): 5, ("audit.dlq", 0): 50}
    start = {("orders.dlq", 0): 2, ("orders.dlq", 1): 0, ("audit.dlq", 0): 0}
    st.update(snap(committed, end, start), 0)
    # one second later: the group consumed 90, the DLQ received 10 more
    committed = {"g": {("orders", 0): 90}}
    end = {("orders", 0): 100, ("orders.dlq", 0): 15, ("orders.dlq", 1): 10, ("audit.dlq", 0): 60}
    samples, _ = st.update(snap(committed, end, start), 1_000)
    assert values(samples, "dlq_messages") == {(("broker", "kafka"), ("dlq", "orders.dlq")): 23.0}
    assert one(samples, "dlq_inflow_rate_per_s", broker="kafka", dlq="orders.dlq") == 10.0
    assert one(samples, "kafka_topic_error_rate_ratio", topic="orders") == pytest.approx(10 / 100)
    assert one(samples, "kafka_topic_error_rate_ratio", topic="audit") is None


def test_dlq_map_names_source_and_group():
    # a DLQ with an unconventional name, mapped to its source and to the group that feeds it
    from config.kafka import DlqTarget

    st = ClusterState(cfg(dlq_map={"pay-failed": DlqTarget(source_topic="pay", group="svc")}))
    groups = {"svc": GroupInfo("Stable", 1, set()), "audit": GroupInfo("Stable", 1, set())}
    st.update(snap({"svc": {("pay", 0): 0}, "audit": {("pay", 0): 0}},
                   {("pay", 0): 100, ("pay-failed", 0): 0}, {("pay-failed", 0): 0}, groups), 0)
    samples, _ = st.update(snap({"svc": {("pay", 0): 30}, "audit": {("pay", 0): 100}},
                                {("pay", 0): 100, ("pay-failed", 0): 10}, {("pay-failed", 0): 0}, groups), 1_000)
    # only svc's consumption counts (audit reads the same topic but does not dead-letter)
    assert one(samples, "kafka_topic_error_rate_ratio", topic="pay") == pytest.approx(10 / 40)


def test_timelag_edits_mirror_tables_and_restore():
    st = ClusterState(cfg(timelag_points=2))
    _, e1 = st.update(snap({}, {("t", 0): 1}), 1_000)
    st.update(snap({}, {("t", 0): 2}), 2_000)
    _, e3 = st.update(snap({}, {("t", 0): 3}), 3_000)
    assert e1 == [("t", 0, (), (1_000, 1))]
    assert e3 == [("t", 0, (1_000,), (3_000, 3))]  # table full: the oldest row goes
    # a topic that disappears takes its rows with it
    _, e4 = st.update(snap({}, {("x", 0): 1}), 4_000)
    assert ("t", 0, (2_000, 3_000), None) in e4
    tables, drop = restore_tables(cfg(timelag_points=2), {("x", 0): [(1, 1), (2, 2), (3, 3)]})
    assert [p.offset for p in tables[("x", 0)].points] == [2, 3] and drop == [("x", 0, (1,), None)]


def test_error_rate_unknown_without_a_known_consumer():
    # the DLQ fills but no (allowed) group reads the source topic: the ratio cannot be told
    st = ClusterState(cfg())
    st.update(snap({}, {("orders", 0): 10, ("orders.dlq", 0): 0}, {("orders.dlq", 0): 0}), 0)
    samples, _ = st.update(snap({}, {("orders", 0): 20, ("orders.dlq", 0): 4}, {("orders.dlq", 0): 0}), 1_000)
    assert one(samples, "dlq_inflow_rate_per_s", broker="kafka", dlq="orders.dlq") == 4.0
    assert one(samples, "kafka_topic_error_rate_ratio", topic="orders") is None


def test_burst_backlog_of_a_dead_group_is_never_0_seconds_behind():
    """Records written in one burst before the first look, consumer dead: the table is flat."""
    st = ClusterState(cfg())
    committed = {"g": {("t", 0): 0, ("t", 1): 100}}
    end = {("t", 0): 500, ("t", 1): 100}
    first, _ = st.update(snap(committed, end), 10_000)
    # first look: nothing dates the backlog yet; unknown (no value), not 0
    assert one(first, "kafka_group_lag_seconds", group="g", topic="t", partition="0") is None
    assert one(first, "kafka_group_lag_seconds_method", group="g", topic="t", partition="0") == 3
    assert one(first, "kafka_group_max_lag_seconds", group="g") is None
    assert one(first, "kafka_group_max_lag_seconds_method", group="g") == 3
    later, _ = st.update(snap(committed, end), 70_000)
    # a minute later: the records were there at the first look, so at least 60 s behind
    assert one(later, "kafka_group_lag_seconds", group="g", topic="t", partition="0") == 60.0
    assert one(later, "kafka_group_lag_seconds_method", group="g", topic="t", partition="0") == 2
    assert one(later, "kafka_group_lag_seconds_method", group="g", topic="t", partition="1") == 0
    assert one(later, "kafka_group_max_lag_seconds", group="g") == 60.0
    assert one(later, "kafka_group_max_lag_seconds_method", group="g") == 2


def test_exact_time_lag_from_the_record_timestamp():
    st = ClusterState(cfg())
    s = snap({"g": {("t", 0): 0, ("t", 1): 7}}, {("t", 0): 500, ("t", 1): 9})
    s.record_ts = {("t", 0, 0): 1_000, ("t", 1, 6): 5_000}  # (t,1) read at another offset: not used
    samples, _ = st.update(s, 61_000)
    assert one(samples, "kafka_group_lag_seconds", group="g", topic="t", partition="0") == 60.0
    assert one(samples, "kafka_group_lag_seconds_method", group="g", topic="t", partition="0") == 0
    # partition 1 is unknown (one table point, first look), so the group's 60 s is a lower bound
    assert one(samples, "kafka_group_lag_seconds", group="g", topic="t", partition="1") is None
    assert one(samples, "kafka_group_max_lag_seconds", group="g") == 60.0
    assert one(samples, "kafka_group_max_lag_seconds_method", group="g") == 2


def test_drain_eta_of_a_group():
    st = ClusterState(cfg())  # 10 s window
    end = {("t", 0): 1_000}
    # the producer stopped at 1000; the group consumes 50/s: 1000, 950, ... lag 1000 - committed
    for i in range(5):
        samples, _ = st.update(snap({"g": {("t", 0): 50 * i}}, end), 1_000 * i)
    # lag 800 at 4 s, draining at 50/s: 16 s to go
    assert one(samples, "kafka_group_drain_eta_seconds", group="g") == pytest.approx(16.0)
    samples, _ = st.update(snap({"g": {("t", 0): 200}}, end), 5_000)
    samples, _ = st.update(snap({"g": {("t", 0): 200}}, {("t", 0): 1_100}), 6_000)
    # stopped consuming while the producer goes on: over the window the lag still fell, but slower
    assert one(samples, "kafka_group_drain_eta_seconds", group="g") > 16.0
    for i in range(7, 20):
        samples, _ = st.update(snap({"g": {("t", 0): 200}}, {("t", 0): 1_100 + 10 * i}), 1_000 * i)
    assert one(samples, "kafka_group_drain_eta_seconds", group="g") == 315_360_000.0  # not draining


def test_record_stamped_in_the_future_falls_back_instead_of_0():
    st = ClusterState(cfg())
    committed = {"g": {("t", 0): 0}}
    st.update(snap(committed, {("t", 0): 500}), 1_000)
    s = snap(committed, {("t", 0): 500})
    s.record_ts = {("t", 0, 0): 99_000}  # the producer's clock is ahead of ours
    samples, _ = st.update(s, 31_000)
    assert one(samples, "kafka_group_lag_seconds", group="g", topic="t", partition="0") == 30.0
    assert one(samples, "kafka_group_lag_seconds_method", group="g", topic="t", partition="0") == 2
