"""dlq.schemas: decoding through the registry (recorded answers and hostile ones), per message, and the
own-schema re-encoding of an edit."""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import fastavro
import pytest

from brokers.schema_registry import RawSchema, RegistryClient, RegistryUnreachable, SchemaNotFound
from config.schema_registry import SchemaRegistryConfig
from dlq.schemas import Decoder, SchemaCache, SchemaError

RECORDED = json.loads((Path(__file__).parent / "data" / "registry_recorded.json").read_text())
CFG = SchemaRegistryConfig(url="http://recorded.invalid")


class RecordedClient(RegistryClient):
    """The real client's parsing, answered from registry responses recorded from the stand-in."""

    def __init__(self, cfg=CFG):
        super().__init__(cfg, "recorded")
        self.calls = 0

    def _json(self, path, params=None):
        self.calls += 1
        if path not in RECORDED["answers"]:
            raise SchemaNotFound(f"GET {path}: 404 not found")
        return RECORDED["answers"][path]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class FakeClient:
    """Registry answers by id for hostile cases; ``cost_s`` advances the clock per call (a slow registry)."""

    def __init__(self, schemas, clock=None, cost_s=0.0, error=None):
        self.schemas, self.clock, self.cost_s, self.error, self.calls = schemas, clock, cost_s, error, 0

    def get_by_id(self, kind, schema_id):
        self.calls += 1
        if self.clock:
            self.clock.t += self.cost_s
        if self.error:
            raise self.error
        if schema_id not in self.schemas:
            raise SchemaNotFound(f"GET /schemas/ids/{schema_id}: 404 not found")
        return self.schemas[schema_id]

    def get_ref(self, ref):
        raise SchemaNotFound(ref.subject)

    def close(self):
        pass


def msgs():
    out = {}
    for m in RECORDED["messages"]:
        out[m["label"]] = (bytes.fromhex(m["value"]), [(h, bytes.fromhex(b)) for h, b in m["headers"]])
    return out


def recorded_decoder():
    return Decoder(SchemaCache(CFG, RecordedClient()))


EXPECTED = {
    "avro": {"id": "p-1", "amount": 12.5, "note": {"string": "first"}, "tags": ["a", "b"]},  # Avro JSON encoding
    "avro-header": {"id": "p-2", "amount": 3.0, "note": None, "tags": []},
    "protobuf": {"order_id": "o-7", "total": {"currency": "EUR", "cents": "1999"}, "items": ["x", "y"]},
    "protobuf-nested": {"sku": "L-1"},
    "json-schema": {"sku": "S-9", "qty": 4},
}


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_recorded_messages_decode(label):
    value, headers = msgs()[label]
    d = recorded_decoder().decode(value, headers)
    assert d["status"] == "decoded", d
    assert d["value"] == EXPECTED[label]
    assert json.loads(d["json"]) == EXPECTED[label]
    if label == "protobuf-nested":
        assert d["message_type"] == "demo.Order.Line"
    if label != "avro-header":
        assert d["subject"] == "orders.DLT-value" and d["version"]


def test_recorded_plain_and_garbage():
    dec = recorded_decoder()
    assert dec.decode(msgs()["plain-json"][0], []) is None
    bad = dec.decode(msgs()["garbage"][0], [])
    assert bad["status"] == "failed" and bad["reason"] == "unknown id" and bad["schema_id"] == 2**31 - 1


def test_schema_cached_by_id():
    client = RecordedClient()
    dec = Decoder(SchemaCache(CFG, client))
    value, _ = msgs()["avro"]
    dec.decode(value, [])
    n = client.calls
    for _ in range(5):
        assert dec.decode(value, [])["status"] == "decoded"
    assert client.calls == n


AVRO = RawSchema("AVRO", json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}))
RECURSIVE = RawSchema("AVRO", json.dumps({"type": "record", "name": "Node", "fields": [
    {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]}))


def framed(sid: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", sid) + body


def avro_body(schema: RawSchema, rec) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema.text)), rec)
    return out.getvalue()


