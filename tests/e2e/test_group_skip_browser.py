"""Skip-to-DLQ in a real browser: the Kafka page's group view (deep link), the confirmation dialog with the
dry run, Confirm, and the group committed past the poison record whose copy is in the DLQ. Screenshots in
test-artifacts/screenshots/group-skip-*.png."""
from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import yaml

from demo.screenshots import settle
from dlq import skip_plan as sp
from tests import seed
from tests.e2e.conftest import shoot, streamlit_on
from tests.integration.dlq_helpers import make_topics
from tests.integration.group_helpers import commit, committed, records_with, seed_to


@pytest.fixture
def kafka_dashboard(tmp_path, kafka_factory):
    """A private noida with a group stuck on a poison record, and a dashboard (operator without sign-in) on it."""
    broker = kafka_factory("noida")
    bs = broker.bootstrap
    make_topics(bs, {"orders": 3, "orders.DLT": 3})
    seed_to(bs, "orders", [(0, b"a", b'{"order": 1}', []), (0, b"b", b'{"order": null}', [("trace", b"t-2")]),
                           (0, b"c", b'{"order": 3}', [])])
    commit(bs, "orders-svc", {("orders", 0): 1})
    store = tmp_path / "eventdeck.db"
    seed.seed_store(store, int(time.time() * 1000))
    cfg_path = seed.seed_config(tmp_path, store)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["kafka"]["clusters"][0]["bootstrap_servers"] = [bs]
    cfg["dashboard"]["anonymous_role"] = "operator"
    cfg_path.write_text(yaml.safe_dump(cfg))
    with streamlit_on(tmp_path, cfg_path) as (url, _log):
        yield url, bs


def test_skip_the_poison_record_from_the_group_view(kafka_dashboard, page):
    url, bs = kafka_dashboard
    page.goto(f"{url}/kafka?{urlencode({'kafka_group': 'orders-svc'})}")
    page.get_by_text("Actions on this group").wait_for(timeout=60_000)
    settle(page)
    page.get_by_label("Reason (travels with the copy)").fill("order is null: NPE in the handler")
    page.get_by_label("Reason (travels with the copy)").press("Enter")
    settle(page)
    page.get_by_role("button", name="Skip record at committed offset to DLQ…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("copy offset 1 of orders[0] to orders.DLT[0]").wait_for(timeout=60_000)
    settle(page)
    shoot(page, "group-skip-1-dry-run")
    assert committed(bs, "orders-svc")[("orders", 0)] == 1
    dialog.get_by_role("button", name="Confirm").click()
    page.get_by_text("Skip to DLQ: skipped").wait_for(timeout=60_000)
    settle(page)
    shoot(page, "group-skip-2-done")
    assert committed(bs, "orders-svc")[("orders", 0)] == 2
    (copy,) = records_with(bs, "orders.DLT", sp.SKIP_ID)
    assert copy.value == b'{"order": null}' and sp.header_value(copy.headers, sp.SKIPPED_BY) == b"local"
