"""Overview = needs attention (AppTest on the seeded store): one ranked list of what is wrong now, with
status in text, each row linking to its view; a group gone from its cluster's latest cycle is not on it."""
from __future__ import annotations

from tests import seed
from tests.gone_cycles import next_cycle_without
from tests.ui.conftest import table_with


def test_attention_list_ranks_what_is_wrong(seeded):
    at = seeded()
    todo = table_with(at, "severity")
    assert list(todo["rank"]) == list(range(1, len(todo) + 1))
    whats = list(todo["what"])
    # the seeded firing critical alert first, then the STOP group and queue
    assert whats[0].startswith("alert orders-lag-high")
    assert whats.index(f"Kafka group audit ({seed.KAFKA})") < whats.index(f"Kafka group orders-svc ({seed.KAFKA})")
    row = todo.set_index("what").loc[f"Kafka group audit ({seed.KAFKA})"]
    assert row["status"] == "STOP" and "critical" in row["severity"] and row["detail"].startswith("time lag")
    assert row["view"].startswith("/kafka?") and "kafka_group=audit" in row["view"]
    assert todo.set_index("what").loc[f"RabbitMQ queue email.send ({seed.RABBIT})", "status"] == "STOP"


def test_gone_group_leaves_the_attention_list(seeded):
    seeded()
    next_cycle_without(seeded.store, f"kafka:{seed.KAFKA}", ("kafka_", "dlq_"), {"group": "audit"})
    at = seeded()
    assert f"Kafka group audit ({seed.KAFKA})" not in set(table_with(at, "severity")["what"])
