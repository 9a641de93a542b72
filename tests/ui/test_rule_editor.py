"""The rule editor (AppTest, seeded store, both backends): metrics offered with unit and help, label conditions as
rows, a live preview computed from the store's latest values, and the saved rule holding the rows' selector."""
from __future__ import annotations

from alerts import api
from alerts.evaluator import series_points
from alerts.preview import preview
from alerts.rules import rule_from_dict
from store.db import connect_reader

METRIC = "kafka_group_lag_messages"


def _read(store, fn):
    conn = connect_reader(store)
    try:
        return fn(conn)
    finally:
        conn.close()


def _preview_text(at) -> str:
    return next(i.value for i in at.info if i.value.startswith("Preview:"))


def test_rows_preview_and_save(seeded):
    at = seeded()
    at.switch_page("views/alerts.py").run()
    box = at.selectbox(key="rule_metric")
    assert "kafka_group_lag_messages (messages)" in box.options  # the metric with its unit
    box.select(METRIC).run()
    assert any("Lag in messages" in c.value and "Unit: messages" in c.value for c in at.caption)  # the catalogue's help
    at.number_input(key="rule_threshold").set_value(100.0).run()
    everything = _preview_text(at)
    points = _read(seeded.store, lambda c: series_points(c, METRIC))
    rule = rule_from_dict({"name": "x", "metric": METRIC, "threshold": 100.0})
    want = preview(rule, points, _now(at))
    assert f"matches {want.matched} of {want.total} series" in everything and want.total > 1

    at.button(key="rule_row_add").click().run()  # one row: label, operator, value
    label = at.selectbox(key="rule_row_0_label")
    assert {"group", "partition", "topic"} <= set(label.options)  # chosen from the metric's own labels
    label.select("group").run()
    at.selectbox(key="rule_row_0_op").select("=").run()
    at.text_input(key="rule_row_0_value").input("orders-svc").run()
    narrowed = _preview_text(at)
    rule = rule_from_dict({"name": "x", "metric": METRIC, "threshold": 100.0, "selector": {"group": "orders-svc"}})
    want = preview(rule, points, _now(at))
    assert 0 < want.matched < want.total
    assert f"matches {want.matched} of {want.total} series" in narrowed
    assert f"{want.over} of {want.groups} series over the threshold now" in narrowed

    at.text_input(key="rule_name").input("orders-partition-lag").run()
    at.button(key="rule_save").click().run()
    assert not at.exception and any("saved" in s.value for s in at.success)
    saved = next(r for r in _read(seeded.store, api.list_rules) if r["name"] == "orders-partition-lag")
    assert (saved["metric"], saved["selector"], saved["threshold"]) == (METRIC, {"group": "orders-svc"}, 100.0)

    at.button(key="rule_row_0_del").click().run()  # removing the row widens the preview again
    assert f"matches {want.total} of {want.total} series" in _preview_text(at)


def test_editing_a_rule_shows_its_selector_as_rows(seeded):
    at = seeded()
    at.switch_page("views/alerts.py").run()
    at.selectbox(key="rule_pick").select("orders-lag-high").run()
    stored = next(r for r in _read(seeded.store, api.list_rules) if r["name"] == "orders-lag-high")
    assert at.text_input(key="rule_name").value == "orders-lag-high"
    assert at.selectbox(key="rule_metric").value == stored["metric"]
    rows = {at.selectbox(key=f"rule_row_{i}_label").value: at.text_input(key=f"rule_row_{i}_value").value
            for i in range(len(stored["selector"]))}
    assert rows == stored["selector"]
    assert "Preview: matches" in _preview_text(at)
    at.selectbox(key="rule_pick").select("(new rule)").run()  # back to an empty rule: no rows
    assert at.text_input(key="rule_name").value == "" and not any(
        s.key == "rule_row_0_label" for s in at.selectbox)


def test_a_bad_regex_row_is_named_before_saving(seeded):
    at = seeded()
    at.switch_page("views/alerts.py").run()
    at.selectbox(key="rule_metric").select(METRIC).run()
    at.button(key="rule_row_add").click().run()
    at.selectbox(key="rule_row_0_label").select("topic").run()
    at.selectbox(key="rule_row_0_op").select("regex").run()
    at.text_input(key="rule_row_0_value").input("(unclosed").run()
    assert any("Not a valid rule yet" in w.value and "selector.topic" in w.value.replace("\\", "") for w in at.warning)
    assert not any(i.value.startswith("Preview:") for i in at.info)


def _now(at) -> int:
    """The page's clock as the preview used it (the seeded data is current: a second either way is the same)."""
    import time
    return int(time.time() * 1000)
