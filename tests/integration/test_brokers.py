"""The broker fixtures bring up real brokers that do what the product needs of them."""
from __future__ import annotations

import uuid

import pika
import requests
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition


def test_rabbitmq_management_answers_and_amqp_round_trip(rabbitmq):
    r = requests.get(f"{rabbitmq.mgmt_url}/api/overview", auth=(rabbitmq.user, rabbitmq.password), timeout=5)
    assert r.status_code == 200
    assert r.json()["rabbitmq_version"]
    queue = f"test.brokers.{uuid.uuid4().hex[:8]}"
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = conn.channel()
        ch.queue_declare(queue, auto_delete=False)
        ch.confirm_delivery()
        ch.basic_publish("", queue, b"hello")
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        assert body == b"hello"
        ch.queue_delete(queue)
    finally:
        conn.close()


def test_kafka_produce_consume_commit_read_back(kafka):
    topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id="test")
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        # batch_size=1: Tansu's ListOffsets LATEST counts batches, one record per batch keeps it exact.
        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", batch_size=1, linger_ms=0)
        for i in range(5):
            producer.send(topic, value=b"m%d" % i, partition=0).get(timeout=10)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False,
                                 auto_offset_reset="earliest", session_timeout_ms=6000,
                                 heartbeat_interval_ms=1000, consumer_timeout_ms=20000)
        consumer.subscribe([topic])
        got = []
        for msg in consumer:
            got.append(msg.value)
            if len(got) == 3:
                break
        consumer.commit()
        consumer.close()
        assert got == [b"m0", b"m1", b"m2"]
        offsets = admin.list_group_offsets({group: None})
        tp = TopicPartition(topic, 0)
        committed = offsets[group][tp].offset if group in offsets else offsets[tp].offset
        assert committed == 3
        probe = KafkaConsumer(bootstrap_servers=kafka.bootstrap)
        assert probe.end_offsets([tp])[tp] == 5
        probe.close()
    finally:
        admin.close()


def test_kafka_broker_stops_exactly_its_process(kafka_factory):
    b = kafka_factory("noida")
    assert b.alive()
    b.kill()
    assert not b.alive()
    b.start()
    assert b.alive()


def test_cli_up_status_down_manage_only_our_brokers(rabbitmq, tmp_path):
    from demo import brokers

    state_path = tmp_path / "brokers.json"
    state = brokers.up(state_path, kinds=("tansu",))
    pid = state["kafka"]["tansu"]["pid"]
    try:
        lines = brokers.status(state_path)
        assert any(line.startswith("tansu") and " up " in line for line in lines), lines
        assert any("management" in line and "up" in line for line in lines), lines
        assert any("prometheus http://127.0.0.1:15692 up" in line for line in lines), lines
        # a second `up` reuses the running broker instead of starting another one
        assert brokers.up(state_path, kinds=("tansu",))["kafka"]["tansu"]["pid"] == pid
    finally:
        brokers.down(state_path)
    assert not brokers._pid_alive(pid)
    # RabbitMQ is the machine's: down leaves it running
    assert brokers._mgmt_ok(brokers.RabbitInfo())
