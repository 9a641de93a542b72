"""Schema-aware decoding of DLQ keys and values: framing (``dlq.framing``) → schema from the cluster's
registry (cached by id, bounded) → Avro (fastavro), Protobuf (descriptor pool from the serialized
``FileDescriptorProto``) or JSON Schema (JSON) → a JSON-able value; and the inverse for an edit before
replay, always with the message's OWN schema (its framing bytes are kept verbatim — never "latest").

Every failure is per message and has a reason: ``unknown id``, ``bad magic byte``, ``truncated``,
``bad message index``, ``schema parse error``, ``registry unreachable``, ``registry error``,
``decode error``, ``too large``, ``too deep``, ``too slow``. Nothing here raises but :class:`SchemaError`.

Bounds: schema text (``max_schema_bytes``), schema nesting (MAX_SCHEMA_DEPTH) and references
(MAX_REFS), decoded size (``max_decoded_bytes``), decoded nesting (Avro recursive schemas are read by
fastavro's pure-Python reader, which stops at Python's recursion limit — its C reader crashes the
process on a deeply nested value), Avro arrays/maps of zero-width items (a few bytes could claim 2^31
of them) are refused, and registry lookups share a time budget per page.
"""
from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cachetools import LRUCache, TTLCache

from brokers.schema_registry import (RawSchema, RegistryClient, RegistryError, RegistryUnreachable,
                                     SchemaNotFound)
from config.schema_registry import SchemaRegistryConfig
from dlq import framing
from dlq.framing import Framing, FramingError

MAX_SCHEMA_DEPTH = 64
MAX_REFS = 100
LOOKUP_BUDGET_S = 10.0


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


def parse_protobuf(text: str, refs: list[str], index_hint: str = "") -> Parsed:
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


_AVRO_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "bytes": (str,), "boolean": (bool,), "int": (int,), "long": (int,),
    "float": (int, float), "double": (int, float), "null": (type(None),)}


