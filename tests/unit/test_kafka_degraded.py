"""The Kafka collector lists the parts the broker refused (runner.collect.Degraded) instead of only logging
them: a group whose offsets cannot be read, a topic whose offsets cannot be listed. A stand-in admin client
answers like kafka-python's (pure logic: no broker)."""
from __future__ import annotations

from types import SimpleNamespace

import kafka.errors as kerr
import pytest
from kafka.admin import OffsetSpec
from kafka.structs import TopicPartition

from collectors.kafka import KafkaCollector
from config.kafka import KafkaClusterConfig
from runner.collect import Degraded


class Admin:
    """Refuses a batched request, then the parts named in ``refuse`` one by one."""

    def __init__(self, refuse: set[str]):
        self.refuse = refuse

    def list_group_offsets(self, groups):
        if len(groups) > 1 or set(groups) & self.refuse:
            raise kerr.GroupAuthorizationFailedError("not allowed")
        g = next(iter(groups))
        return {g: {TopicPartition("t", 0): SimpleNamespace(offset=5)}}

    def list_partition_offsets(self, specs):
        topics = {tp.topic for tp in specs}
        if len(topics) > 1 or topics & self.refuse:
            raise kerr.UnknownTopicOrPartitionError("gone")
        return {tp: SimpleNamespace(offset=9) for tp in specs}


def _collector() -> KafkaCollector:
    c = KafkaCollector.__new__(KafkaCollector)  # no store, no client: only the fetch helpers are exercised
    c.cfg = KafkaClusterConfig(name="c", bootstrap_servers=["127.0.0.1:1"])
    c.client_conf, c.target, c._degraded = {}, "kafka:c", []
    return c


@pytest.mark.parametrize("refuse, groups, want_groups, want_degraded", [
    (set(), ["a"], {"a"}, []),  # one group: the batched request is the group's own
    ({"b"}, ["a", "b", "c"], {"a", "c"}, [("group", "b")]),
    ({"a", "c"}, ["a", "b", "c"], {"b"}, [("group", "a"), ("group", "c")]),
])
def test_refused_groups_are_listed_and_the_rest_read(refuse, groups, want_groups, want_degraded):
    c = _collector()
    got = c._committed(Admin(refuse), groups)
    assert set(got) == want_groups and all(offs == {("t", 0): 5} for offs in got.values())
    assert [(d.reason, d.part) for d in c._degraded] == want_degraded
    assert all(isinstance(d, Degraded) and d.detail.startswith("GroupAuthorizationFailedError") for d in c._degraded)


@pytest.mark.parametrize("refuse, want_tps, want_degraded", [
    ({"y"}, {("x", 0), ("z", 0)}, [("topic", "y")]),
    (set(), {("x", 0), ("y", 0), ("z", 0)}, []),  # the batch is refused, each topic alone answers
])
def test_refused_topics_are_listed_and_the_rest_read(refuse, want_tps, want_degraded):
    c = _collector()
    admin = Admin(refuse)
    tps = [("x", 0), ("y", 0), ("z", 0)]
    got = c._offsets(admin, tps, OffsetSpec.LATEST)
    assert set(got) == want_tps and set(got.values()) == {9}
    assert [(d.reason, d.part) for d in c._degraded] == want_degraded
