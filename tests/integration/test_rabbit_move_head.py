"""RabbitMQ: a consumer rejects (requeue) one message forever; the action's dry run names it, the move puts
exactly that message in the queue's DLQ (body and headers kept, x-first-death-* added so the ordinary replay
brings it back), acks it only after the publisher confirm, and nothing else moves; the consumer then goes on.
Refusals (viewer, read-only, a head never redelivered) change nothing and are audited. Both store backends."""
from __future__ import annotations

import threading
import time

import pika
import pytest

from config import Settings
from dlq import rabbit_move as rm
from dlq import skip_plan as sp
from store import audit
from store.db import connect_writer
from tests.integration.dlq_helpers import Topology, uid


@pytest.fixture
def store_at(any_store):
    w = connect_writer(any_store)
    yield any_store, w
    w.close()


def _settings(rabbitmq, location, **cluster) -> Settings:
    return Settings.model_validate({"store": {"path": str(location)}, "rabbitmq": {"clusters": [
        {"name": "r", "management_url": rabbitmq.mgmt_url, "amqp_url": rabbitmq.amqp_url, **cluster}]}})


class Rejecter(threading.Thread):
    """A consumer (prefetch 1) that rejects the message 'poison' with requeue, forever, and acks the rest."""

    def __init__(self, url: str, queue: str) -> None:
        super().__init__(daemon=True)
        self.url, self.queue = url, queue
        self.acked: list[str] = []
        self.rejections = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1)
        try:
            for method, props, body in ch.consume(self.queue, inactivity_timeout=0.1):
                if self.stop.is_set():
                    break
                if method is None:
                    continue
                time.sleep(0.05)  # "processing", then the crash
                if body == b"poison":
                    self.rejections += 1
                    ch.basic_nack(method.delivery_tag, requeue=True)
                else:
                    self.acked.append(props.message_id)
                    ch.basic_ack(method.delivery_tag)
            ch.cancel()
        finally:
            conn.close()


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_move_the_rejected_head_message_to_the_dlq(rabbitmq, store_at, queue_type):
    location, conn = store_at
    topo = Topology(rabbitmq.amqp_url)
    rejecter = None
    try:
        q = f"eventdeck-move-{uid()}"
        topo.ch.queue_declare(q, durable=queue_type == "quorum", arguments={"x-queue-type": queue_type})
        topo.queues.append(q)
        dlq = topo.queue(f"{q}.dlq")
        other = topo.queue(f"eventdeck-move-cc-{uid()}")
        for i, body in enumerate([b"poison", b"ok-1", b"ok-2", b"ok-3"]):
            # the poison message carries CC, a header the broker acts on (sender-selected distribution): the
            # move must not republish it, or the broker would route a copy to `other` again
            cc = {"CC": [other]} if i == 0 else {}
            topo.ch.basic_publish("", q, body, pika.BasicProperties(message_id=f"m{i}", content_type="text/plain",
                                                                    headers={"trace": f"t{i}", **cc}))
        topo.wait_depth(other, 1)
        topo.drain(other)
        rejecter = Rejecter(rabbitmq.amqp_url, q)
        rejecter.start()
        deadline = time.monotonic() + 20
        while rejecter.rejections < 3:
            assert time.monotonic() < deadline, "the consumer never rejected the poison message"
            time.sleep(0.05)
        if queue_type == "classic":  # stuck: the requeued poison message goes back to the head and blocks
            assert rejecter.acked == []  # (a quorum queue returns it behind the others: it loops on its own)
        settings = _settings(rabbitmq, location)

        dry = rm.move_head(settings, None, "r", q, actor="ann", role="operator", dry_run=True)
        assert dry["dlq"] == dlq and dry["head"]["message_id"] == "m0" and dry["head"]["redelivered"]
        if queue_type == "quorum":  # quorum queues count deliveries in x-delivery-count
            assert dry["head"]["delivery_count"] >= 3
        assert topo.depth(dlq) == 0

        rep = rm.move_head(settings, conn, "r", q, reason="bad schema", actor="ann", role="operator",
                           expect_id=dry["head"]["move_id"])
        assert rep["outcome"] == "moved"
        topo.wait_depth(dlq, 1)
        deadline = time.monotonic() + 20
        while sorted(rejecter.acked) != ["m1", "m2", "m3"]:  # the consumer goes on
            assert time.monotonic() < deadline, f"consumer acked {rejecter.acked}"
            time.sleep(0.05)
        rejecter.stop.set()
        ((props, body),) = topo.drain(dlq)
        assert body == b"poison" and props.message_id == "m0" and props.content_type == "text/plain"
        h = props.headers
        assert h["trace"] == "t0" and h["x-first-death-queue"] == q and h[rm.MOVED_BY] == "ann"
        assert h[rm.MOVE_REASON] == "bad schema" and h[rm.MOVE_ID] == dry["head"]["move_id"]
        assert topo.depth(q) == 0 and topo.depth(other) == 0
        rows = audit.find(conn, rm.ACTION, f"rabbitmq:r:/:{q}")
        assert [(r["outcome"], r["detail"]["message_id"]) for r in rows] == [("moved", "m0")]
    finally:
        if rejecter is not None:
            rejecter.stop.set()
            rejecter.join(5)
        topo.close()


