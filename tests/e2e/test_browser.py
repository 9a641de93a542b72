"""Every page in a real browser (Chromium via Playwright): renders, charts drawn, no error box, screenshots."""
from __future__ import annotations

import pytest

from tests import seed
from tests.e2e.conftest import settle, shoot
from views.registry import PAGES

# Pages whose seeded data draws plotly charts (the others show tables and tiles only).
CHARTED = {"Overview", "Kafka", "RabbitMQ", "Consumers"}
URL_PATH = {p.title: "" if p.default else p.path.removeprefix("views/").removesuffix(".py") for p in PAGES}


@pytest.mark.parametrize("spec", PAGES, ids=[p.title for p in PAGES])
def test_page_in_browser(dashboard, page, spec):
    page.goto(f"{dashboard}/{URL_PATH[spec.title]}")
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
