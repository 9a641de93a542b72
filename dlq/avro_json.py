"""Avro's JSON encoding of a value fastavro decoded, and back. Pure.

fastavro's own ``json_writer``/``json_reader`` expand the schema through a parser that recurses without end
on mutually recursive schemas (a named type reused through another one) and costs ~150 µs a message; this
walks the value alongside the parsed schema instead, iteratively bounded by the value's own depth.

The encoding (Avro specification, "JSON Encoding"): a union value other than null is ``{"<branch>": value}``
(the branch's full name for named types, else its type name); bytes and fixed are strings whose code points
are the byte values (ISO-8859-1); logical types are shown in their underlying type (a timestamp-millis as its
long). Values are read with ``return_named_type=True`` so a union of named types says which branch it was.
"""
from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
MAX_DEPTH = 500


class AvroJsonError(ValueError):
    """A JSON document that does not fit the schema (the message names the path)."""


def _logical(schema: dict[str, Any], datum: Any) -> Any:
    """A logical-type value (datetime, Decimal, UUID ...) back to its underlying Avro value."""
    if not isinstance(datum, (datetime.datetime, datetime.date, datetime.time, decimal.Decimal, uuid.UUID)):
        return datum
    from fastavro._logical_writers_py import LOGICAL_WRITERS

    base = schema.get("type")
    fn = LOGICAL_WRITERS.get(f"{base}-{schema.get('logicalType')}")
    return fn(datum, schema) if fn else str(datum)


def _resolve(schema: Any, named: dict[str, Any]) -> Any:
    while isinstance(schema, str) and schema not in PRIMITIVES and schema in named:
        schema = named[schema]
    while isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)) and "logicalType" not in schema:
        schema = schema["type"]
    if isinstance(schema, dict) and schema.get("type") in PRIMITIVES and "logicalType" not in schema:
        return schema["type"]
    return schema


def _branch_name(branch: Any, named: dict[str, Any]) -> str:
    if isinstance(branch, str):
        return branch
    if isinstance(branch, dict):
        t = branch.get("type")
        if t in ("record", "error", "enum", "fixed"):
            return branch["name"]
        return t if isinstance(t, str) else "union"
    return "union"


_LOGICAL_PY = {"timestamp-millis": datetime.datetime, "timestamp-micros": datetime.datetime,
               "local-timestamp-millis": datetime.datetime, "local-timestamp-micros": datetime.datetime,
               "date": datetime.date, "time-millis": datetime.time, "time-micros": datetime.time,
               "decimal": decimal.Decimal, "uuid": uuid.UUID}


def _kind(branch: Any, named: dict[str, Any]) -> tuple[str, str | None]:
    """(base type, logical type) of a union branch."""
    b = _resolve(branch, named)
    if isinstance(b, str):
        return b, None
    if isinstance(b, dict):
        t = b.get("type")
        return (t if isinstance(t, str) else "?"), b.get("logicalType")
    return "union", None


def _fits(datum: Any, branch: Any, named: dict[str, Any]) -> bool:
    """Whether a value fastavro read (non-null, not a named-type tuple) came from this union branch: by its
    Python type, as fastavro's reader produces them."""
    base, logical = _kind(branch, named)
    if logical in _LOGICAL_PY:
        return isinstance(datum, _LOGICAL_PY[logical])
    if isinstance(datum, bool):
        return base == "boolean"
    if isinstance(datum, int):
        return base in ("int", "long")
    if isinstance(datum, float):
        return base in ("float", "double")
    if isinstance(datum, str):
        return base in ("string", "enum")
    if isinstance(datum, (bytes, bytearray)):
        return base in ("bytes", "fixed")
    if isinstance(datum, list):
        return base == "array"
    if isinstance(datum, dict):
        return base in ("map", "record", "error")
    return False


