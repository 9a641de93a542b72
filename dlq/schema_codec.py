"""Schemas and values of schema'd DLQ messages, without the registry: parse a registry's schema text
(Avro with fastavro, Protobuf from serialized ``FileDescriptorProto``s into a private descriptor pool,
JSON Schema with ``jsonschema``), decode a body to a JSON-able value, and encode an edited JSON document
back, validated first. Pure; raises only :class:`SchemaError` (``reason`` is a short code).

Bounds: schema nesting (MAX_SCHEMA_DEPTH), decoded size (``max_decoded``), decoded nesting (Avro recursive
schemas are read by fastavro's pure-Python reader, which stops at Python's recursion limit — its C reader
crashes the process on a deeply nested value), and Avro arrays of zero-width items (a few bytes could claim
2^31 of them) are refused.
"""
from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from typing import Any

MAX_SCHEMA_DEPTH = 64


class SchemaError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Parsed:
    schema_type: str  # AVRO | PROTOBUF | JSON
    subject: str | None
    version: str | None
    obj: Any  # fastavro parsed schema | protobuf FileDescriptor | JSON Schema dict
    recursive: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- schema parsing (pure)

def _depth(doc: Any) -> int:
    """Nesting depth of a JSON document, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        d, n = stack.pop()
        deepest = max(deepest, n)
        if n > MAX_SCHEMA_DEPTH * 4:
            return n
        if isinstance(d, dict):
            stack.extend((v, n + 1) for v in d.values())
        elif isinstance(d, list):
            stack.extend((v, n + 1) for v in d)
    return deepest


def _load_json(text: str, what: str) -> Any:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SchemaError("schema parse error", f"{what} is not JSON: {str(exc)[:200]}") from None
    if _depth(doc) > MAX_SCHEMA_DEPTH * 4:
        raise SchemaError("schema parse error", f"{what} nests deeper than {MAX_SCHEMA_DEPTH * 4} levels")
    return doc


def _avro_walk(schema: Any, named: dict[str, Any]) -> tuple[bool, bool]:
    """(recursive, has zero-width array/map items) of a parsed fastavro schema. "Recursive" is conservative
    (any named type used twice): such schemas are read by the pure-Python reader, which stops at the
    recursion limit, where fastavro's C reader overflows the C stack on a deeply nested value."""
    recursive = zero = False
    widths: dict[str, bool] = {}

    def zero_width(s: Any, seen: frozenset[str]) -> bool:
        if isinstance(s, str):
            if s == "null":
                return True
            if s in named and s not in seen:
                return zero_width(named[s], seen | {s})
            return False
        if isinstance(s, list):
            return False  # a union writes its branch index
        if isinstance(s, dict):
            t = s.get("type")
            if t == "record" or t == "error":
                return all(zero_width(f.get("type"), seen | {s.get("name", "")}) for f in s.get("fields", []))
            if t == "fixed":
                return s.get("size") == 0
            if isinstance(t, (str, list, dict)) and t not in ("array", "map", "enum"):
                return zero_width(t, seen)
        return False

    def walk(s: Any, stack: tuple[str, ...], depth: int) -> None:
        nonlocal recursive, zero
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaError("schema parse error", f"Avro schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        if isinstance(s, str):
            if s in stack or (s in named and s in widths):  # conservative: a reused named type counts too
                recursive = True
            elif s in named:
                widths[s] = True
                walk(named[s], stack + (s,), depth + 1)
            return
        if isinstance(s, list):
            for b in s:
                walk(b, stack, depth + 1)
            return
        if not isinstance(s, dict):
            return
        t = s.get("type")
        name = s.get("name") if t in ("record", "error", "enum", "fixed") else None
        if name:
            widths[name] = True
            stack = stack + (name,)
        if t in ("record", "error"):
            for f in s.get("fields", []):
                walk(f.get("type"), stack, depth + 1)
        elif t == "array":
            zero = zero or zero_width(s.get("items"), frozenset())
            walk(s.get("items"), stack, depth + 1)
        elif t == "map":
            walk(s.get("values"), stack, depth + 1)
        elif isinstance(t, (dict, list)):
            walk(t, stack, depth + 1)
    walk(schema, (), 0)
    return recursive, zero


def parse_avro(text: str, refs: list[str]) -> Parsed:
    import fastavro

    named: dict[str, Any] = {}
    try:
        for r in refs:  # referenced schemas first, in dependency order
            fastavro.parse_schema(_load_json(r, "referenced Avro schema"), named_schemas=named)
        parsed = fastavro.parse_schema(_load_json(text, "Avro schema"), named_schemas=named)
    except SchemaError:
        raise
    except Exception as exc:  # fastavro raises SchemaParseException, UnknownType, ValueError, KeyError ...
        raise SchemaError("schema parse error", f"Avro: {type(exc).__name__}: {str(exc)[:200]}") from None
    recursive, zero = _avro_walk(parsed, named)
    if zero:
        raise SchemaError("schema parse error", "Avro array of zero-width items (null / empty record): a few "
                                                "bytes could claim billions of items; not decoded")
    return Parsed("AVRO", None, None, parsed, recursive, extra={"named": named})


_WELL_KNOWN = ("any", "api", "duration", "empty", "field_mask", "source_context", "struct", "timestamp", "type",
               "wrappers")


def parse_protobuf(text: str, refs: list[str]) -> Parsed:
    """A FileDescriptor in a private pool from base64 serialized FileDescriptorProtos (dependencies first)."""
    import importlib

    from google.protobuf import descriptor_pb2, descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    try:
        protos = []
        for t in refs + [text]:
            fdp = descriptor_pb2.FileDescriptorProto()
            fdp.ParseFromString(base64.b64decode(t, validate=True))
            protos.append(fdp)
        added = set()
        for fdp in protos:
            for dep in fdp.dependency:
                if dep.startswith("google/protobuf/") and dep not in added:
                    mod = dep[len("google/protobuf/"):-len(".proto")]
                    if mod in _WELL_KNOWN or mod == "descriptor":
                        m = importlib.import_module(f"google.protobuf.{mod}_pb2")
                        wk = descriptor_pb2.FileDescriptorProto()
                        m.DESCRIPTOR.CopyToProto(wk)
                        pool.Add(wk)
                        added.add(dep)
            if fdp.name not in added:
                pool.Add(fdp)
                added.add(fdp.name)
        fd = pool.FindFileByName(protos[-1].name)
    except Exception as exc:  # binascii.Error, DecodeError, TypeError (conflicts, missing deps) ...
        if not text.lstrip().startswith(("syntax", "package", "message", "import", "//", "option")):
            raise SchemaError("schema parse error", f"Protobuf: {type(exc).__name__}: {str(exc)[:200]}") from None
        raise SchemaError("schema parse error", "Protobuf schema given as .proto text; Eventdeck reads the "
                                                "serialized descriptor (Confluent API ?format=serialized)") from None
    return Parsed("PROTOBUF", None, None, fd)


def parse_json_schema(text: str, refs: dict[str, str]) -> Parsed:
    doc = _load_json(text, "JSON Schema")
    if not isinstance(doc, (dict, bool)):
        raise SchemaError("schema parse error", "JSON Schema must be an object or a boolean")
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    try:
        cls = jsonschema.validators.validator_for(doc, default=jsonschema.Draft202012Validator)
        cls.check_schema(doc)
        reg: Registry = Registry()
        for name, body in refs.items():
            reg = reg.with_resource(name, Resource.from_contents(_load_json(body, f"JSON Schema {name}"),
                                                                 default_specification=DRAFT202012))
        validator = cls(doc, registry=reg)
    except SchemaError:
        raise
    except Exception as exc:
        raise SchemaError("schema parse error", f"JSON Schema: {type(exc).__name__}: {str(exc)[:200]}") from None
    return Parsed("JSON", None, None, doc, extra={"validator": validator})


# ---------------------------------------------------------------- value decoding / encoding (pure)

def _bounded_json(value: Any, limit: int) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError) as exc:
        raise SchemaError("too deep", f"decoded value cannot be shown: {type(exc).__name__}") from None
    if len(text) > limit:
        raise SchemaError("too large", f"decoded value is {len(text):,} characters (at most {limit:,}, "
                                       f"schema_registry.max_decoded_bytes)")
    return text


