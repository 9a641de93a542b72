"""Schema'd DLQ messages on the real brokers (noida, Tansu): bytes made by confluent-kafka's own Avro,
Protobuf and JSON Schema serializers, registered in the registry stand-in (tests/registry_standin.py),
produced into a DLQ; browse decodes each message or says why not, alone; replay publishes the original
bytes; an edit is re-encoded with the message's own schema id and validated first."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from config import Settings
from dlq import api
from dlq.jobs import run_pending
from dlq.schemas import decoder_for
from store import audit
from store.db import connect_reader, open_migrated
from tests.integration.dlq_helpers import make_topics, read_all, seed, spring, uid
from tests.registry_standin import RegistryStandIn
from tests.schema_samples import sample_messages


@pytest.fixture
def registry():
    reg = RegistryStandIn().start()
    yield reg
    reg.stop()


def _settings(bootstrap: str, store: Any, reg_url: str, **registry: Any) -> Settings:
    where = {"url": str(store)} if str(store).startswith("postgres") else {"path": str(store)}
    return Settings.model_validate({
        "store": where, "dlq": {"allowed_targets": {"k": ["*"]}},
        "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [bootstrap],
                                "schema_registry": {"url": reg_url, "read_timeout_s": 2, **registry}}]}})


def _mixed_dlq(kafka, registry) -> tuple[str, str, list]:
    u = uid()
    orders, dlq = f"orders-{u}", f"orders-{u}.DLT"
    make_topics(kafka.bootstrap, {orders: 1, dlq: 1})
    samples = sample_messages(registry.url, dlq)
    seed(kafka.bootstrap, dlq, [(k, v, h + spring(orders, 0, i)) for i, (_, k, v, h, _) in enumerate(samples)])
    return orders, dlq, samples


WANT = {
    "k-avro": ("decoded", {"id": "p-1", "amount": 12.5, "note": {"string": "first"}, "tags": ["a", "b"]}),
    "k-avro-h": ("decoded", {"id": "p-2", "amount": 3.0, "note": None, "tags": []}),
    "k-proto": ("decoded", {"order_id": "o-7", "total": {"currency": "EUR", "cents": "1999"}, "items": ["x", "y"]}),
    "k-proto-n": ("decoded", {"sku": "L-1"}),
    "k-json": ("decoded", {"sku": "S-9", "qty": 4}),
    "k-plain": (None, None),
    "k-garbage": ("unknown id", None),
}


def test_browse_decodes_a_mixed_dlq_per_message(kafka, registry, tmp_store):
    _, dlq, samples = _mixed_dlq(kafka, registry)
    st = _settings(kafka.bootstrap, tmp_store, registry.url)
    rows = {m["key"]: m for m in api.browse(st, "kafka", "k", dlq)}
    assert set(rows) == set(WANT)
    for key, (status, value) in WANT.items():
        s = rows[key]["schema"]
        if status is None:
            assert s is None and rows[key]["payload_kind"] == "json"
        elif status == "decoded":
            assert s["status"] == "decoded", s
            assert json.loads(s["decoded"]) == value
        else:
            assert s["status"] == "failed" and s["reason"] == status and s["schema_id"] == 2**31 - 1
        assert rows[key]["size"] == len(next(v for _, k, v, _, _ in samples if k.decode() == key))  # raw kept
    assert rows["k-avro"]["schema"]["subject"] == f"{dlq}-value" and rows["k-avro"]["schema"]["version"] == "1"
    assert rows["k-proto-n"]["schema"]["label"].endswith("demo.Order.Line")


def test_filter_on_decoded_fields(kafka, registry, tmp_store):
    _, dlq, _ = _mixed_dlq(kafka, registry)
    st = _settings(kafka.bootstrap, tmp_store, registry.url)
    got = api.browse(st, "kafka", "k", dlq, field="total.currency", field_op="equals", field_value="EUR")
    assert [m["key"] for m in got] == ["k-proto"]
    got = api.browse(st, "kafka", "k", dlq, field="sku", field_op="contains", field_value="-")
    assert sorted(m["key"] for m in got) == ["k-json", "k-proto-n"]
    got = api.browse(st, "kafka", "k", dlq, field="note", field_op="equals", field_value="first")  # Avro union
    assert [m["key"] for m in got] == ["k-avro"]


def test_registry_down_or_slow_shows_messages_raw_with_the_reason(kafka, registry, tmp_store):
    _, dlq, _ = _mixed_dlq(kafka, registry)
    st = _settings(kafka.bootstrap, tmp_store, registry.url, negative_ttl_s=0.001, read_timeout_s=0.5)
    registry.fail = True
    rows = {m["key"]: m for m in api.browse(st, "kafka", "k", dlq)}
    assert rows["k-avro"]["schema"]["reason"] == "registry unreachable"
    assert rows["k-avro"]["payload"] and rows["k-plain"]["schema"] is None  # shown raw, the page still works
    registry.fail, registry.delay_s = False, 1.5
    time.sleep(0.01)  # past negative_ttl_s
    rows = {m["key"]: m for m in api.browse(st, "kafka", "k", dlq)}
    assert rows["k-json"]["schema"]["reason"] in ("registry unreachable", "too slow")
    assert "ReadTimeout" in rows["k-json"]["schema"]["detail"] or rows["k-json"]["schema"]["reason"] == "too slow"


def test_plain_replay_publishes_the_original_bytes(kafka, registry, store_location):
    orders, dlq, samples = _mixed_dlq(kafka, registry)
    st = _settings(kafka.bootstrap, store_location, registry.url)
    conn = open_migrated(store_location)
    try:
        jid = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "selection": {"mode": "all"},
                                        "rate_per_s": None}, "otto", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
    finally:
        conn.close()
    copies = {r.key: r for r in read_all(kafka.bootstrap, orders, len(samples))}
    for _, k, v, h, _ in samples:
        assert copies[k].value == v  # byte for byte, framing and schema id included
        for name, raw in h:
            assert (name, raw) in copies[k].headers


def test_edited_avro_is_reencoded_with_its_own_schema_id(kafka, registry, store_location):
    orders, dlq, samples = _mixed_dlq(kafka, registry)
    st = _settings(kafka.bootstrap, store_location, registry.url)
    original = next(v for _, k, v, _, _ in samples if k == b"k-avro")
    assert registry.subjects[f"{dlq}-value"][-1] != int.from_bytes(original[1:5], "big")  # latest is another id
    msg = next(m for m in api.browse(st, "kafka", "k", dlq) if m["key"] == "k-avro")
    edited = {"id": "p-1", "amount": 13.0, "note": {"string": "fixed"}, "tags": ["a"]}
    bad = api.check_schema_edit(st, "k", dlq, msg["coord"], json.dumps({**edited, "amount": "13"}))
    assert bad and bad.startswith("invalid edit") and "amount" in bad and "expected double" in bad, bad
    assert api.check_schema_edit(st, "k", dlq, msg["coord"], json.dumps(edited)) is None
    conn = open_migrated(store_location)
    try:
        jid = api.enqueue_replay(conn, {
            "broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": None,
            "selection": {"mode": "picked", "coords": [msg["coord"]]},
            "edit": {"coord": msg["coord"], "payload": json.dumps(edited), "headers": msg["headers"], "schema": True}},
            "otto", int(time.time() * 1000))
        assert run_pending(st, store_location, jid) == jid
        job = api.job(conn, jid)
    finally:
        conn.close()
    assert (job["state"], job["replayed"]) == ("done", 1), job
    [copy] = read_all(kafka.bootstrap, orders, 1)
    assert copy.value[:5] == original[:5]  # magic byte + the message's own schema id
    d = decoder_for(st.kafka.clusters[0]).decode(copy.value, copy.headers)
    assert d["status"] == "decoded" and d["value"] == edited
    r = connect_reader(store_location)
    try:
        log = audit.read(r, action_prefix="dlq.")
    finally:
        r.close()
    [detail] = list(log[log["action"] == "dlq.replay.edited"]["detail"])
    assert detail["schema"]["schema_id"] == int.from_bytes(original[1:5], "big")
    assert detail["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert detail["edited_sha256"] == hashlib.sha256(copy.value).hexdigest()
    assert '"fixed"' in detail["payload_diff"]


def test_invalid_schema_edit_fails_that_message_alone(kafka, registry, store_location):
    orders, dlq, _ = _mixed_dlq(kafka, registry)
    st = _settings(kafka.bootstrap, store_location, registry.url)
    msg = next(m for m in api.browse(st, "kafka", "k", dlq) if m["key"] == "k-json")
    conn = open_migrated(store_location)
    try:
        jid = api.enqueue_replay(conn, {
            "broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": None,
            "selection": {"mode": "picked", "coords": [msg["coord"]]},
            "edit": {"coord": msg["coord"], "payload": '{"sku": "S-9", "qty": 0}', "headers": msg["headers"],
                     "schema": True}}, "otto", int(time.time() * 1000))
        assert run_pending(st, st.store.handle, jid) == jid
        job, rows = api.job(conn, jid), api.job_messages(conn, jid)
    finally:
        conn.close()
    assert (job["replayed"], job["failed"]) == (0, 1), job
    assert "invalid edit" in rows[0]["detail"] and "qty" in rows[0]["detail"]
    assert read_all(kafka.bootstrap, orders, 0, timeout=3) == []


def test_cli_show_prints_decoded_values_and_reasons(kafka, registry, tmp_path, capsys):
    import yaml

    from dlq.__main__ import main

    _, dlq, _ = _mixed_dlq(kafka, registry)
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump({"store": {"path": str(tmp_path / "s.db")}, "kafka": {"clusters": [
        {"name": "k", "bootstrap_servers": [kafka.bootstrap], "schema_registry": {"url": registry.url}}]}}))
    assert main(["--config", str(cfg), "show", "kafka", "k", dlq, "--json"]) == 0
    rows = {r["key"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert json.loads(rows["k-json"]["decoded"]) == {"sku": "S-9", "qty": 4}
    assert rows["k-json"]["schema"].startswith(f"json {dlq}-value v3")
    assert rows["k-garbage"]["decoded"].startswith("unknown id")
    assert rows["k-plain"]["decoded"] == "" and rows["k-plain"]["payload"]
    assert main(["--config", str(cfg), "show", "kafka", "k", dlq, "--field", "qty", "--field-value", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("coord=") == 1 and "key=k-json" in out and 'decoded={"sku":"S-9","qty":4}' in out
