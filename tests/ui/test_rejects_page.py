"""The System page shows the rejected-input counter and its last examples as plain text; the Alerts page
shows a rule that cannot be evaluated with its error while the others still are."""
from __future__ import annotations

from core.rejects import METRIC, Rejects
from store import alerts as store_alerts
from store import rejects as store_rejects
from store.db import open_migrated, transaction
from tests.ui.conftest import table_with

HOSTILE = "**bold** <script>alert(1)</script> [x](http://evil)"


def test_system_page_lists_rejected_inputs_escaped(seeded):
    at = seeded()
    conn = open_migrated(seeded.store)
    try:
        r = Rejects()
        r.record("telemetry", "not_json", HOSTILE, 1_000)
        r.record("telemetry", "not_json", "x" * 5000, 1_000)
        r.record("dlq.kafka", "bad_header", "partition '--5'", 1_000)
        store_rejects.flush_recorder(conn, r, 1_000)
    finally:
        conn.close()
    at.switch_page("views/system.py").run()
    assert not at.exception, [e.value for e in at.exception]
    counts = table_with(at, "rejected (total)")
    assert sorted(zip(counts["source"], counts["reason"], counts["rejected (total)"])) == \
        [("dlq.kafka", "bad_header", 1.0), ("telemetry", "not_json", 2.0)]
    examples = table_with(at, "text")
    assert HOSTILE in examples["text"].tolist()  # in a table cell: plain text, never Markdown or HTML
    assert max(len(t) for t in examples["text"]) <= 200
    assert not any(HOSTILE in m.value for m in at.markdown)
    assert METRIC == "eventdeck_rejected_inputs_total"


def test_alerts_page_shows_a_broken_rule_with_its_error(seeded):
    at = seeded()
    conn = open_migrated(seeded.store)
    try:  # a rule stored before the bounds existed: for_s is infinite
        spec = {"name": "broken-for", "metric": "kafka_group_lag_messages", "threshold": 1, "for_s": float("inf")}
        with transaction(conn):
            store_alerts.upsert_rule(conn, "broken-for", spec, False, 1, "t")
    finally:
        conn.close()
    at.switch_page("views/alerts.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("broken\\-for" in w.value and "for\\_s" in w.value for w in at.warning), [w.value for w in at.warning]
    at.selectbox(key="rule_pick").select("broken-for").run()  # opening it in the editor does not raise either
    assert not at.exception, [e.value for e in at.exception]
