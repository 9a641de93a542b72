"""dlq.edit: validation of an operator's edit, and the edited copy (payload, headers, audit detail)."""
from __future__ import annotations

import hashlib

import pytest

from dlq import edit, plan

PICKED = {"mode": "picked", "coords": ["0:5"]}


@pytest.mark.parametrize("e, sel, fragment", [
    ({"coord": "0:5", "payload": "x"}, {"mode": "all"}, "only one picked message"),
    ({"coord": "0:5", "payload": "x"}, {"mode": "picked", "coords": ["0:5", "0:6"]}, "only one picked message"),
    ({"coord": "0:6", "payload": "x"}, PICKED, "edit.coord"),
    ({"coord": "0:5", "payload": b"x"}, PICKED, "edit.payload"),
    ({"coord": "0:5", "payload": "x" * (edit.MAX_PAYLOAD_BYTES + 1)}, PICKED, "edit.payload"),
    ({"coord": "0:5", "payload": "x", "headers": {"a": 1}}, PICKED, "edit.headers.a"),
    ({"coord": "0:5", "payload": "x", "headers": {"": "v"}}, PICKED, "header names"),
    ({"coord": "0:5", "payload": "x", "headers": {"eventdeck-replay-id": "v"}}, PICKED, "Eventdeck sets"),
    ("not a mapping", PICKED, "edit: must be a mapping"),
])
def test_bad_edits_are_refused_naming_the_key(e, sel, fragment):
    with pytest.raises(edit.EditError, match=fragment):
        edit.validate(e, sel)


def test_request_validation_carries_the_edit():
    req = plan.validate_request({"broker": "kafka", "cluster": "c", "dlq": "d", "selection": PICKED,
                                 "edit": {"coord": "0:5", "payload": "{}", "headers": {"h": "v"}}})
    assert req["edit"] == {"coord": "0:5", "payload": "{}", "headers": {"h": "v"}}
    with pytest.raises(plan.RequestError, match="edit.coord"):
        plan.validate_request({"broker": "kafka", "cluster": "c", "dlq": "d", "selection": PICKED,
                               "edit": {"coord": "1:1", "payload": "{}"}})


def test_kafka_headers_unchanged_ones_keep_their_raw_bytes():
    offset = (42).to_bytes(8, "big")
    headers = [("kafka_dlt-original-offset", offset), ("trace", b"abc"), ("drop-me", b"x")]
    shown = {"kafka_dlt-original-offset": "42", "trace": "abc-edited", "new": "n"}
    value, out, detail = edit.apply(b'{"amount": -5}', headers, {"coord": "0:5", "payload": '{"amount": 5}',
                                                                 "headers": shown})
    assert value == b'{"amount": 5}'
    assert out == [("kafka_dlt-original-offset", offset), ("trace", b"abc-edited"), ("new", b"n")]
    assert detail["original_sha256"] == hashlib.sha256(b'{"amount": -5}').hexdigest()
    assert detail["edited_sha256"] == hashlib.sha256(b'{"amount": 5}').hexdigest()
    assert '-{"amount": -5}' in detail["payload_diff"] and '+{"amount": 5}' in detail["payload_diff"]
    assert detail["headers"] == {"changed": {"trace": "abc-edited"}, "added": {"new": "n"}, "removed": ["drop-me"]}


def test_rabbit_structured_headers_survive_when_untouched():
    death = [{"queue": "orders", "reason": "rejected", "count": 1}]
    headers = {"x-death": death, "note": "old"}
    shown = {k: v for k, v in __import__("dlq.headers", fromlist=["display"]).display(headers).items()}
    shown["note"] = "new"
    _, out, detail = edit.apply(b"a", headers, {"coord": "c", "payload": "b", "headers": shown})
    assert out == {"x-death": death, "note": "new"}
    assert detail["headers"]["changed"] == {"note": "new"}


def test_diff_is_bounded():
    _, _, detail = edit.apply(b"a\n" * 10_000, None, {"coord": "c", "payload": "b\n" * 10_000, "headers": {}})
    assert len(detail["payload_diff"]) <= edit.MAX_DIFF_CHARS + 40


def test_schema_flag_is_kept_and_only_for_kafka():
    from dlq import plan

    req = {"broker": "kafka", "cluster": "c", "dlq": "d.DLT", "selection": {"mode": "picked", "coords": ["0:1"]},
           "edit": {"coord": "0:1", "payload": "{}", "headers": {}, "schema": True}}
    assert plan.validate_request(req)["edit"]["schema"] is True
    with pytest.raises(plan.RequestError, match="edit.schema"):
        plan.validate_request({**req, "edit": {**req["edit"], "schema": "yes"}})
    with pytest.raises(plan.RequestError, match="edit.schema: schema'd edits are for Kafka"):
        plan.validate_request({**req, "broker": "rabbitmq", "selection": {"mode": "picked", "coords": ["x"]},
                               "edit": {**req["edit"], "coord": "x"}})