def test_hostile_page_fails_per_message():
    """A 10 MB schema, a self-recursive schema with a deeply nested value, id 2^31-1, a 10^6-entry message
    index array, truncated Avro, an array of nulls: each message gets its own reason, the good ones decode."""
    huge = RawSchema("AVRO", json.dumps({"type": "record", "name": "Big", "doc": "x" * (10 << 20),
                                         "fields": [{"name": "a", "type": "string"}]}))
    proto = RawSchema("PROTOBUF", json.loads(json.dumps(RECORDED["answers"]["/schemas/ids/2"]))["schema"],
                      serialized=True)
    zero = RawSchema("AVRO", json.dumps({"type": "array", "items": "null"}))
    client = FakeClient({1: AVRO, 2: huge, 3: RECURSIVE, 4: proto, 5: zero})
    dec = Decoder(SchemaCache(CFG, client))
    deep = b"".join(b"\x02\x02" for _ in range(5000)) + b"\x02\x00"  # v=1, next=Node ... 5000 levels
    shallow = avro_body(RECURSIVE, {"v": 1, "next": {"v": 2, "next": None}})
    million = b"\x80\x89\x7a" + b"\x00" * 1000  # zigzag varint 10^6: the index-array count
    page = [
        ("good", framed(1, avro_body(AVRO, {"a": "ok"})), "decoded"),
        ("10 MB schema", framed(2, b"\x02a"), "schema parse error"),
        ("deep recursive value", framed(3, deep), "too deep"),
        ("shallow recursive value", framed(3, shallow), "decoded"),
        ("id 2^31-1", framed(2**31 - 1, b"xx"), "unknown id"),
        ("10^6 message indexes", framed(4, million), "bad message index"),
        ("truncated avro", framed(1, b"\x20ab"), "truncated"),
        ("array of nulls", framed(5, b"\x80\xad\xe2\x04\x00"), "schema parse error"),
        ("bad magic in header", b"x", "bad magic byte"),
        ("good again", framed(1, avro_body(AVRO, {"a": "fine"})), "decoded"),
    ]
    for what, value, want in page:
        headers = [("__value_schema_id", b"\x07nope")] if what == "bad magic in header" else []
        d = dec.decode(value, headers)
        got = d["status"] if d["status"] == "decoded" else d["reason"]
        assert got == want, (what, d)
    assert dec.decode(framed(3, shallow), [])["value"] == {"v": 1, "next": {"Node": {"v": 2, "next": None}}}


def test_unknown_id_and_unreachable_are_cached_briefly():
    clock = Clock()
    client = FakeClient({1: AVRO})
    cache = SchemaCache(SchemaRegistryConfig(url="http://x.invalid", negative_ttl_s=30), client, clock)
    for _ in range(3):
        assert Decoder(cache, clock=clock).decode(framed(9, b""), [])["reason"] == "unknown id"
    assert client.calls == 1
    clock.t += 31
    Decoder(cache, clock=clock).decode(framed(9, b""), [])
    assert client.calls == 2
    down = FakeClient({}, error=RegistryUnreachable("registry unreachable: GET /schemas/ids/1: ConnectionError"))
    cache = SchemaCache(SchemaRegistryConfig(url="http://x.invalid"), down, clock)
    for _ in range(3):
        d = Decoder(cache, clock=clock).decode(framed(1, b"\x04ok"), [])
        assert d["reason"] == "registry unreachable" and "registry unreachable" in d["detail"]
    assert down.calls == 1


def test_slow_registry_spends_the_page_budget_then_shows_raw():
    clock = Clock()
    schemas = {i: AVRO for i in range(1, 10)}
    client = FakeClient(schemas, clock, cost_s=4.0)
    dec = Decoder(SchemaCache(CFG, client, clock), budget_s=10, clock=clock)
    got = [dec.decode(framed(i, avro_body(AVRO, {"a": "v"})), []) for i in range(1, 10)]
    reasons = [d["status"] if d["status"] == "decoded" else d["reason"] for d in got]
    assert reasons[:3] == ["decoded"] * 3 and set(reasons[3:]) == {"too slow"}
    assert client.calls == 3
    # the next page has a new budget; the slow answers were not cached as failures
    assert Decoder(dec.cache, budget_s=10, clock=clock).decode(framed(4, avro_body(AVRO, {"a": "v"})), [])[
        "status"] == "decoded"