def to_json(schema: Any, datum: Any, named: dict[str, Any], depth: int = 0) -> Any:
    """Avro JSON encoding of ``datum`` (read with return_named_type=True) under the parsed ``schema``."""
    if depth > MAX_DEPTH:
        raise RecursionError("Avro value nests too deep")
    s = _resolve(schema, named)
    if isinstance(s, list):  # union
        if datum is None:
            return None
        if isinstance(datum, tuple) and len(datum) == 2 and isinstance(datum[0], str):
            name, value = datum
            branch = next((b for b in s if _branch_name(b, named) == name), name)
            return {name: to_json(branch, value, named, depth + 1)}
        for b in s:
            if b != "null" and _fits(datum, b, named):
                return {_branch_name(b, named): to_json(b, datum, named, depth + 1)}
        raise AvroJsonError(f"value {str(datum)[:60]!r} fits no branch of the union")
    if isinstance(s, str):
        if s in ("bytes",) and isinstance(datum, (bytes, bytearray)):
            return bytes(datum).decode("latin-1")
        return datum
    if not isinstance(s, dict):
        return datum
    t = s.get("type")
    if "logicalType" in s:
        datum = _logical(s, datum)
        return to_json({k: v for k, v in s.items() if k != "logicalType"}, datum, named, depth + 1)
    if t in ("record", "error"):
        return {f["name"]: to_json(f["type"], datum.get(f["name"]), named, depth + 1) for f in s["fields"]}
    if t == "array":
        return [to_json(s["items"], x, named, depth + 1) for x in datum]
    if t == "map":
        return {k: to_json(s["values"], v, named, depth + 1) for k, v in datum.items()}
    if t == "fixed":
        return bytes(datum).decode("latin-1")
    if t in ("enum",) or t in PRIMITIVES:
        return bytes(datum).decode("latin-1") if t == "bytes" and isinstance(datum, (bytes, bytearray)) else datum
    return datum


def from_json(schema: Any, doc: Any, named: dict[str, Any], path: str = "$", depth: int = 0) -> Any:
    """The value fastavro's writer takes for the Avro JSON ``doc`` (unions of named types as (name, value));
    AvroJsonError naming the path when the document's shape does not fit."""
    if depth > MAX_DEPTH:
        raise AvroJsonError(f"{path}: nests deeper than {MAX_DEPTH}")
    s = _resolve(schema, named)
    if isinstance(s, list):
        if doc is None:
            if "null" not in s:
                raise AvroJsonError(f"{path}: null is not a branch of this union")
            return None
        if not isinstance(doc, dict) or len(doc) != 1:
            names = ", ".join(_branch_name(b, named) for b in s if b != "null")
            raise AvroJsonError(f"{path}: a union value is written {{\"<branch>\": value}} (branches: {names})")
        name, value = next(iter(doc.items()))
        branch = next((b for b in s if _branch_name(b, named) == name), None)
        if branch is None:
            raise AvroJsonError(f"{path}: {name!r} is not a branch of this union")
        inner = from_json(branch, value, named, f"{path}.{name}", depth + 1)
        b = _resolve(branch, named)
        named_type = isinstance(b, dict) and b.get("type") in ("record", "error", "enum", "fixed")
        return (name, inner) if named_type else inner  # tuple notation: the writer takes exactly this branch
    if isinstance(s, str):
        if s == "bytes":
            if not isinstance(doc, str):
                raise AvroJsonError(f"{path}: bytes are written as a string of code points 0-255")
            try:
                return doc.encode("latin-1")
            except UnicodeEncodeError:
                raise AvroJsonError(f"{path}: bytes string has a code point above 255") from None
        return doc
    if not isinstance(s, dict):
        return doc
    t = s.get("type")
    if "logicalType" in s:
        return from_json({k: v for k, v in s.items() if k != "logicalType"}, doc, named, path, depth + 1)
    if t in ("record", "error"):
        if not isinstance(doc, dict):
            raise AvroJsonError(f"{path}: expected a JSON object for record {s.get('name')}")
        fields = {f["name"]: f for f in s["fields"]}
        unknown = [k for k in doc if k not in fields]
        if unknown:
            raise AvroJsonError(f"{path}: unknown field {unknown[0]!r} in record {s.get('name')}")
        out = {}
        for n, f in fields.items():
            if n in doc:
                out[n] = from_json(f["type"], doc[n], named, f"{path}.{n}", depth + 1)
            elif "default" not in f:
                raise AvroJsonError(f"{path}: missing field {n!r} of record {s.get('name')}")
        return out
    if t == "array":
        if not isinstance(doc, list):
            raise AvroJsonError(f"{path}: expected a JSON array")
        return [from_json(s["items"], x, named, f"{path}[{i}]", depth + 1) for i, x in enumerate(doc)]
    if t == "map":
        if not isinstance(doc, dict):
            raise AvroJsonError(f"{path}: expected a JSON object (map)")
        return {k: from_json(s["values"], v, named, f"{path}.{k}", depth + 1) for k, v in doc.items()}
    if t == "fixed":
        if not isinstance(doc, str):
            raise AvroJsonError(f"{path}: fixed is written as a string of code points 0-255")
        try:
            b = doc.encode("latin-1")
        except UnicodeEncodeError:
            raise AvroJsonError(f"{path}: fixed string has a code point above 255") from None
        if len(b) != s.get("size"):
            raise AvroJsonError(f"{path}: fixed {s.get('name')} needs {s.get('size')} bytes, got {len(b)}")
        return b
    return doc