def _protobuf_type(fd: Any, indexes: tuple[int, ...]) -> Any:
    types = fd.message_types_by_name
    msgs = list(fd.message_types_by_name.values()) if types else []
    desc = None
    for depth, i in enumerate(indexes):
        if i >= len(msgs):
            raise SchemaError("bad message index", f"message index {i} at depth {depth} names no message type "
                                                   f"(the schema has {len(msgs)} there)")
        desc = msgs[i]
        msgs = list(desc.nested_types)
    if desc is None:
        raise SchemaError("bad message index", "empty message-index array")
    return desc


def decode_body(parsed: Parsed, body: bytes, indexes: tuple[int, ...], max_decoded: int) -> tuple[Any, str, dict]:
    """``(value, json text, info)`` of a schema'd body; SchemaError with the reason."""
    info: dict[str, Any] = {}
    try:
        if parsed.schema_type == "AVRO":
            import fastavro
            from fastavro import _read_py

            from dlq import avro_json

            reader = _read_py.schemaless_reader if parsed.recursive else fastavro.schemaless_reader
            buf = io.BytesIO(body)
            rec = reader(buf, parsed.obj, None, return_named_type=True)
            if buf.tell() != len(body):
                raise SchemaError("decode error", f"Avro value ends at byte {buf.tell()} of {len(body)}")
            value = avro_json.to_json(parsed.obj, rec, parsed.obj.get("__named_schemas", {})
                                      if isinstance(parsed.obj, dict) else parsed.extra.get("named", {}))
            return value, _bounded_json(value, max_decoded), info
        if parsed.schema_type == "PROTOBUF":
            from google.protobuf import json_format, message_factory

            classes = parsed.extra.setdefault("classes", {})
            if indexes not in classes:  # one class per message type of the schema (bounded by its types)
                desc = _protobuf_type(parsed.obj, indexes)
                classes[indexes] = message_factory.GetMessageClass(desc)
            info["message_type"] = classes[indexes].DESCRIPTOR.full_name
            msg = classes[indexes]()
            msg.ParseFromString(body)
            value = json_format.MessageToDict(msg, preserving_proto_field_name=True)
            return value, _bounded_json(value, max_decoded), info
        if parsed.schema_type == "JSON":
            value = json.loads(body)
            return value, _bounded_json(value, max_decoded), info
    except SchemaError:
        raise
    except RecursionError:
        raise SchemaError("too deep", "decoded value nests deeper than the reader's recursion limit") from None
    except (EOFError, StopIteration, IndexError) as exc:
        raise SchemaError("truncated", f"{parsed.schema_type.title()} value ends early: {type(exc).__name__} "
                                       f"{str(exc)[:120]}".rstrip()) from None
    except Exception as exc:  # noqa: BLE001 - the decoders' own errors vary by library
        raise SchemaError("decode error", f"{parsed.schema_type.title()}: {type(exc).__name__}: "
                                          f"{str(exc)[:200]}") from None
    raise SchemaError("schema parse error", f"unsupported schema type {parsed.schema_type}")


