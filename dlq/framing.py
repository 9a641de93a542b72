"""Schema-registry framings of a Kafka key or value: which schema a payload names, and where its body starts.

Pure and bounded; raises only :class:`FramingError`. The framings (keys and values separately):

* Confluent classic: magic byte ``0`` + 4-byte big-endian schema id, then the body (Protobuf: the
  message-index array first, see :func:`message_indexes`).
* Confluent header form: header ``__value_schema_id`` / ``__key_schema_id`` holding magic ``1`` +
  16-byte GUID, or magic ``0`` + 4-byte id (Protobuf: followed by the message-index array); the
  payload is the bare body.
* Apicurio 2.x: magic ``0`` + 8-byte global id; Apicurio 3.x: magic ``0`` + 4-byte content id. The
  bytes cannot tell a Confluent id from an Apicurio 3 content id, or a 4-byte from an 8-byte id, so the
  cluster's ``schema_registry.wire`` says which prefix its producers write.
* Apicurio headers (both versions): ``apicurio.value.globalId`` / ``apicurio.value.contentId`` (and
  ``apicurio.key.*``) as 8-byte big-endian longs; the payload is the bare body.

A payload that names no schema is ``None`` (plain bytes); one that starts like a framing but is broken
raises FramingError with the reason (bad magic byte, truncated, index array too long ...).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

Wire = Literal["confluent", "apicurio2", "apicurio3"]
WIRES: tuple[str, ...] = ("confluent", "apicurio2", "apicurio3")

CONFLUENT_KEY_HEADER = "__key_schema_id"
CONFLUENT_VALUE_HEADER = "__value_schema_id"
MAX_INDEXES = 64  # nesting depth of a Protobuf message type; real schemas use a handful
MAX_ID = (1 << 63) - 1


class FramingError(ValueError):
    """A payload or header that claims a schema framing but is malformed; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Framing:
    """Which schema a key/value names: ``kind`` is the id space the registry is asked in."""

    source: str  # 'confluent' | 'confluent-header' | 'apicurio2' | 'apicurio3' | 'apicurio-header'
    kind: str  # 'id' (Confluent schema id) | 'guid' | 'global' (Apicurio global id) | 'content' (content id)
    schema_id: int | str  # int, or the GUID text for kind 'guid'
    prefix: bytes  # bytes before the body in the payload itself (kept verbatim when re-encoding)
    header: str | None = None  # the header that named the schema, when it was a header
    header_tail: bytes = b""  # bytes after the id in the header (Protobuf message indexes)

    def describe(self) -> str:
        what = {"id": "schema id", "guid": "schema guid", "global": "global id", "content": "content id"}[self.kind]
        where = f" (header {self.header})" if self.header else ""
        return f"{what} {self.schema_id}{where}"


def _pairs(headers: Iterable[tuple[Any, Any]] | Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for i, pair in enumerate(items):
        if i >= 10_000:
            break
        if isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str):
            out.append(pair)
    return out


def _header_bytes(name: str, raw: Any) -> bytes:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    raise FramingError("bad header", f"header {name} is not bytes")


def _confluent_header(name: str, raw: Any) -> Framing:
    b = _header_bytes(name, raw)
    if not b:
        raise FramingError("truncated", f"header {name} is empty")
    if b[0] == 1:
        if len(b) < 17:
            raise FramingError("truncated", f"header {name}: GUID needs 16 bytes, has {len(b) - 1}")
        return Framing("confluent-header", "guid", str(uuid.UUID(bytes=b[1:17])), b"", name, b[17:])
    if b[0] == 0:
        if len(b) < 5:
            raise FramingError("truncated", f"header {name}: schema id needs 4 bytes, has {len(b) - 1}")
        return Framing("confluent-header", "id", int.from_bytes(b[1:5], "big"), b"", name, b[5:])
    raise FramingError("bad magic byte", f"header {name} starts with {b[0]}, expected 0 (id) or 1 (GUID)")


