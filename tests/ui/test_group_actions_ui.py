"""Kafka page, group view: skip-to-DLQ and offset reset behind a confirmation dialog with the dry run.
An operator skips the poison record of a real (private noida) broker through the page; a viewer and a
read-only cluster see the actions disabled, and say why."""
from __future__ import annotations

import struct

import yaml

from dlq import skip_plan as sp
from store import audit
from store.db import connect_reader
from tests import seed
from tests.integration.dlq_helpers import make_topics
from tests.integration.group_helpers import commit, committed, records_with, seed_to


def _kafka_page(at):
    at = at.switch_page("views/kafka.py").run()
    at.selectbox(key="kafka_group").select("orders-svc").run()
    return at


def _config(seeded, tmp_path, monkeypatch, **cluster):
    seeded()  # writes the configuration
    path = tmp_path / "eventdeck.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["kafka"]["clusters"][0].update(cluster)
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("EVENTDECK_CONFIG", str(path))


def test_viewer_sees_actions_disabled(seeded, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__ANONYMOUS_ROLE", "viewer")
    at = _kafka_page(seeded())
    assert not at.exception
    assert any("need the operator role" in c.value for c in at.caption)
    assert at.button(key="skip_open").disabled and at.button(key="reset_open").disabled


def test_read_only_cluster_says_so(seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__ANONYMOUS_ROLE", "operator")
    _config(seeded, tmp_path, monkeypatch, read_only=True)
    from streamlit.testing.v1 import AppTest

    from tests.ui.conftest import APP, RUN_TIMEOUT_S

    at = _kafka_page(AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run())
    assert not at.exception
    assert any("read-only" in i.value for i in at.info)
    assert at.button(key="skip_open").disabled


def test_operator_skips_the_poison_record_through_the_dialog(seeded, tmp_path, monkeypatch, kafka_factory):
    broker = kafka_factory("noida")
    bs = broker.bootstrap
    make_topics(bs, {"orders": 3, "orders.DLT": 3})
    seed_to(bs, "orders", [(0, b"a", b"ok", []), (0, b"b", b"POISON", [("h", b"1")]), (0, b"c", b"ok", [])])
    commit(bs, "orders-svc", {("orders", 0): 1})
    monkeypatch.setenv("EVENTDECK_DASHBOARD__ANONYMOUS_ROLE", "operator")
    _config(seeded, tmp_path, monkeypatch, bootstrap_servers=[bs])
    from streamlit.testing.v1 import AppTest

    from tests.ui.conftest import APP, RUN_TIMEOUT_S

    at = _kafka_page(AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run())
    assert at.selectbox(key="skip_partition").value == "orders[0]"
    at.text_input(key="skip_reason").input("NPE in handler").run()
    at.button(key="skip_open").click().run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert any("copy offset 1 of orders[0] to orders.DLT[0], then commit the group at 2 (now 1)" in t for t in texts), texts
    assert committed(bs, "orders-svc")[("orders", 0)] == 1  # the dry run changed nothing
    at.button(key="group_action_confirm").click().run()
    assert not at.exception
    assert any("Skip to DLQ: skipped" in s.value for s in at.success)
    assert committed(bs, "orders-svc")[("orders", 0)] == 2
    (copy,) = records_with(bs, "orders.DLT", sp.SKIP_ID)
    assert copy.value == b"POISON" and copy.headers[0] == ("h", b"1")
    assert struct.unpack(">q", sp.header_value(copy.headers, "kafka_dlt-original-offset")) == (1,)
    conn = connect_reader(seeded.store)
    try:
        rows = audit.find(conn, "kafka.group.skip", f"kafka:{seed.KAFKA}:orders-svc")
    finally:
        conn.close()
    assert [(r["outcome"], r["actor"]) for r in rows] == [("skipped", "local")]

    # an offset reset's dry run shows current -> new per partition
    at.selectbox(key="reset_mode").select("earliest").run()
    at.button(key="reset_open").click().run()
    assert any("Reset to earliest: 0 records skipped, 2 re-read" in t.value for t in at.text)
    at.button(key="group_action_cancel").click().run()
    assert committed(bs, "orders-svc")[("orders", 0)] == 2
