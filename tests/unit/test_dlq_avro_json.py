"""dlq.avro_json: Avro's JSON encoding of decoded values and back, checked against fastavro's own bytes."""
from __future__ import annotations

import datetime
import decimal
import io
import json
import uuid

import fastavro
import pytest

from dlq.avro_json import AvroJsonError, from_json, to_json

SCHEMA = fastavro.parse_schema({"type": "record", "name": "Rich", "namespace": "t", "fields": [
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "raw", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}},
    {"name": "either", "type": ["null", "int", "string"]},
    {"name": "pet", "type": ["null", {"type": "record", "name": "Cat", "fields": [{"name": "lives", "type": "int"}]},
                             {"type": "record", "name": "Dog", "fields": [{"name": "good", "type": "boolean"}]}]},
    {"name": "when", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
    {"name": "attrs", "type": {"type": "map", "values": ["null", "double"]}},
    {"name": "list", "type": {"type": "array", "items": "Colour"}},
]})
NAMED = SCHEMA["__named_schemas"]
VALUE = {"ts": datetime.datetime(2026, 12, 6, 21, 0, tzinfo=datetime.timezone.utc),
         "price": decimal.Decimal("12.34"), "uid": uuid.UUID("2e60c30a-cad7-470b-a0a6-363ec78cd45e"),
         "raw": b"\x00\xff\x10", "fx": b"abcd", "colour": "GREEN", "either": "x", "pet": ("t.Dog", {"good": True}),
         "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), "attrs": {"a": 1.5, "b": None},
         "list": ["RED", "GREEN"]}


def _bytes(value) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, SCHEMA, value)
    return out.getvalue()


def test_round_trip_is_byte_exact():
    data = _bytes(VALUE)
    read = fastavro.schemaless_reader(io.BytesIO(data), SCHEMA, None, return_named_type=True)
    doc = json.loads(json.dumps(to_json(SCHEMA, read, NAMED)))
    assert doc["pet"] == {"t.Dog": {"good": True}} and doc["either"] == {"string": "x"}
    assert doc["raw"] == "\u0000\u00ff\u0010" and doc["fx"] == "abcd" and doc["ts"] == 1796590800000
    assert doc["when"] == {"long": 1767225600000} and doc["attrs"] == {"a": {"double": 1.5}, "b": None}
    assert _bytes(from_json(SCHEMA, doc, NAMED)) == data


@pytest.mark.parametrize("change,where", [
    ({"either": 5}, "$.either: a union value is written"),
    ({"either": {"float": 1.0}}, "'float' is not a branch"),
    ({"pet": {"t.Cat": {"lives": 9, "claws": 1}}}, "$.pet.t.Cat: unknown field 'claws'"),
    ({"raw": "\u0100"}, "$.raw: bytes string has a code point above 255"),
    ({"fx": "abc"}, "$.fx: fixed t.Four needs 4 bytes, got 3"),
    ({"list": "RED"}, "$.list: expected a JSON array"),
    ({"attrs": []}, "$.attrs: expected a JSON object (map)"),
])
def test_misfits_name_the_path(change, where):
    data = _bytes(VALUE)
    doc = to_json(SCHEMA, fastavro.schemaless_reader(io.BytesIO(data), SCHEMA, None, return_named_type=True), NAMED)
    with pytest.raises(AvroJsonError) as ei:
        from_json(SCHEMA, {**json.loads(json.dumps(doc)), **change}, NAMED)
    assert where in str(ei.value)


def test_missing_field_is_named():
    with pytest.raises(AvroJsonError, match=r"\$: missing field 'ts' of record t.Rich"):
        from_json(SCHEMA, {}, NAMED)