def test_cache_is_bounded_lru():
    client = FakeClient({i: AVRO for i in range(1, 5)})
    cache = SchemaCache(SchemaRegistryConfig(url="http://x.invalid", cache_size=2), client)
    dec = Decoder(cache)
    for i in (1, 2, 3):
        dec.decode(framed(i, b"\x02a"), [])
    assert len(cache.good) == 2 and ("id", 1) not in cache.good


def test_edit_reencodes_with_the_original_schema_id():
    dec = recorded_decoder()
    value, _ = msgs()["avro"]
    edited = dec.encode(value, [], json.dumps({"id": "p-1", "amount": 99.0, "note": None, "tags": []}))
    assert edited[:5] == value[:5]  # magic + schema id 1, never "latest" (id 4 is the subject's latest)
    assert dec.decode(edited, [])["value"] == {"id": "p-1", "amount": 99.0, "note": None, "tags": []}
    with pytest.raises(SchemaError) as ei:
        dec.encode(value, [], json.dumps({"id": "p-1", "amount": "lots"}))
    assert ei.value.reason == "invalid edit"


def test_edit_protobuf_nested_keeps_its_message_indexes():
    dec = recorded_decoder()
    value, _ = msgs()["protobuf-nested"]
    edited = dec.encode(value, [], '{"sku": "L-2"}')
    assert edited[:8] == value[:8]  # id 3 and indexes [0, 0]
    assert dec.decode(edited, [])["value"] == {"sku": "L-2"}
    with pytest.raises(SchemaError) as ei:
        dec.encode(value, [], '{"sku": "L-2", "colour": "red"}')
    assert ei.value.reason == "invalid edit" and "colour" in str(ei.value)


def test_edit_json_schema_is_validated():
    dec = recorded_decoder()
    value, _ = msgs()["json-schema"]
    assert dec.decode(dec.encode(value, [], '{"sku": "S-9", "qty": 5}'), [])["value"] == {"sku": "S-9", "qty": 5}
    with pytest.raises(SchemaError) as ei:
        dec.encode(value, [], '{"sku": "S-9", "qty": 0}')
    assert "qty" in str(ei.value) and "minimum" in str(ei.value)


def test_edit_header_form_returns_the_bare_body():
    dec = recorded_decoder()
    value, headers = msgs()["avro-header"]
    edited = dec.encode(value, headers, json.dumps({"id": "p-2", "amount": 4.0, "note": None, "tags": ["z"]}))
    assert edited[0] != 0 and dec.decode(edited, headers)["value"]["tags"] == ["z"]


def test_apicurio_global_id_framing():
    client = FakeClient({42: AVRO})
    cfg = SchemaRegistryConfig(url="http://x.invalid", api="apicurio2")
    dec = Decoder(SchemaCache(cfg, client), wire="apicurio2")
    value = b"\x00" + struct.pack(">q", 42) + avro_body(AVRO, {"a": "apicurio"})
    d = dec.decode(value, [])
    assert d["status"] == "decoded" and d["value"] == {"a": "apicurio"} and d["id_kind"] == "global"
    hdr = [("apicurio.value.globalId", struct.pack(">q", 42))]
    assert dec.decode(avro_body(AVRO, {"a": "h"}), hdr)["value"] == {"a": "h"}


def test_protobuf_proto_text_is_a_schema_parse_error():
    client = FakeClient({1: RawSchema("PROTOBUF", 'syntax = "proto3"; message A { string a = 1; }')})
    d = Decoder(SchemaCache(CFG, client)).decode(framed(1, b"\x00\x0a\x01a"), [])
    assert d["reason"] == "schema parse error" and "format=serialized" in d["detail"]


_FUZZ_DECODER = None


