"""DLQ page: search the whole DLQ and export the matches (operator), on a real RabbitMQ DLQ."""
from __future__ import annotations

from dlq import search as se
from store import audit
from store.db import connect_reader
from tests import seed
from tests.ui.conftest import open_dlq, open_tab, sign_in


def _log(store):
    conn = connect_reader(store)
    try:
        return audit.read(conn, limit=50)
    finally:
        conn.close()


def test_operator_searches_and_exports(seeded, rabbit_dlq):
    at = open_tab(open_dlq(sign_in(seeded(auth="password"), "otto", seed.USERS["otto"][1]), rabbit_dlq),
                  "Search & export")
    at.text_input(key="dlq_search_payload").input("xss").run()
    at.button(key="dlq_search_go").click().run()
    assert not at.exception
    assert any(t.value.startswith("1 match(es) in 3 of 3 messages (the whole DLQ)") for t in at.text)
    rows = next(d.value for d in at.dataframe if "exception_class" in d.value.columns)
    assert len(rows) == 1
    at.radio(key="dlq_export_format").set_value("jsonl").run()
    at.button(key="dlq_export_go").click().run()
    assert not at.exception
    data = at.session_state["dlq_export_data"]["data"]
    (rec,) = se.read_export(data, "jsonl")
    assert rec["value"] == seed.SCRIPT_PAYLOAD and dict(rec["headers"])["note"] == seed.SCRIPT_HEADER
    log = _log(seeded.store)
    row = log[log["action"] == "dlq.export"].iloc[0]
    assert (row["actor"], row["outcome"], row["detail"]["exported"]) == ("otto", "exported", 1)


def test_viewer_cannot_export(seeded, rabbit_dlq, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DLQ__RABBIT_BROWSE_ROLE", "viewer")
    at = open_tab(open_dlq(sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1]), rabbit_dlq),
                  "Search & export")
    at.button(key="dlq_search_go").click().run()
    assert any(t.value.startswith("3 match(es)") for t in at.text)
    assert at.button(key="dlq_export_go").disabled
    assert (_log(seeded.store)["action"] == "dlq.export").sum() == 0