def _avro_hint(schema: Any, doc: Any) -> str:
    """Which fields of a record edit are missing, unknown or of the wrong JSON type (fastavro's own error
    names none)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return ""
    if not isinstance(doc, dict):
        return f"expected a JSON object for record {schema.get('name')}"
    fields = {f["name"]: f for f in schema.get("fields", [])}
    out = [f"missing field {n}" for n, f in fields.items() if n not in doc and "default" not in f]
    out += [f"unknown field {n}" for n in doc if n not in fields]
    for n, f in fields.items():
        t = f.get("type")
        if n in doc and isinstance(t, str) and t in _AVRO_JSON_TYPES:
            ok = isinstance(doc[n], _AVRO_JSON_TYPES[t]) and not (t != "boolean" and isinstance(doc[n], bool))
            if not ok:
                out.append(f"field {n}: expected {t}, got {type(doc[n]).__name__} {json.dumps(doc[n])[:40]}")
    return "; ".join(out[:10])


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


# ---------------------------------------------------------------- registry lookups, cached

class SchemaCache:
    """Parsed schemas of one registry by (id kind, id): LRU bounded; failures (unknown id, unreachable
    registry, parse errors) remembered for ``negative_ttl_s``."""

    def __init__(self, cfg: SchemaRegistryConfig, client: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.client = client
        self.clock = clock
        self.good: LRUCache = LRUCache(maxsize=cfg.cache_size)
        self.bad: TTLCache = TTLCache(maxsize=cfg.cache_size, ttl=max(cfg.negative_ttl_s, 1e-9), timer=clock)
        self.lock = threading.Lock()
        self.lookups = 0

    def _raw(self, fetch: Callable[[], RawSchema]) -> RawSchema:
        try:
            raw = fetch()
        except SchemaNotFound as exc:
            raise SchemaError("unknown id", str(exc)) from None
        except RegistryUnreachable as exc:
            raise SchemaError("registry unreachable", str(exc)) from None
        except RegistryError as exc:
            raise SchemaError("registry error", str(exc)) from None
        if len(raw.text.encode("utf-8", errors="replace")) > self.cfg.max_schema_bytes:
            raise SchemaError("schema parse error", f"schema is larger than {self.cfg.max_schema_bytes:,} bytes "
                                                    f"(schema_registry.max_schema_bytes)")
        return raw

    def _refs(self, raw: RawSchema, deadline: float) -> list[RawSchema]:
        """Referenced schemas, dependencies first (depth-first), bounded."""
        out: list[RawSchema] = []
        seen: set[tuple[str, str]] = set()

        def visit(r: RawSchema, depth: int) -> None:
            if depth > 16:
                raise SchemaError("schema parse error", "schema references nest deeper than 16")
            for ref in r.references:
                if (ref.subject, ref.version) in seen:
                    continue
                seen.add((ref.subject, ref.version))
                if len(seen) > MAX_REFS:
                    raise SchemaError("schema parse error", f"more than {MAX_REFS} schema references")
                if self.clock() > deadline:
                    raise SchemaError("too slow", "registry lookups of this page took longer than "
                                                  f"{LOOKUP_BUDGET_S:.0f} s; shown raw")
                child = self._raw(lambda ref=ref: self.client.get_ref(ref))
                child = RawSchema(child.schema_type, child.text, child.references, ref.subject, ref.version,
                                  child.serialized, {"name": ref.name})
                visit(child, depth + 1)
                out.append(child)
        visit(raw, 0)
        return out

    def get(self, kind: str, schema_id: int | str, deadline: float) -> Parsed:
        key = (kind, schema_id)
        with self.lock:
            if key in self.good:
                return self.good[key]
            if key in self.bad:
                raise self.bad[key]
        if self.clock() > deadline:
            raise SchemaError("too slow", f"registry lookups of this page took longer than {LOOKUP_BUDGET_S:.0f} s;"
                                          " shown raw (open the next page or retry)")
        self.lookups += 1
        try:
            raw = self._raw(lambda: self.client.get_by_id(kind, schema_id))
            refs = self._refs(raw, deadline)
            t = raw.schema_type
            if t == "AVRO":
                parsed = parse_avro(raw.text, [r.text for r in refs])
            elif t == "PROTOBUF":
                parsed = parse_protobuf(raw.text, [r.text for r in refs])
            elif t == "JSON":
                parsed = parse_json_schema(raw.text, {r.extra.get("name", ""): r.text for r in refs})
            else:
                raise SchemaError("schema parse error", f"unsupported schema type {t[:40]!r}")
            parsed.subject, parsed.version = raw.subject, raw.version
        except SchemaError as exc:
            if exc.reason != "too slow":
                with self.lock:
                    self.bad[key] = exc
            raise
        with self.lock:
            self.good[key] = parsed
        return parsed


_CACHES: dict[tuple[str, str], SchemaCache] = {}
_CACHES_LOCK = threading.Lock()


def cache_for(cluster: str, cfg: SchemaRegistryConfig) -> SchemaCache:
    """The process-wide cache of a cluster's registry (a new one when its settings change)."""
    key = (cluster, cfg.model_dump_json())
    with _CACHES_LOCK:
        c = _CACHES.get(key)
        if c is None:
            for k in [k for k in _CACHES if k[0] == cluster]:
                _CACHES.pop(k).client.close()
            c = _CACHES[key] = SchemaCache(cfg, RegistryClient(cfg, cluster))
        return c


# ---------------------------------------------------------------- one message

def _body_and_indexes(fr: Framing, payload: bytes, schema_type: str) -> tuple[bytes, tuple[int, ...], bytes]:
    """``(body, message indexes, bytes between the prefix and the body)``."""
    rest = payload[len(fr.prefix):]
    if schema_type != "PROTOBUF":
        return rest, (), b""
    if fr.header is not None:  # header form: the indexes follow the id in the header
        if not fr.header_tail:
            return rest, (0,), b""
        idx, _ = framing.message_indexes(fr.header_tail)
        return rest, idx, b""
    idx, pos = framing.message_indexes(rest)
    return rest[pos:], idx, rest[:pos]


