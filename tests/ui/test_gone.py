"""Gone entities on the pages (AppTest): a group and a queue absent from their target's latest successful
cycle leave the now-tables, totals and top lists; "Show gone" lists them with "last seen"."""
from __future__ import annotations

from tests import seed
from tests.gone_cycles import next_cycle_without
from tests.ui.conftest import metrics, table_with


def test_deleted_group_and_queue_leave_now_views_and_totals(seeded):
    at = seeded()
    before = metrics(at)
    next_cycle_without(seeded.store, f"kafka:{seed.KAFKA}", ("kafka_", "dlq_"), {"group": "audit"})
    next_cycle_without(seeded.store, f"rabbitmq:{seed.RABBIT}", ("rabbitmq_", "dlq_"), {"queue": "email.send"})
    at = seeded()
    after = metrics(at)
    audit_lag = sum(lag for lag, _, _ in seed.GROUPS["audit"][3].values())
    assert before["Kafka lag (messages)"] == f"{seed.TOTAL_LAG:,}"
    assert after["Kafka lag (messages)"] == f"{seed.TOTAL_LAG - audit_lag:,}"
    worst = table_with(at, "lag (messages)")
    assert "audit" not in set(worst["group"])
    deepest = table_with(at, "ready (messages)")
    assert "email.send" not in set(deepest["queue"])

    at.switch_page("views/kafka.py").run()
    groups = table_with(at, "members")
    assert "audit" not in set(groups["group"])
    assert metrics(at)["Groups not OK"] == str(sum(1 for g in groups["status"] if g != "OK"))
    toggle = at.toggle(key="kafka_gone")
    assert toggle.label.startswith("Show gone groups (1)")
    toggle.set_value(True).run()
    gone = table_with(at, "last seen")
    assert list(gone["group"]) == ["audit"] and list(gone["status"]) == ["gone"]
    assert gone["last seen"].iloc[0].endswith("UTC")

    at.switch_page("views/rabbitmq.py").run()
    assert "email.send" not in set(table_with(at, "unacked")["queue"])
    at.toggle(key="rabbit_gone").set_value(True).run()
    assert list(table_with(at, "last seen")["queue"]) == ["email.send"]
