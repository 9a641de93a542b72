"""The consumer examples in instrument/README.md run exactly as written against the real brokers, so
the docs cannot rot: the code blocks are cut out of the Markdown (a block whose first line is
``# example: NAME``) and run as scripts; only the broker address is given, through the environment
variables the examples read (``KAFKA_BOOTSTRAP``, ``AMQP_URL``).

Each example meets the same orders: two good ones (one "flaky": its first gateway call times out
and is retried), one with a bad amount (permanent: to the DLQ), and one replayed message delivered
twice with the same ``eventdeck-replay-id`` (processed once). Checked on the brokers afterwards: the
DLQ holds exactly the bad order with the right headers, the telemetry summaries count exactly the
four handler calls and the one error, and nothing is left unconsumed."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pika
import pytest
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from demo.brokers import KAFKA_KINDS
from instrument.dlq_route import declare_queue_with_dlq
from instrument.summary import decode_summary

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "instrument" / "README.md"
ORDERS = [({"id": "o-1", "amount": 10}, None), ({"id": "o-2", "amount": 20, "flaky": True}, None),
          ({"id": "o-3", "amount": -5}, None), ({"id": "o-4", "amount": 7}, "replay-1"),
          ({"id": "o-4", "amount": 7}, "replay-1")]
BAD = ORDERS[2][0]


def examples() -> dict[str, str]:
    """``{name: code}`` of the README's runnable examples."""
    out = {}
    for block in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        first = block.splitlines()[0]
        if first.startswith("# example: "):
            out[first.removeprefix("# example: ").strip()] = block
    return out


def test_readme_has_both_examples():
    assert set(examples()) == {"kafka_consumer.py", "rabbitmq_consumer.py"}


def _run_example(name: str, tmp_path: Path, **env: str) -> None:
    script = tmp_path / name
    script.write_text(examples()[name], encoding="utf-8")
    full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(ROOT)}  # instrument importable
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=full | env, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]


def _check_summaries(payloads: list[bytes], consumer: str) -> None:
    summaries = [decode_summary(p) for p in payloads]
    assert summaries and {s.consumer for s in summaries} == {consumer}
    errors: dict[str, int] = {}
    for s in summaries:
        for k, v in s.errors.items():
            errors[k] = errors.get(k, 0) + v
    assert sum(s.count for s in summaries) == 4  # o-1, o-2 (retried inside one call), o-3, o-4 once
    assert errors == {"ValueError": 1}


@pytest.mark.parametrize("kind", KAFKA_KINDS)
def test_kafka_example_runs_as_written(kind, kafka_factory, tmp_path):
    broker = kafka_factory(kind)  # a private broker: the example's names (orders, payment) are fixed
    bs = broker.bootstrap
    admin = KafkaAdminClient(bootstrap_servers=bs)
    admin.create_topics({"orders": {"num_partitions": 1, "replication_factor": 1},
                         "orders.dlq": {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bs, acks="all", batch_size=1, linger_ms=0)
    for order, replay_id in ORDERS:
        headers = [("eventdeck-replay-id", replay_id.encode())] if replay_id else []
        producer.send("orders", json.dumps(order).encode(), headers=headers).get(timeout=30)
    producer.close()

    _run_example("kafka_consumer.py", tmp_path, KAFKA_BOOTSTRAP=bs)

    reader = KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                           auto_offset_reset="earliest", consumer_timeout_ms=5000)
    reader.assign([TopicPartition("orders.dlq", 0)])
    dead = list(reader)
    assert [json.loads(r.value) for r in dead] == [BAD]
    h = dict(dead[0].headers)
    assert h["kafka_dlt-original-topic"] == b"orders"
    assert int.from_bytes(h["kafka_dlt-original-offset"], "big") == 2
    assert h["kafka_dlt-original-consumer-group"] == b"payment"
    assert b"ValueError" in h["kafka_dlt-exception-fqcn"]
    reader.assign([TopicPartition("eventdeck.telemetry", 0)])
    reader.seek_to_beginning()
    _check_summaries([r.value for r in reader], "payment")
    reader.close()
    group = KafkaConsumer(bootstrap_servers=bs, group_id="payment", enable_auto_commit=False)
    assert group.committed(TopicPartition("orders", 0)) == len(ORDERS)
    group.close(autocommit=False)


@pytest.fixture
def vhost(rabbitmq):
    """A private vhost on the shared RabbitMQ: the example's names (orders.payment, ...) are fixed."""
    name = f"readme-{uuid.uuid4().hex[:8]}"
    api, auth = rabbitmq.mgmt_url, (rabbitmq.user, rabbitmq.password)
    requests.put(f"{api}/api/vhosts/{name}", auth=auth, timeout=10).raise_for_status()
    requests.put(f"{api}/api/permissions/{name}/{rabbitmq.user}", auth=auth, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    yield f"amqp://{rabbitmq.user}:{rabbitmq.password}@{rabbitmq.host}:{rabbitmq.amqp_port}/{name}"
    requests.delete(f"{api}/api/vhosts/{name}", auth=auth, timeout=30)


def test_rabbitmq_example_runs_as_written(vhost, tmp_path):
    conn = pika.BlockingConnection(pika.URLParameters(vhost))
    ch = conn.channel()
    declare_queue_with_dlq(ch, "orders.payment", dlx="orders.dlx")  # as the example declares it
    ch.exchange_declare("eventdeck.telemetry", exchange_type="fanout", durable=True)
    ch.queue_declare("telemetry-probe")
    ch.queue_bind("telemetry-probe", "eventdeck.telemetry")
    for order, replay_id in ORDERS:
        props = pika.BasicProperties(message_id=f"m-{order['id']}", headers={"eventdeck-replay-id": replay_id}
                                     if replay_id else None)
        ch.basic_publish("", "orders.payment", json.dumps(order).encode(), props)
    conn.close()

    _run_example("rabbitmq_consumer.py", tmp_path, AMQP_URL=vhost)

    conn = pika.BlockingConnection(pika.URLParameters(vhost))
    ch = conn.channel()
    method, props, body = ch.basic_get("orders.payment.dlq", auto_ack=True)
    assert method is not None and json.loads(body) == BAD
    assert props.headers["x-death"][0]["queue"] == "orders.payment"
    assert ch.basic_get("orders.payment.dlq", auto_ack=True)[0] is None  # exactly one
    assert ch.queue_declare("orders.payment", passive=True).method.message_count == 0
    payloads = []
    while (got := ch.basic_get("telemetry-probe", auto_ack=True))[0] is not None:
        payloads.append(got[2])
    conn.close()
    _check_summaries(payloads, "orders.payment")