def encode_body(parsed: Parsed, text: str, indexes: tuple[int, ...]) -> bytes:
    """The body for edited JSON ``text``, validated against the schema first; SchemaError('invalid edit',
    the validation error) when it does not fit."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SchemaError("invalid edit", f"not JSON: {exc}") from None
    try:
        if parsed.schema_type == "AVRO":
            import fastavro
            from fastavro.validation import ValidationError, validate

            from dlq import avro_json

            named = parsed.obj.get("__named_schemas", {}) if isinstance(parsed.obj, dict) else \
                parsed.extra.get("named", {})
            try:
                rec = avro_json.from_json(parsed.obj, doc, named)
            except avro_json.AvroJsonError as exc:
                raise SchemaError("invalid edit", f"does not match the Avro schema (Avro JSON encoding, unions "
                                                  f"as {{\"type\": value}}): {exc}") from None
            try:
                validate(rec, parsed.obj, raise_errors=True)
            except ValidationError as exc:
                raise SchemaError("invalid edit", f"does not match the Avro schema: {exc}") from None
            out = io.BytesIO()
            fastavro.schemaless_writer(out, parsed.obj, rec)
            return out.getvalue()
        if parsed.schema_type == "PROTOBUF":
            from google.protobuf import json_format, message_factory

            msg = message_factory.GetMessageClass(_protobuf_type(parsed.obj, indexes))()
            try:
                json_format.ParseDict(doc, msg)
            except json_format.ParseError as exc:
                raise SchemaError("invalid edit", f"does not match the Protobuf schema: {exc}") from None
            return msg.SerializeToString(deterministic=True)
        if parsed.schema_type == "JSON":
            import jsonschema

            err = jsonschema.exceptions.best_match(parsed.extra["validator"].iter_errors(doc))
            if err is not None:
                where = "/".join(str(p) for p in err.absolute_path) or "(root)"
                raise SchemaError("invalid edit", f"does not match the JSON Schema at {where}: {err.message}")
            return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except SchemaError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SchemaError("invalid edit", f"{type(exc).__name__}: {str(exc)[:300]}") from None
    raise SchemaError("schema parse error", f"unsupported schema type {parsed.schema_type}")
