"""Helpers and fixtures of the RabbitMQ collector tests (management API, publishing, rejecting consumers)."""
from __future__ import annotations

import subprocess
import time

import pika
import pytest
import requests


REJECT_EVERY = 10  # every 10th message is rejected -> 10%


def _mgmt(rabbitmq, method: str, path: str, body: dict | None = None) -> requests.Response:
    r = requests.request(method, rabbitmq.mgmt_url + path, json=body, timeout=30,
                         auth=(rabbitmq.user, rabbitmq.password))
    assert r.status_code < 300 or (method == "DELETE" and r.status_code == 404), (path, r.status_code, r.text)
    return r


def by_queue(samples, metric: str, label: str = "queue") -> dict[str, float]:
    return {s.labels[label]: s.value for s in samples if s.metric == metric}


@pytest.fixture(scope="module")
def fast_stats(rabbitmq):
    """Queue stats every second for queues created from now on (the shared node is never restarted)."""
    subprocess.run(["rabbitmqctl", "eval", "application:set_env(rabbit, collect_statistics_interval, 1000)."],
                   capture_output=True, text=True, timeout=60, check=True)
    return rabbitmq


def publish_with_confirms(rabbitmq, queue: str, n: int) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        props = pika.BasicProperties(timestamp=int(time.time()))
        for i in range(n):
            # With confirms on, basic_publish raises if the broker nacks or cannot route.
            ch.basic_publish("", queue, f"m{i}".encode(), props, mandatory=True)
    finally:
        conn.close()


def consume_rejecting(rabbitmq, queue: str, n: int) -> int:
    """Consume ``n`` messages, rejecting every 10th without requeue (it is dead-lettered)."""
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    rejected = 0
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=100)
        for i, (method, _props, _body) in enumerate(ch.consume(queue, inactivity_timeout=60)):
            assert method is not None, f"{queue}: no message within 60 s after {i}"
            if i % REJECT_EVERY == 0:
                ch.basic_reject(method.delivery_tag, requeue=False)
                rejected += 1
            else:
                ch.basic_ack(method.delivery_tag)
            if i + 1 == n:
                break
        ch.cancel()
    finally:
        conn.close()
    return rejected