def test_refusals_change_nothing_and_are_audited(rabbitmq, store_at):
    location, conn = store_at
    topo = Topology(rabbitmq.amqp_url)
    try:
        q = topo.queue(f"eventdeck-move-{uid()}")
        dlq = topo.queue(f"{q}.dlq")
        topo.ch.basic_publish("", q, b"fresh", pika.BasicProperties(message_id="f"))
        topo.wait_depth(q, 1)
        cases = [(_settings(rabbitmq, location), "viewer", "operator role"),
                 (_settings(rabbitmq, location, read_only=True), "operator", "read-only"),
                 (_settings(rabbitmq, location), "operator", "consumers reject")]
        for settings, role, why in cases:
            with pytest.raises(sp.Refused, match=why):
                rm.move_head(settings, conn, "r", q, reason="x", actor="vera", role=role)
        assert topo.depth(dlq) == 0 and topo.depth(q) == 1
        rows = audit.find(conn, rm.ACTION, f"rabbitmq:r:/:{q}")
        assert [r["outcome"] for r in rows] == ["refused"] * 3
    finally:
        topo.close()


def test_cli_moves_the_redelivered_head(rabbitmq, any_store, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    topo = Topology(rabbitmq.amqp_url)
    try:
        q = topo.queue(f"eventdeck-move-{uid()}")
        dlq = topo.queue(f"{q}-dlq")
        for i in range(2):
            topo.ch.basic_publish("", q, b"poison" if i == 0 else b"ok", pika.BasicProperties(message_id=f"c{i}"))
        topo.wait_depth(q, 2)
        m, _, _ = topo.ch.basic_get(q)  # a consumer took it and rejected it
        topo.ch.basic_nack(m.delivery_tag, requeue=True)
        cfg = tmp_path / "eventdeck.yaml"
        cfg.write_text(yaml.safe_dump({"store": {"path": str(any_store)}, "rabbitmq": {"clusters": [
            {"name": "r", "management_url": rabbitmq.mgmt_url, "amqp_url": rabbitmq.amqp_url}]}}))
        run = subprocess.run([sys.executable, "-m", "eventdeck", "queue", "--config", str(cfg), "move-head", "r", q,
                              "--reason", "cli test", "--actor", "cli-ann"], cwd=root, capture_output=True,
                             text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
        assert run.returncode == 0, run.stderr
        assert "dry run: move message c0" in run.stdout and "moved: move message c0" in run.stdout
        ((props, body),) = topo.drain(dlq)
        assert (body, props.message_id, props.headers[rm.MOVED_BY]) == (b"poison", "c0", "cli-ann")
        assert topo.depth(q) == 1
    finally:
        topo.close()
