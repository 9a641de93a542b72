"""Fixtures shared by the integration tests of one area (the brokers themselves are in tests/conftest.py)."""
from __future__ import annotations

import uuid
from typing import NamedTuple

import pika
import pytest

from collectors.telemetry import RabbitSource, telemetry_job
from config.rabbitmq import RabbitClusterConfig
from config.telemetry import TelemetryConfig
from runner.collect import CollectJob


class RabbitTelemetry(NamedTuple):
    sfx: str
    tcfg: TelemetryConfig
    job: CollectJob


@pytest.fixture
def rabbit_telemetry(rabbitmq, tmp_store):
    """A telemetry collector job on a uniquely named RabbitMQ exchange and queue, deleted afterwards."""
    sfx = uuid.uuid4().hex[:8]
    tcfg = TelemetryConfig(rabbitmq_exchange=f"telemetry.{sfx}", rabbitmq_queue=f"telemetry.collector.{sfx}",
                           interval_s=1)
    source = RabbitSource(RabbitClusterConfig(name="r", management_url=rabbitmq.mgmt_url,
                                              amqp_url=rabbitmq.amqp_url), tcfg)
    job = telemetry_job("rabbitmq", "r", source, tmp_store, tcfg)
    try:
        yield RabbitTelemetry(sfx, tcfg, job)
    finally:
        job.close()
        conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
        conn.channel().queue_delete(tcfg.rabbitmq_queue)
        conn.channel().exchange_delete(tcfg.rabbitmq_exchange)
        conn.close()
