"""Schema'd messages made by an independent implementation: confluent-kafka's own AvroSerializer,
ProtobufSerializer and JSONSerializer, registering through the registry stand-in (tests/registry_standin.py).

The Protobuf types are built at run time from descriptors (no protoc): ``demo.Order`` in ``order.proto``
imports ``demo.Money`` from ``money.proto``, so the serializer registers a schema reference that decoding
must resolve."""
from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient, header_schema_id_serializer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

AVRO_SCHEMA = """{"type": "record", "name": "Payment", "namespace": "demo", "fields": [
  {"name": "id", "type": "string"}, {"name": "amount", "type": "double"},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "tags", "type": {"type": "array", "items": "string"}}]}"""

JSON_SCHEMA = """{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Shipment", "type": "object",
  "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
  "required": ["sku", "qty"], "additionalProperties": false}"""


def protobuf_types() -> tuple[Any, Any]:
    """(Order class, Money class) from hand-built FileDescriptorProtos in a private pool."""
    pool = descriptor_pool.DescriptorPool()
    money = descriptor_pb2.FileDescriptorProto(name="money.proto", package="demo", syntax="proto3")
    m = money.message_type.add(name="Money")
    m.field.add(name="currency", number=1, type=9, label=1)
    m.field.add(name="cents", number=2, type=3, label=1)
    order = descriptor_pb2.FileDescriptorProto(name="order.proto", package="demo", syntax="proto3",
                                               dependency=["money.proto"])
    o = order.message_type.add(name="Order")
    o.field.add(name="order_id", number=1, type=9, label=1)
    o.field.add(name="total", number=2, type=11, label=1, type_name=".demo.Money")
    o.field.add(name="items", number=3, type=9, label=3)
    line = o.nested_type.add(name="Line")  # a nested type: message index [0, 0]
    line.field.add(name="sku", number=1, type=9, label=1)
    pool.Add(money)
    pool.Add(order)
    order_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.Order"))
    money_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.Money"))
    return order_cls, money_cls


def serializers(url: str) -> dict[str, Any]:
    client = SchemaRegistryClient({"url": url})
    order_cls, _ = protobuf_types()
    line_cls = order_cls.Line
    return {
        "client": client,
        "avro": AvroSerializer(client, AVRO_SCHEMA),
        "avro_header": AvroSerializer(client, AVRO_SCHEMA,
                                      conf={"schema.id.serializer": header_schema_id_serializer}),
        "protobuf": ProtobufSerializer(order_cls, client, {"use.deprecated.format": False}),
        "protobuf_nested": ProtobufSerializer(line_cls, client, {"use.deprecated.format": False}),
        "json": JSONSerializer(JSON_SCHEMA, client),
        "order_cls": order_cls,
    }


def sample_messages(url: str, topic: str) -> list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]], Any]]:
    """(label, key, value, headers, expected decoded value) of a mixed DLQ: Avro (prefix and header form),
    Protobuf (top-level and nested type), JSON Schema, plain JSON and garbage."""
    s = serializers(url)
    order_cls = s["order_cls"]
    out = []
    pay = {"id": "p-1", "amount": 12.5, "note": "first", "tags": ["a", "b"]}
    ctx = SerializationContext(topic, MessageField.VALUE, [])
    out.append(("avro", b"k-avro", s["avro"](pay, ctx), [], pay))
    hctx = SerializationContext(topic, MessageField.VALUE, [])
    pay2 = {"id": "p-2", "amount": 3.0, "note": None, "tags": []}
    value = s["avro_header"](pay2, hctx)
    out.append(("avro-header", b"k-avro-h", value, list(hctx.headers), pay2))
    order = order_cls(order_id="o-7", items=["x", "y"])
    order.total.currency = "EUR"
    order.total.cents = 1999
    out.append(("protobuf", b"k-proto", s["protobuf"](order, SerializationContext(topic, MessageField.VALUE)),
                [], {"order_id": "o-7", "total": {"currency": "EUR", "cents": "1999"}, "items": ["x", "y"]}))
    line = order_cls.Line(sku="L-1")
    out.append(("protobuf-nested", b"k-proto-n",
                s["protobuf_nested"](line, SerializationContext(topic, MessageField.VALUE)), [], {"sku": "L-1"}))
    ship = {"sku": "S-9", "qty": 4}
    out.append(("json-schema", b"k-json", s["json"](ship, SerializationContext(topic, MessageField.VALUE)), [], ship))
    out.append(("plain-json", b"k-plain", b'{"plain": true}', [], None))
    out.append(("garbage", b"k-garbage", b"\x00\x7f\xff\xff\xff\x01\x02", [], None))
    return out
