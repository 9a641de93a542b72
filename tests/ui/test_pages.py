"""Every registered page on the seeded store: no exception, and the key numbers equal the seeded values."""
from __future__ import annotations

import pytest

from tests import seed
from views.frames import md_escape
from tests.ui.conftest import metrics, table_with
from views.registry import PAGES
from tests.ui.pages_helpers import EXPECTED, QUEUE_READY

GROUP_LAG = {g: sum(p[0] for p in parts.values()) for g, (_, _, _, parts) in seed.GROUPS.items()}


@pytest.mark.parametrize("page", PAGES, ids=[p.title for p in PAGES])
def test_page_renders_seeded_numbers(seeded, page):
    at = seeded()
    at.switch_page(page.path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == page.title
    got = metrics(at)
    for label, value in EXPECTED.get(page.title, {}).items():
        assert got.get(label) == value, (page.title, label, got)


def test_kafka_tables_match_seed(seeded):
    at = seeded()
    at.switch_page("views/kafka.py").run()
    groups = table_with(at, "members").set_index("group")
    assert groups["lag (messages)"].to_dict() == {g: f"{v:,}" for g, v in GROUP_LAG.items()}
    assert groups.loc["audit", "status"] == "STOP" and groups.loc["audit", "state"] == "Empty"
    # time lag with its method's mark (exact, ≈ interpolated, ≥ lower bound) and the drain ETA
    assert groups["time lag"].to_dict() == {"orders-svc": "30 s", "billing": "≈ 2 s", "audit": "≥ 1 h"}
    assert groups["drain ETA"].to_dict() == {"orders-svc": "1 min 35 s", "billing": "drained",
                                             "audit": "not draining"}
    parts = table_with(at, "partition")  # the group with the largest lag is selected first
    worst = max(GROUP_LAG, key=GROUP_LAG.get)
    want = {(t, p): f"{v[0]:,}" for (t, p), v in seed.GROUPS[worst][3].items()}
    assert dict(zip(zip(parts["topic"], parts["partition"]), parts["lag (messages)"])) == want


def test_rabbitmq_queue_table_and_filter(seeded):
    at = seeded()
    at.switch_page("views/rabbitmq.py").run()
    table = table_with(at, "unacked").set_index("queue")
    assert table["ready"].to_dict() == {q: f"{v:,}" for q, v in QUEUE_READY.items()}
    assert table["status"].to_dict() == {"orders.in": "WARN", "email.send": "STOP", "orders.dlq": "unknown"}
    assert table["drain ETA"].to_dict() == {"orders.in": "3 min 10 s", "email.send": "not draining",
                                            "orders.dlq": "drained"}
    assert table.loc["orders.dlq", "head age"] == "10 min"
    at.text_input(key="rabbit_filter").input("orders").run()
    assert set(table_with(at, "unacked")["queue"]) == {q for q in seed.QUEUES if "orders" in q}


def test_broker_down_state_differs_from_no_data(seeded):
    at = seeded()
    at.switch_page("views/rabbitmq.py").run()
    at.selectbox(key="rabbit_cluster").select(seed.RABBIT_DOWN).run()
    assert any(md_escape(seed.DOWN_REASON, 500) in e.value and e.value.startswith("Broker down") for e in at.error)
    assert any(i.value.startswith("No data yet") for i in at.info)  # nothing collected from it either


def test_time_range_is_shared_between_pages(seeded):
    at = seeded()
    at.switch_page("views/kafka.py").run()
    at.selectbox(key="time_range_pick").select("last 24 h").run()
    at.switch_page("views/rabbitmq.py").run()
    assert at.selectbox(key="time_range_pick").value == "last 24 h"
    assert not at.exception