def _apicurio_header(name: str, raw: Any, kind: str) -> Framing:
    b = _header_bytes(name, raw)
    if len(b) != 8:
        raise FramingError("truncated" if len(b) < 8 else "bad header", f"header {name} must be an 8-byte long, "
                           f"has {len(b)} bytes")
    n = int.from_bytes(b, "big", signed=True)
    if n < 0:
        raise FramingError("bad header", f"header {name} holds a negative id {n}")
    return Framing("apicurio-header", kind, n, b"", name)


def frame(payload: bytes | None, headers: Iterable[tuple[Any, Any]] | Mapping[str, Any] | None, *,
          is_key: bool, wire: Wire = "confluent") -> Framing | None:
    """The schema framing of a key (``is_key``) or value, or None when it names no schema.

    Headers win over the payload prefix (a header-framed payload has no prefix). A payload without a
    header is schema-framed when it starts with magic byte 0 and is long enough for the id; a
    payload starting with another byte is plain (JSON text, garbage) — None, not an error."""
    if wire not in WIRES:
        raise FramingError("bad config", f"wire must be one of {', '.join(WIRES)}, got {wire!r}")
    side = "key" if is_key else "value"
    conf_name = CONFLUENT_KEY_HEADER if is_key else CONFLUENT_VALUE_HEADER
    found: dict[str, Any] = {}
    for k, v in _pairs(headers):
        if k in (conf_name, f"apicurio.{side}.globalId", f"apicurio.{side}.contentId") and k not in found:
            found[k] = v
    if conf_name in found:
        return _confluent_header(conf_name, found[conf_name])
    if f"apicurio.{side}.globalId" in found:
        return _apicurio_header(f"apicurio.{side}.globalId", found[f"apicurio.{side}.globalId"], "global")
    if f"apicurio.{side}.contentId" in found:
        return _apicurio_header(f"apicurio.{side}.contentId", found[f"apicurio.{side}.contentId"], "content")
    if not payload or payload[0] != 0:
        return None
    width = 8 if wire == "apicurio2" else 4
    if len(payload) < 1 + width:
        raise FramingError("truncated", f"{side} starts with magic byte 0 but has {len(payload) - 1} of the "
                                        f"{width} id bytes")
    n = int.from_bytes(payload[1:1 + width], "big", signed=(width == 8))
    if n < 0:
        raise FramingError("bad id", f"{side} names a negative global id {n}")
    kind = {"confluent": "id", "apicurio2": "global", "apicurio3": "content"}[wire]
    return Framing(wire, kind, n, bytes(payload[:1 + width]))


def _varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """A zigzag varint at ``pos``: ``(value, next pos)``; at most 10 bytes."""
    value = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise FramingError("truncated", f"{what}: the data ends inside a varint")
        b = data[pos + i]
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos + i + 1
    raise FramingError("bad message index", f"{what}: varint longer than 10 bytes")


def message_indexes(data: bytes, pos: int = 0) -> tuple[tuple[int, ...], int]:
    """The Protobuf message-index array at ``pos`` (zigzag varints: count, then indexes; a single 0 byte
    is ``(0,)``): ``(indexes, position of the body)``. The count is bounded by MAX_INDEXES before any
    index is read, so a claimed 10^6-entry array costs nothing."""
    count, pos = _varint(data, pos, "message-index count")
    if count == 0:
        return (0,), pos
    if count < 0 or count > MAX_INDEXES:
        raise FramingError("bad message index", f"message-index array of {count} entries (at most {MAX_INDEXES})")
    out = []
    for i in range(count):
        n, pos = _varint(data, pos, f"message index {i}")
        if n < 0:
            raise FramingError("bad message index", f"message index {i} is negative ({n})")
        out.append(n)
    return tuple(out), pos


def encode_indexes(indexes: tuple[int, ...]) -> bytes:
    """The wire form of a message-index array (inverse of :func:`message_indexes`)."""
    def varint(v: int) -> bytes:
        v = (v << 1) ^ (v >> 63)
        out = bytearray()
        while v & ~0x7F:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    if tuple(indexes) == (0,):
        return b"\x00"
    return varint(len(indexes)) + b"".join(varint(i) for i in indexes)
