"""Schema-aware decoding of DLQ keys and values: framing (``dlq.framing``) → schema from the cluster's
registry (cached by id, bounded) → Avro (fastavro), Protobuf (descriptor pool from the serialized
``FileDescriptorProto``) or JSON Schema (JSON) → a JSON-able value; and the inverse for an edit before
replay, always with the message's OWN schema (its framing bytes are kept verbatim — never "latest").

Every failure is per message and has a reason: ``unknown id``, ``bad magic byte``, ``truncated``,
``bad message index``, ``schema parse error``, ``registry unreachable``, ``registry error``,
``decode error``, ``too large``, ``too deep``, ``too slow``. Nothing here raises but :class:`SchemaError`.

Bounds: schema text (``max_schema_bytes``), references (MAX_REFS), registry lookups share a time budget
per page; the schema and value bounds are ``dlq.schema_codec``'s.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from cachetools import LRUCache, TTLCache

from brokers.schema_registry import (RawSchema, RegistryClient, RegistryError, RegistryUnreachable,
                                     SchemaNotFound)
from config.schema_registry import SchemaRegistryConfig
from dlq import framing
from dlq.framing import Framing, FramingError
from dlq.schema_codec import (Parsed, SchemaError, decode_body, encode_body, parse_avro, parse_json_schema,
                              parse_protobuf)

MAX_REFS = 100
LOOKUP_BUDGET_S = 10.0


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