class Decoder:
    """Decodes keys and values of one cluster's messages; one per page (its lookup budget)."""

    def __init__(self, cache: SchemaCache | None, wire: str = "confluent", budget_s: float = LOOKUP_BUDGET_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cache = cache
        self.wire = wire
        self.deadline = clock() + budget_s
        self.max_decoded = cache.cfg.max_decoded_bytes if cache else 1 << 20

    def framing_of(self, payload: bytes | None, headers: Any, is_key: bool) -> Framing | None:
        return framing.frame(payload, headers, is_key=is_key, wire=self.wire)  # type: ignore[arg-type]

    def decode(self, payload: bytes | None, headers: Any, is_key: bool = False) -> dict[str, Any] | None:
        """None when the payload names no schema; else a dict with ``status`` 'decoded' (value, json,
        format, subject, version, schema id) or 'failed' (reason, detail) — never raises."""
        try:
            fr = self.framing_of(payload, headers, is_key)
        except FramingError as exc:
            return {"status": "failed", "reason": exc.reason, "detail": str(exc)}
        if fr is None:
            return None
        out: dict[str, Any] = {"framing": fr.source, "id_kind": fr.kind, "schema_id": fr.schema_id,
                               "schema": fr.describe()}
        if self.cache is None:
            return {**out, "status": "failed", "reason": "no registry",
                    "detail": "this cluster has no schema_registry configured"}
        try:
            parsed = self.cache.get(fr.kind, fr.schema_id, self.deadline)
            body, idx, _ = _body_and_indexes(fr, payload or b"", parsed.schema_type)
            value, text, info = decode_body(parsed, body, idx, self.max_decoded)
        except (SchemaError, FramingError) as exc:
            return {**out, "status": "failed", "reason": exc.reason, "detail": str(exc)}
        return {**out, **info, "status": "decoded", "format": parsed.schema_type.lower(), "subject": parsed.subject,
                "version": parsed.version, "value": value, "json": text}

    def encode(self, payload: bytes | None, headers: Any, edited_json: str, is_key: bool = False) -> bytes:
        """The edited value's bytes with the ORIGINAL framing (same schema id, same prefix bytes), validated
        against that schema; SchemaError when the original is not schema'd or the edit does not fit."""
        try:
            fr = self.framing_of(payload, headers, is_key)
        except FramingError as exc:
            raise SchemaError(exc.reason, str(exc)) from None
        if fr is None or self.cache is None:
            raise SchemaError("not schema'd", "the original message names no schema")
        parsed = self.cache.get(fr.kind, fr.schema_id, self.deadline)
        try:
            _, idx, between = _body_and_indexes(fr, payload or b"", parsed.schema_type)
        except FramingError as exc:
            raise SchemaError(exc.reason, str(exc)) from None
        return fr.prefix + between + encode_body(parsed, edited_json, idx)


def decoder_for(cluster_cfg: Any, budget_s: float = LOOKUP_BUDGET_S) -> Decoder:
    """The decoder of a Kafka cluster config (no registry: framings are still recognised, and say so)."""
    reg = getattr(cluster_cfg, "schema_registry", None)
    if reg is None:
        return Decoder(None)
    return Decoder(cache_for(cluster_cfg.name, reg), reg.api, budget_s)


def encode_edit(settings: Any, broker: str, cluster: str, msg: Any, edited_json: str
                ) -> tuple[bytes, str, dict[str, Any]]:
    """``(bytes to publish, the decoded original as JSON text, audit facts of the schema)`` for an edit of a
    schema'd message; SchemaError when the cluster has no registry, the original cannot be decoded, or the
    edit does not validate against the message's own schema."""
    if broker != "kafka":
        raise SchemaError("no registry", "schema'd edits are for Kafka DLQs (a registry belongs to a Kafka cluster)")
    cfg = next((c for c in settings.kafka.clusters if c.name == cluster), None)
    if cfg is None or cfg.schema_registry is None:
        raise SchemaError("no registry", f"kafka.clusters[{cluster}].schema_registry is not configured")
    dec = decoder_for(cfg)
    before = dec.decode(msg.value, msg.headers)
    if not before or before["status"] != "decoded":
        raise SchemaError((before or {}).get("reason") or "not schema'd",
                          (before or {}).get("detail") or "the original message names no schema")
    encoded = dec.encode(msg.value, msg.headers, edited_json)
    return encoded, before["json"], {"framing": before["framing"], "id_kind": before["id_kind"],
                                      "schema_id": before["schema_id"], "subject": before.get("subject"),
                                      "version": before.get("version"), "format": before["format"]}
