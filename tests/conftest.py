"""Shared fixtures: real brokers and a fresh store.

Integration tests never skip: if a broker cannot be brought up, the fixture errors with a message
naming the missing piece and the command that fixes it (see demo/brokers.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from demo.brokers import KAFKA_KINDS, BrokerError, ensure_rabbitmq, start_kafka  # noqa: E402


@pytest.fixture(scope="session")
def rabbitmq():
    """The machine's RabbitMQ node with the management API answering."""
    try:
        return ensure_rabbitmq()
    except BrokerError as exc:
        pytest.fail(f"RabbitMQ is needed for this test and could not be started: {exc}\n"
                    "Start it with `python -m demo.brokers up` (or `rabbitmq-server -detached`).",
                    pytrace=False)


def _start(kind: str, data_dir: Path):
    try:
        return start_kafka(kind, data_dir=data_dir)
    except BrokerError as exc:
        pytest.fail(f"Kafka-protocol broker {kind} could not be started: {exc}\n"
                    "Install the test brokers with `make test` (or .venv/bin/pip install -r requirements-dev.txt).",
                    pytrace=False)


@pytest.fixture(scope="session", params=KAFKA_KINDS)
def kafka(request, tmp_path_factory):
    """A running Kafka-protocol broker; tests using it run once per kind (noida, tansu)."""
    broker = _start(request.param, tmp_path_factory.mktemp(f"kafka-{request.param}"))
    yield broker
    broker.stop()


@pytest.fixture
def kafka_factory(tmp_path):
    """Start private brokers (for kill/restart tests); all are stopped after the test."""
    started = []

    def make(kind: str):
        b = _start(kind, tmp_path / f"{kind}-{len(started)}")
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture
def tmp_store(tmp_path) -> Path:
    """Path of a fresh, migrated SQLite store."""
    from store.db import open_migrated

    path = tmp_path / "eventdeck.db"
    open_migrated(path).close()
    return path