def _fuzz_decoder():
    global _FUZZ_DECODER
    if _FUZZ_DECODER is None:
        _FUZZ_DECODER = recorded_decoder()
    return _FUZZ_DECODER


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=1200, deadline=None)
@given(sid=st.sampled_from([1, 2, 3, 4, 7, 2**31 - 1]), body=st.binary(max_size=64),
       header=st.one_of(st.none(), st.binary(max_size=24)), is_key=st.booleans())
def test_fuzz_decode_never_raises_and_says_why(sid, body, header, is_key):
    """The whole decode pipeline (framing → cached schema → Avro/Protobuf/JSON decoder) on garbage bodies
    behind real schema ids: a result or a reason, never an exception."""
    headers = [] if header is None else [("__key_schema_id" if is_key else "__value_schema_id", header)]
    d = _fuzz_decoder().decode(framed(sid, body), headers, is_key=is_key)
    assert d is not None
    assert d["status"] == "decoded" or (d["status"] == "failed" and d["reason"] and d["detail"])
    if d["status"] == "decoded":
        json.loads(d["json"])


def test_mutually_recursive_avro_through_a_reused_type_is_read_safely():
    schema = RawSchema("AVRO", json.dumps({"type": "record", "name": "Tree", "fields": [
        {"name": "left", "type": ["null", {"type": "record", "name": "Branch", "fields": [
            {"name": "t", "type": ["null", "Tree"]}]}]},
        {"name": "right", "type": ["null", "Branch"]}]}))
    dec = Decoder(SchemaCache(CFG, FakeClient({1: schema})))
    deep = b"\x02\x02" * 20000 + b"\x00" + b"\x00" * 20000 * 1 + b"\x00"
    d = dec.decode(framed(1, deep), [])
    assert d["status"] == "failed" and d["reason"] in ("too deep", "truncated", "decode error")
    assert dec.decode(framed(1, b"\x00\x00"), [])["value"] == {"left": None, "right": None}


class RefClient(FakeClient):
    """Answers references by subject (Confluent: a reference names subject and version)."""

    def __init__(self, schemas, refs):
        super().__init__(schemas)
        self.refs = refs

    def get_ref(self, ref):
        return self.refs[ref.subject]


def test_avro_and_json_schema_references_are_resolved():
    from brokers.schema_registry import Ref

    money = RawSchema("AVRO", json.dumps({"type": "record", "name": "Money", "namespace": "demo",
                                          "fields": [{"name": "cents", "type": "long"}]}))
    order = RawSchema("AVRO", json.dumps({"type": "record", "name": "Order", "namespace": "demo",
                                          "fields": [{"name": "total", "type": "demo.Money"}]}),
                      (Ref("demo.Money", "money-value", "1"),))
    addr = RawSchema("JSON", json.dumps({"type": "object", "properties": {"zip": {"type": "string"}},
                                         "required": ["zip"]}))
    person = RawSchema("JSON", json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                           "type": "object", "properties": {"home": {"$ref": "address.json"}}}),
                       (Ref("address.json", "address-value", "1"),))
    dec = Decoder(SchemaCache(CFG, RefClient({1: order, 2: person}, {"money-value": money, "address-value": addr})))
    body = avro_body(RawSchema("AVRO", json.dumps({"type": "record", "name": "Order", "namespace": "demo",
                                                   "fields": [{"name": "total", "type": json.loads(money.text)}]})),
                     {"total": {"cents": 1999}})
    d = dec.decode(framed(1, body), [])
    assert d["status"] == "decoded" and d["value"] == {"total": {"cents": 1999}}, d
    assert dec.decode(dec.encode(framed(1, body), [], '{"total": {"cents": 5}}'), [])["value"] == {"total": {"cents": 5}}
    value = framed(2, b'{"home": {"zip": "1000"}}')
    assert dec.decode(value, [])["value"] == {"home": {"zip": "1000"}}
    with pytest.raises(SchemaError) as ei:
        dec.encode(value, [], '{"home": {"zip": 1000}}')  # the referenced schema validates the edit
    assert "home/zip" in str(ei.value)
