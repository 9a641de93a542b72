"""Issue 24 in a real browser: a Kafka DLQ mixing Avro (prefix and header framing), Protobuf, JSON Schema,
plain JSON and garbage — bytes from confluent-kafka's serializers through the registry stand-in
(tests/registry_standin.py) on a real broker — shows each message decoded with its subject/version/id, or with
its reason; an invalid edit of the Avro message is refused with the validation error, a valid one replays with
the message's own schema id and decodes on the target. Screenshots in test-artifacts/screenshots/ (and
$SHOTS_24 when set)."""
from __future__ import annotations

import contextlib
import json
import re
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from config import load_settings
from core import links
from demo.screenshots import settle
from dlq import api
from dlq.jobs import run_pending
from dlq.schemas import decoder_for
from store.db import connect_reader, open_migrated
from store.types import Sample
from store.writes import SampleWriter
from tests.e2e.conftest import shoot, streamlit_on
from tests.integration.dlq_helpers import make_topics, read_all, seed, spring, uid
from tests.registry_standin import RegistryStandIn
from tests.schema_samples import sample_messages

ROW_H = 35


@contextlib.contextmanager
def _serve(tmp: Path, cfg: dict):
    path = tmp / "eventdeck.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with streamlit_on(tmp, path) as (url, _log):
        yield url


@pytest.fixture
def schema_dashboard(kafka, tmp_path):
    reg = RegistryStandIn().start()
    u = uid()
    orders, dlq = f"orders-{u}", f"orders-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    samples = sample_messages(reg.url, dlq)
    seed(kafka.bootstrap, dlq, [(k, v, h + spring(orders, 0, i)) for i, (_, k, v, h, _) in enumerate(samples)])
    store = tmp_path / "eventdeck.db"
    conn = open_migrated(store)
    try:
        SampleWriter(conn).write([Sample("dlq_messages", {"broker": "kafka", "cluster": "k", "dlq": dlq},
                                         int(time.time() * 1000), float(len(samples)))])
    finally:
        conn.close()
    cfg = {"store": {"path": str(store)}, "dlq": {"allowed_targets": {"k": ["*"]}},
           "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [kafka.bootstrap],
                                   "schema_registry": {"url": reg.url}}]},
           "dashboard": {"auth": "none", "refresh_s": 60, "anonymous_role": "operator"}}  # the local user replays
    try:
        with _serve(tmp_path, cfg) as url:
            yield url, store, orders, dlq, samples
    finally:
        reg.stop()


def _save(page, name: str) -> None:
    path = shoot(page, name)
    extra = os.environ.get("SHOTS_24")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


def _detail(page, coord: str, expect: str) -> str:
    """Show message ``coord`` in the detail pane; the page text once it shows ``expect`` (polled: a rerun
    hides elements while it runs)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Message detail")
    box.click()
    page.get_by_role("option", name=coord, exact=True).click()
    deadline = time.monotonic() + 60
    while True:
        settle(page)
        text = page.locator('[data-testid="stMain"]').inner_text().replace("\\", "")
        if expect in text or time.monotonic() > deadline:
            return text
        page.wait_for_timeout(300)


@pytest.mark.timeout(480)  # five message details, two edits and a replay: minutes on a loaded 2-core machine
def test_mixed_dlq_is_decoded_per_message_and_an_avro_edit_keeps_its_schema_id(schema_dashboard, page):
    url, store, orders, dlq, samples = schema_dashboard
    page.goto(f"{url}/dlq?{urlencode({links.DLQ: links.dlq_label('kafka', 'k', None, dlq)})}")
    page.get_by_text(f"Messages in {dlq}").wait_for(timeout=60_000)
    settle(page)
    by_label = {label: f"0:{i}" for i, (label, *_rest) in enumerate(samples)}
    proto = f"Value decoded (protobuf): {dlq}-value v2 (schema id 3) demo.Order"
    text = _detail(page, by_label["protobuf"], proto)
    assert proto in text and '"currency": "EUR"' in text
    _save(page, "dlq-schemas-protobuf")
    text = _detail(page, by_label["garbage"], "unknown id")
    assert "unknown id: GET /schemas/ids/2147483647: 404 not found" in text
    _save(page, "dlq-schemas-reason")
    text = _detail(page, by_label["plain-json"], '"plain": true')
    assert "decoded (" not in text and '"plain": true' in text
    text = _detail(page, by_label["json-schema"], '"qty": 4')
    assert '"qty": 4' in text and "Value decoded (json)" in text
    text = _detail(page, by_label["avro"], '"string": "first"')
    assert '"string": "first"' in text and f"Value decoded (avro): {dlq}-value v1 (schema id 1)" in text
    assert page.locator('[data-testid="stException"]').count() == 0
    _save(page, "dlq-schemas-mixed")

    grid = page.locator('[data-testid="stDataFrame"]').nth(1)
    box = grid.bounding_box()
    row = len(samples) - 1 - int(by_label["avro"].split(":")[1])  # newest first
    page.mouse.click(box["x"] + 18, box["y"] + ROW_H * (row + 1) + ROW_H / 2)
    settle(page)
    def open_edit():
        page.get_by_role("button", name=re.compile(r"^Replay 1 selected \(")).click()  # it names the message
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Edit the decoded value before replay").click()
        area = dialog.get_by_label("Decoded value (JSON)")
        area.wait_for(timeout=30_000)
        return dialog, area

    dialog, area = open_edit()
    assert json.loads(area.input_value())["id"] == "p-1"
    area.fill(json.dumps({"id": "p-1", "amount": "lots", "note": None, "tags": []}))
    area.press("Control+Enter")
    dialog.get_by_text("Refused: invalid edit").wait_for(timeout=30_000)
    settle(page)
    assert dialog.get_by_role("button", name="Confirm replay").last.is_disabled()
    assert "amount" in dialog.inner_text()
    _save(page, "dlq-schemas-invalid-edit")
    # Corrected in place, in the same dialog: one Confirm/Cancel row, never a faded stale copy of it.
    edited = {"id": "p-1", "amount": 20.0, "note": {"string": "fixed"}, "tags": ["a"]}
    area.fill(json.dumps(edited))
    area.press("Control+Enter")
    confirm = dialog.get_by_role("button", name="Confirm replay")
    deadline = time.monotonic() + 120
    while not (confirm.count() == 1 and confirm.is_enabled() and json.loads(area.input_value() or "null") == edited):
        page.wait_for_timeout(500)
        if time.monotonic() > deadline:
            _save(page, "dlq-schemas-confirm-stuck")
            pytest.fail("Confirm replay never became enabled: " + dialog.inner_text()[-800:])
    settle(page)
    assert dialog.get_by_role("button", name="Cancel").count() == 1
    assert dialog.locator('[data-stale="true"]').count() == 0
    assert "Refused: invalid edit" not in dialog.inner_text()
    _save(page, "dlq-schemas-corrected-edit")
    confirm.click()
    page.get_by_text("queued; the collector service runs it").wait_for(timeout=60_000)

    conn = connect_reader(store)
    try:
        job = api.list_jobs(conn)[0]
    finally:
        conn.close()
    settings = load_settings(str(store.parent / "eventdeck.yaml"))
    assert run_pending(settings, store, job["id"]) == job["id"]
    [copy] = read_all(settings.kafka.clusters[0].bootstrap_servers[0], orders, 1)
    original = samples[0][2]
    assert copy.value[:5] == original[:5]  # the message's own schema id
    assert decoder_for(settings.kafka.clusters[0]).decode(copy.value, copy.headers)["value"] == edited
