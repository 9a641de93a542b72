"""Broker-derived text is never Markdown or HTML, in a real browser: a DLQ (real RabbitMQ queue) and Kafka
groups/topics named with Markdown images and links and raw HTML, with such keys, headers and payloads.
No request leaves for the attacker's host and no link or image element pointing there appears."""
from __future__ import annotations

import datetime
import time

import pika
import pytest

from demo.screenshots import settle, url_path
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter
from tests import seed
from tests.e2e.conftest import serve, shoot
from views.registry import PAGES

EVIL = "evil.example"
HOSTILE = (f"![x](http://{EVIL}/md.png) [Confirm](http://{EVIL}/link) <img src=http://{EVIL}/raw.png> "
           f'<a href="http://{EVIL}/a">a</a> **bold**')


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, rabbitmq):
    """A dashboard whose store and broker carry hostile names: (dashboard, dlq name)."""
    dlq = f"{HOSTILE} {time.time_ns()}"[:255]
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    ch = conn.channel()
    ch.queue_declare(dlq)
    died = datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)
    headers = {HOSTILE[:100]: HOSTILE, "x-first-death-queue": HOSTILE[:200],
               "x-death": [{"queue": HOSTILE[:200], "reason": "rejected", "count": 1, "exchange": "",
                            "routing-keys": [HOSTILE[:200]], "time": died}]}
    ch.basic_publish("", dlq, f'{{"note": "{HOSTILE}"}}'.encode(),
                     pika.BasicProperties(headers=headers, message_id=HOSTILE[:200], content_type="application/json"))
    try:
        with serve(tmp_path_factory.mktemp("hostile")) as d:
            now = int(time.time() * 1000)
            store = open_migrated(d.store)
            g = {"cluster": seed.KAFKA, "group": HOSTILE}
            p = {**g, "topic": HOSTILE, "partition": "0"}
            SampleWriter(store).write([
                Sample("dlq_messages", {"broker": "rabbitmq", "cluster": seed.RABBIT, "vhost": "/", "dlq": dlq},
                       now, 999.0),
                Sample("kafka_group_total_lag_messages", g, now, 10 ** 9),  # the first group shown
                Sample("kafka_group_lag_messages", p, now, 10 ** 9),
                Sample("kafka_topic_produce_rate_per_s", {"cluster": seed.KAFKA, "topic": HOSTILE}, now, 1.0),
                Sample("rabbitmq_queue_messages", {"cluster": seed.RABBIT, "vhost": "/", "queue": HOSTILE}, now, 1.0)])
            store.close()
            yield d, dlq
    finally:
        ch.queue_delete(dlq)
        conn.close()


@pytest.mark.parametrize("spec", PAGES, ids=[p.title for p in PAGES])
def test_hostile_names_render_as_text(hostile, page, spec):
    dashboard, dlq = hostile
    leaked: list[str] = []

    def guard(route):
        if EVIL in route.request.url:
            leaked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.context.route("**/*", guard)
    page.goto(f"{dashboard.url}/{url_path(spec)}")
    page.wait_for_selector(f'h1:has-text("{spec.title}")', timeout=60_000)
    settle(page)
    if spec.title == "DLQ":  # the hostile DLQ is listed first: its messages are browsed
        page.wait_for_selector('[data-testid="stCode"]', timeout=60_000)
        settle(page)
        # "Why is it growing?" draws its chart (titled with the DLQ's name) and causes only when opened
        page.get_by_text("Why is it growing?").click()
        page.wait_for_selector('[data-testid="stExpander"] :is([data-testid="stPlotlyChart"], [data-testid="stAlert"])',
                               timeout=60_000)
        settle(page)
    shoot(page, f"hostile-{spec.title.lower()}")
    # [*|href]: also SVG links (xlink:href), as plotly makes from <a href> in legend text
    made = page.locator(f"a[href*='{EVIL}'], [*|href*='{EVIL}'], img[src*='{EVIL}'], [src*='{EVIL}']")
    assert made.count() == 0, [made.nth(i).evaluate("e => e.parentElement.outerHTML.slice(0, 300)")
                               for i in range(made.count())]
    assert page.locator('[data-testid="stException"]').count() == 0
    assert leaked == []
    if spec.title in ("Kafka", "DLQ"):
        assert page.get_by_text("[Confirm](http", exact=False).count() > 0  # shown, literally
