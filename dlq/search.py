"""Search across a whole DLQ and export the matches (pure: the query decoder, the match, the export formats).

A query is any of: key substring, header (``name`` or ``name=text``: the header's readable value contains
text), reason substring, exception (class or message) substring, payload substring (raw bytes). Empty query
matches everything. Exports keep every byte: key, payload and header values in base64, header order kept,
with the record's coordinates, timestamp and the decoded reason; JSON Lines and CSV read back to the same bytes.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from dlq import plan

MAX_NEEDLE = 1024
CSV_NULL = "-"
FIELDS = ("key", "header", "reason", "exception", "payload")
CSV_COLUMNS = ("coord", "partition", "offset", "timestamp_ms", "key_b64", "value_b64", "headers", "properties",
               "reason", "exception_class", "exception_message")


class QueryError(ValueError):
    """A search query field is malformed; the message names the field."""


@dataclass(frozen=True)
class Query:
    key: str | None = None
    header: str | None = None
    reason: str | None = None
    exception: str | None = None
    payload: str | None = None

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f) for f in FIELDS)

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in FIELDS if getattr(self, f)}


def parse_query(raw: Mapping[str, Any] | None) -> Query:
    """The query from operator input; QueryError naming the field for a non-text or over-long value."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise QueryError("query: expected a mapping of field -> text")
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise QueryError(f"query: unknown field(s) {sorted(map(str, unknown))}; known: {', '.join(FIELDS)}")
    out: dict[str, str | None] = {}
    for f in FIELDS:
        v = raw.get(f)
        if v is None or v == "":
            out[f] = None
            continue
        if not isinstance(v, str):
            raise QueryError(f"query.{f}: expected text, got {type(v).__name__}")
        if len(v) > MAX_NEEDLE:
            raise QueryError(f"query.{f}: at most {MAX_NEEDLE} characters")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise QueryError(f"query.{f}: not valid text (lone surrogate)") from None
        out[f] = v
    if out["header"] is not None and not out["header"].split("=", 1)[0]:
        raise QueryError("query.header: name the header (name or name=text)")
    return Query(**out)


def matches(q: Query, msg: plan.Message) -> bool:
    d = msg.decoded
    if q.key is not None and q.key not in (msg.key or b"").decode("utf-8", errors="replace"):
        return False
    if q.payload is not None and q.payload.encode("utf-8") not in (msg.value or b""):
        return False
    if q.reason is not None and q.reason.lower() not in (d.reason or "").lower():
        return False
    if q.exception is not None:
        text = f"{d.exception_class or ''}\n{d.exception_message or ''}".lower()
        if q.exception.lower() not in text:
            return False
    if q.header is not None:
        name, eq, want = q.header.partition("=")
        if name not in d.display:
            return False
        if eq and want not in d.display[name]:
            return False
    return True


def _b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(bytes(b)).decode("ascii")


def _unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s.encode("ascii"), validate=True)


def _header_pairs(headers: Any) -> list[list[Any]]:
    """Kafka headers as [name, base64 or null] in order; RabbitMQ headers as [name, JSON-safe value]."""
    if isinstance(headers, Mapping):
        return [[str(k), json.loads(json.dumps(v, default=str))] for k, v in headers.items()]
    return [[k, _b64(v)] for k, v in headers or []]


def export_record(msg: plan.Message) -> dict[str, Any]:
    d = msg.decoded
    props = {k: v for k, v in (msg.properties or {}).items() if v is not None}
    return {"coord": msg.coord, "partition": msg.partition, "offset": msg.offset, "timestamp_ms": msg.ts_ms,
            "key_b64": _b64(msg.key), "value_b64": _b64(msg.value), "headers": _header_pairs(msg.headers),
            "properties": json.loads(json.dumps(props, default=str)),
            "reason": d.reason, "exception_class": d.exception_class, "exception_message": d.exception_message}


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for r in records)


def to_csv(records: Iterable[Mapping[str, Any]]) -> bytes:
    """CSV with a header row; ``headers`` and ``properties`` are JSON text cells; a null key or payload is
    ``-`` (not a base64 character), so it stays apart from an empty one (an empty cell)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({**{c: r.get(c) for c in CSV_COLUMNS}, "headers": json.dumps(r["headers"], ensure_ascii=False),
                    **{c: CSV_NULL if r.get(c) is None else r[c] for c in ("key_b64", "value_b64")},
                    "properties": json.dumps(r.get("properties") or {}, ensure_ascii=False)})
    return buf.getvalue().encode("utf-8")


def read_export(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """An export read back: key, value and Kafka header values as bytes, ints as ints."""
    if fmt == "jsonl":
        # split on "\n" only: splitlines would also cut at U+0085 / U+2028, which JSON text may hold
        rows = [json.loads(line) for line in data.decode("utf-8").split("\n") if line]
    elif fmt == "csv":
        rows = []
        for r in csv.DictReader(io.StringIO(data.decode("utf-8"))):
            rows.append({**r, "headers": json.loads(r["headers"]), "properties": json.loads(r["properties"]),
                         **{c: (int(r[c]) if r[c] != "" else None) for c in ("partition", "offset", "timestamp_ms")},
                         **{c: (None if r[c] == CSV_NULL else r[c]) for c in ("key_b64", "value_b64")}})
    else:
        raise QueryError(f"format: 'jsonl' or 'csv', got {fmt!r}")
    out = []
    for r in rows:
        kafka = r.get("partition") is not None
        out.append({**r, "key": _unb64(r["key_b64"]), "value": _unb64(r["value_b64"]),
                    "headers": [(k, _unb64(v) if kafka else v) for k, v in r["headers"]]})
    return out
