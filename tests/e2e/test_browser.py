"""Every page in a real browser (Chromium via Playwright): renders, charts drawn, no error box, screenshots."""
from __future__ import annotations

import time

import pytest

from demo.screenshots import settle, url_path
from tests import seed
from tests.e2e.conftest import shoot
from views.registry import PAGES

# Pages whose seeded data draws plotly charts (the others show tables and tiles only).
CHARTED = {"Overview", "Kafka", "RabbitMQ", "Consumers"}


@pytest.mark.parametrize("spec", PAGES, ids=[p.title for p in PAGES])
def test_page_in_browser(dashboard, page, spec):
    page.goto(f"{dashboard.url}/{url_path(spec)}")
    page.wait_for_selector(f'h1:has-text("{spec.title}")', timeout=60_000)
    if spec.title in CHARTED:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    settle(page)
    shoot(page, spec.title.lower())
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    # the only error box allowed is the seeded down cluster's 'broker down' state
    assert all("Broker down" in e and seed.RABBIT_DOWN in e for e in errors), errors
    assert page.locator('[data-testid="stMetric"]').count() > 0 or spec.title == "DLQ"


@pytest.fixture
def rabbit_dlq(rabbitmq, dashboard):
    source, dlq = seed.real_rabbit_dlq(rabbitmq.amqp_url, dashboard.store, int(time.time() * 1000))
    yield dlq
    seed.delete_queues(rabbitmq.amqp_url, source, dlq)


def test_replay_through_the_confirmation_dialog(dashboard, page, rabbit_dlq):
    page.goto(f"{dashboard.url}/dlq")
    settle(page)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="DLQ").first.click()
    page.locator('[role="option"]').filter(has_text=rabbit_dlq).click()
    page.wait_for_selector('[data-testid="stCode"]', timeout=60_000)
    settle(page)
    # the payload's <script> is shown as text and never becomes an element
    assert page.get_by_text("<script>alert('xss')</script>").count() > 0
    assert page.locator("script:has-text('xss')").count() == 0
    shoot(page, "dlq-browse")
    page.get_by_role("button", name="Replay the whole DLQ…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Confirm replay").first.wait_for(timeout=60_000)
    dialog.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
    settle(page)
    shoot(page, "dlq-confirm")
    assert dialog.locator('[data-testid="stMetricValue"]').first.inner_text() == "3"  # replay: 3
    dialog.get_by_role("button", name="Confirm replay").click()
    page.get_by_text("queued; the collector service runs it").wait_for(timeout=60_000)
    settle(page)
    shoot(page, "dlq-queued")
    assert page.locator('[data-testid="stException"]').count() == 0
