"""Alerts page: each firing or pending alert links to the view that shows its series."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.ui.conftest import table_with


def test_each_alert_links_to_its_view(seeded):
    at = seeded()
    at.switch_page("views/alerts.py").run()
    assert not at.exception
    now = table_with(at, "view")
    assert len(now) >= 1
    for link in now["view"]:
        u = urlsplit(link)
        assert u.path == "/kafka"  # the seeded alerts are on Kafka group lag
        q = parse_qs(u.query)
        assert q["kafka_group"] and q["kafka_cluster"] and q["time_range_pick"] == ["last 1 h"]
