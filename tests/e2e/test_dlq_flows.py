"""The DLQ flows of issue 18 in a real browser: a deep link opens the DLQ with its filter and time
range; two rows ticked in the table are exactly what the confirmation lists; an edited payload is
what the replay publishes, and the audit has the diff. Screenshots in test-artifacts/screenshots/."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import urlencode

import pika
import pytest

from config import load_settings
from core import links
from demo.screenshots import settle
from dlq import api
from dlq.jobs import run_pending
from store import audit
from store.db import connect_reader
from tests import seed
from tests.e2e.conftest import shoot

ROW_H = 35  # px: Streamlit's dataframe row height (header row the same)


@pytest.fixture
def rabbit_dlq(rabbitmq, dashboard):
    source, dlq = seed.real_rabbit_dlq(rabbitmq.amqp_url, dashboard.store, int(time.time() * 1000))
    yield dlq
    seed.delete_queues(rabbitmq.amqp_url, source, dlq)


def _link(dashboard, dlq: str, **extra: str) -> str:
    params = {links.DLQ: links.dlq_label("rabbitmq", seed.RABBIT, "/", dlq), **extra}
    return f"{dashboard.url}/dlq?{urlencode(params)}"


def _messages_grid(page):
    grid = page.locator('[data-testid="stDataFrame"]').nth(1)  # the DLQ list, then the messages
    grid.wait_for(timeout=60_000)
    return grid


def _tick_rows(page, rows: list[int]) -> None:
    """Tick the row-selection boxes of the messages table (drawn on a canvas: click by position)."""
    box = _messages_grid(page).bounding_box()
    for r in rows:
        page.mouse.click(box["x"] + 18, box["y"] + ROW_H * (r + 1) + ROW_H / 2)
        page.wait_for_timeout(300)
    settle(page)


def test_deep_link_opens_the_view(dashboard, page, rabbit_dlq):
    page.goto(_link(dashboard, rabbit_dlq, **{links.DLQ_REASON: "rejected", links.RANGE: "last 6 h"}))
    page.get_by_text(f"Messages in {rabbit_dlq}").wait_for(timeout=60_000)
    settle(page)
    shoot(page, "dlq-deep-link")
    assert page.get_by_label("Reason contains", exact=True).input_value() == "rejected"
    picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    assert "last 6 h" in (picker.locator("input").first.input_value() + picker.inner_text())
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("updated ").count() > 0  # the live mark


def test_two_ticked_rows_are_what_the_confirmation_lists(dashboard, page, rabbit_dlq):
    page.goto(_link(dashboard, rabbit_dlq))
    page.get_by_text(f"Messages in {rabbit_dlq}").wait_for(timeout=60_000)
    settle(page)
    _tick_rows(page, [0, 2])
    button = page.get_by_role("button", name=re.compile(r"^Replay 2 selected \("))
    button.wait_for(timeout=30_000)
    button.click()
    dialog = page.get_by_role("dialog")
    dialog.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    settle(page)
    shoot(page, "dlq-two-selected")
    assert dialog.locator('[data-testid="stMetricValue"]').first.inner_text() == "2"  # replay: exactly 2
    text = dialog.inner_text()
    assert "2 ticked messages" in text and "Time range: none" in text
    for option in ("Target override", "Rate (messages/s)", "Window (unconfirmed publishes)", "Force"):
        assert option in text, option  # the options, before Confirm


def test_edited_payload_is_replayed_and_audited(dashboard, page, rabbit_dlq, rabbitmq):
    page.goto(_link(dashboard, rabbit_dlq))
    page.get_by_text(f"Messages in {rabbit_dlq}").wait_for(timeout=60_000)
    settle(page)
    _tick_rows(page, [1])  # '{"order": 1}'
    page.get_by_role("button", name=re.compile(r"^Replay 1 selected \(")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Edit payload and headers before replay").click()
    area = dialog.get_by_label("Payload", exact=True)
    area.wait_for(timeout=30_000)
    assert json.loads(area.input_value()) == {"order": 1}
    area.fill('{"order": 1, "fixed": true}')
    area.press("Control+Enter")  # commit the text area
    dialog.get_by_text('+{"order": 1, "fixed": true}').wait_for(timeout=30_000)
    settle(page)
    shoot(page, "dlq-edit")
    dialog.get_by_role("button", name="Confirm replay").click()
    page.get_by_text("queued; the collector service runs it").wait_for(timeout=60_000)

    conn = connect_reader(dashboard.store)
    try:
        job = api.list_jobs(conn)[0]
    finally:
        conn.close()
    settings = load_settings(str(dashboard.config))  # the dashboard's (seed_config)
    assert run_pending(settings, dashboard.store, job["id"]) == job["id"]
    amqp = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        _, _, body = amqp.channel().basic_get(rabbit_dlq.removesuffix(".dlq"), auto_ack=True)
    finally:
        amqp.close()
    assert body == b'{"order": 1, "fixed": true}'
    conn = connect_reader(dashboard.store)
    try:
        log = audit.read(conn, action_prefix="dlq.")
    finally:
        conn.close()
    detail = log[log["action"] == "dlq.replay.edited"].iloc[0]["detail"]
    assert '+{"order": 1, "fixed": true}' in detail["payload_diff"]
    page.reload()
    page.get_by_text("Audit").first.wait_for(timeout=60_000)
    settle(page)
    shoot(page, "dlq-after-edit")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_follows_the_browser(dashboard, browser, scheme):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1200}, color_scheme=scheme)
    try:
        p = ctx.new_page()
        p.goto(f"{dashboard.url}/alerts")
        settle(p)
        shoot(p, f"theme-{scheme}")
        rgb = p.evaluate("getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
        level = sum(int(c) for c in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]) / 3
        assert (level < 80) if scheme == "dark" else (level > 200), rgb
    finally:
        ctx.close()


def _dialog_metric(page):
    dialog = page.get_by_role("dialog")
    dialog.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    settle(page)
    return dialog, dialog.locator('[data-testid="stMetricValue"]').first.inner_text()


def test_window_and_filter_entries_open_the_same_dialog(dashboard, page, rabbit_dlq):
    """The time window and the filters lead to the dialog the ticks lead to: the same options before Confirm,
    the time range a switch in it (on from the window entry, off from the filters entry)."""
    page.goto(_link(dashboard, rabbit_dlq, **{links.DLQ_REASON: "rejected"}))
    page.get_by_text(f"Messages in {rabbit_dlq}").wait_for(timeout=60_000)
    settle(page)
    seen = {}
    for name, entry in (("window", re.compile(r"^Replay this time window \(")),
                        ("filters", re.compile(r"^Replay what the filters match"))):
        page.get_by_role("button", name=entry).click()
        dialog, replay = _dialog_metric(page)
        text = dialog.inner_text()
        for option in ("Target override", "Rate (messages/s)", "Window (unconfirmed publishes)", "Force",
                       "Only messages dead-lettered"):
            assert option in text, (name, option)
        seen[name] = (replay, dialog.get_by_role("switch").first.is_checked(), "reason contains 'rejected'" in text)
        shoot(page, f"dlq-replay-dialog-{name}")
        dialog.get_by_role("button", name="Cancel").click()
        dialog.wait_for(state="detached", timeout=30_000)
        settle(page)
    assert seen == {"window": ("3", True, True), "filters": ("3", False, True)}
    assert page.locator('[data-testid="stException"]').count() == 0


def test_page_is_split_into_tabs_and_the_tab_is_in_the_link(dashboard, page, rabbit_dlq):
    page.goto(_link(dashboard, rabbit_dlq))
    page.get_by_text(f"Messages in {rabbit_dlq}").wait_for(timeout=60_000)
    settle(page)
    tabs = page.get_by_role("tab")
    assert [t.inner_text() for t in tabs.all()][:4] == ["Messages", "Search & export", "Replay jobs", "Audit"]
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    shoot(page, "dlq-tab-messages")
    page.get_by_role("tab", name="Replay jobs").click()
    page.get_by_role("heading", name="Replay jobs").wait_for(timeout=60_000)
    settle(page)
    assert not page.get_by_text(f"Messages in {rabbit_dlq}").is_visible()  # messages are not on this tab
    assert "dlq_tab=" in page.url  # the open tab is in the link
    shoot(page, "dlq-tab-jobs")
    page.goto(_link(dashboard, rabbit_dlq, dlq_tab="Audit"))  # a link opens the tab it names
    page.get_by_role("heading", name="Audit").wait_for(timeout=60_000)
    settle(page)
    assert not page.get_by_text(f"Messages in {rabbit_dlq}").is_visible()
    shoot(page, "dlq-tab-audit")
    assert height < 4000, height  # the messages tab alone, not one 4,000-pixel scroll
    assert page.locator('[data-testid="stException"]').count() == 0
