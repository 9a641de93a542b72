"""What browse shows of a schema'd key/value, and the decoded-field filter. Pure.

``annotate`` adds to a browse row (``dlq.payload.message_view``):
``schema``: for the value, None (names no schema) or a dict with ``status`` ('decoded' | 'failed'), ``format``,
``label`` (subject, version, id), ``decoded`` (pretty JSON text) or ``reason`` + ``detail``;
``key_schema``: the same for the key. A failed decode never hides the raw payload, which stays in the row.
"""
from __future__ import annotations

import json
from typing import Any, Literal

FieldOp = Literal["equals", "contains"]
FIELD_OPS = ("equals", "contains")
MAX_PATH = 32


class FieldFilterError(ValueError):
    """A decoded-field filter that cannot be used (the message names the filter key)."""


def summary(d: dict[str, Any] | None, max_chars: int = 64_000) -> dict[str, Any] | None:
    if d is None:
        return None
    label = d.get("schema") or ""
    if d.get("subject"):
        label = f"{d['subject']} v{d.get('version') or '?'} ({label})"
    if d.get("message_type"):
        label += f" {d['message_type']}"
    out: dict[str, Any] = {"status": d["status"], "format": d.get("format"), "label": label,
                           "schema_id": d.get("schema_id"), "id_kind": d.get("id_kind"), "subject": d.get("subject"),
                           "version": d.get("version")}
    if d["status"] == "decoded":
        text = json.dumps(d["value"], indent=2, ensure_ascii=False, default=str)
        out["decoded"] = text if len(text) <= max_chars else text[:max_chars] + "\n… (truncated)"
        out["decoded_truncated"] = len(text) > max_chars
    else:
        out["reason"] = d.get("reason")
        out["detail"] = d.get("detail")
    return out


def short(s: dict[str, Any] | None) -> str:
    """One table cell: ``avro ✓`` / ``unknown id`` / ''."""
    if not s:
        return ""
    return f"{s['format']} decoded" if s["status"] == "decoded" else str(s.get("reason"))


def parse_path(path: str) -> tuple[str, ...]:
    parts = tuple(p for p in path.strip().split("."))
    if not path.strip() or len(parts) > MAX_PATH or any(not p or len(p) > 256 for p in parts):
        raise FieldFilterError(f"field: a dotted path of 1..{MAX_PATH} names (e.g. total.currency), got {path!r}")
    return parts


def _get(value: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    cur = value
    for p in path:
        if isinstance(cur, dict) and p not in cur and len(cur) == 1:  # an Avro union branch {"type": value}
            cur = next(iter(cur.values()))
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            return False, None
    if isinstance(cur, dict) and len(cur) == 1 and not isinstance(next(iter(cur.values())), (dict, list)):
        cur = next(iter(cur.values()))  # unwrap a scalar Avro union branch
    return True, cur


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def field_matches(decoded: dict[str, Any] | None, path: tuple[str, ...], op: str, wanted: str) -> bool:
    """Whether a decode result's value has ``path`` equal to / containing ``wanted`` (compared as text;
    numbers as JSON, so ``4`` equals 4 and ``4.0`` does not). Undecoded messages never match."""
    if op not in FIELD_OPS:
        raise FieldFilterError(f"field_op: one of {', '.join(FIELD_OPS)}, got {op!r}")
    if not decoded or decoded.get("status") != "decoded":
        return False
    found, v = _get(decoded["value"], path)
    if not found:
        return False
    text = _text(v)
    return text == wanted if op == "equals" else wanted in text


def annotate(view: dict[str, Any], value_result: dict[str, Any] | None, key_result: dict[str, Any] | None
             ) -> dict[str, Any]:
    view["schema"] = summary(value_result)
    view["key_schema"] = summary(key_result)
    return view


def cli_columns(row: dict[str, Any]) -> dict[str, Any]:
    """A browse row for ``python -m dlq show``: ``schema`` (label, or '' when none) and ``decoded`` (compact
    JSON, or the detail, which starts with the reason) added as text; the raw ``payload`` stays."""
    s = row.get("schema")
    if not s:
        return {**row, "schema": "", "decoded": ""}
    if s["status"] == "decoded":
        text = json.dumps(json.loads(s["decoded"]), ensure_ascii=False, separators=(",", ":")) \
            if not s.get("decoded_truncated") else s["decoded"]
        return {**row, "schema": f"{s['format']} {s['label']}", "decoded": text}
    return {**row, "schema": s.get("label") or "", "decoded": s.get("detail") or str(s.get("reason"))}
