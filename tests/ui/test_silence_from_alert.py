"""Silence from an alert row (AppTest, seeded store): "Silence…" fills the form with the alert's labels, the
form previews which alerts it would mute, takes "30m"/"2h", and the silence mutes exactly that alert."""
from __future__ import annotations

import yaml

from alerts import api
from store.db import connect_reader
from tests.ui.conftest import table_with


def test_silence_prefilled_from_alert_previews_and_adds(seeded):
    at = seeded()
    at.switch_page("views/alerts.py").run()
    now = table_with(at, "view")
    assert list(now.columns[:3]) == ["rule", "labels", "view"]  # which group/queue, and where, up front
    row = next(i for i, r in enumerate(now["rule"]) if r == "orders-lag-high")
    assert "group=orders-svc" in now["labels"].iloc[row]
    at.selectbox(key="silence_alert_pick").set_value(row).run()
    at.button(key="silence_from_alert").click().run()
    prefilled = yaml.safe_load(at.text_area(key="silence_matchers").value)
    assert prefilled["alertname"] == "orders-lag-high" and prefilled["group"] == "orders-svc"
    assert any("Would silence 1 of the" in c.value and "orders-lag-high" in c.value for c in at.caption)
    at.text_input(key="silence_duration").input("30m")
    at.text_input(key="silence_reason").input("deploy")
    next(b for b in at.button if b.label == "Add silence").click().run()
    assert not at.exception and any("Silence" in s.value and "added" in s.value for s in at.success)
    conn = connect_reader(seeded.store)
    try:
        sil = api.list_silences(conn, 0)
    finally:
        conn.close()
    mine = sil[sil["reason"] == "deploy"].iloc[0]
    assert mine["end_ms"] - mine["start_ms"] == 30 * 60_000


def test_bad_duration_is_refused_with_its_name(seeded):
    at = seeded()
    at.switch_page("views/alerts.py").run()
    at.text_area(key="silence_matchers").input("group: billing")
    at.text_input(key="silence_duration").input("soon")
    next(b for b in at.button if b.label == "Add silence").click().run()
    assert any("duration" in e.value for e in at.error)
