"""Pure rendering for display: a payload as text, pretty JSON or hex (truncated, with its size), and the
broker-neutral view of one DLQ message that browse returns.

Escaping for HTML/markdown is the view's job; this returns plain strings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dlq.headers import HeaderError
from dlq.plan import Message


@dataclass(frozen=True)
class Rendered:
    kind: str  # 'empty' | 'json' | 'text' | 'hex'
    text: str
    size: int  # bytes of the whole payload
    truncated: bool


def _hex(data: bytes) -> str:
    rows = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{i:08x}  {chunk.hex(' '):<47}  {printable}")
    return "\n".join(rows)


MAX_JSON_DEPTH = 100  # deeper payloads are shown as text: json and its pretty-printer recurse per level
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _too_deep(payload: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets nest deeper than ``limit`` (brackets inside strings count too: an over-estimate,
    which only means such a payload is shown as text)."""
    depth = 0
    for b in payload.translate(None, _NOT_BRACKETS):
        depth += 1 if b in b"[{" else -1
        if depth > limit:
            return True
    return False


def _is_text(s: str) -> bool:
    return all(c.isprintable() or c in "\n\r\t" for c in s)


def render(payload: bytes | None, limit: int) -> Rendered:
    """Render ``payload``: pretty JSON if it parses, text if it is printable UTF-8, else hex.

    At most ``limit`` bytes are rendered (JSON is only pretty-printed when the whole payload fits).
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    if not payload:
        return Rendered("empty", "", 0, False)
    size = len(payload)
    truncated = size > limit
    head = payload[:limit]
    if not truncated and not _too_deep(payload):
        try:
            doc = json.loads(payload)
            if isinstance(doc, (dict, list)):
                return Rendered("json", json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False), size, False)
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character is still text.
        if truncated and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            text = head[:exc.start].decode("utf-8")
        else:
            return Rendered("hex", _hex(head), size, truncated)
    if not _is_text(text):
        return Rendered("hex", _hex(head), size, truncated)
    return Rendered("text", text, size, truncated)


def size_label(size: int) -> str:
    """Human size: ``512 B``, ``4.0 KiB``, ``1.5 MiB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def message_view(msg: Message, err: HeaderError | None, target: str, preview: int) -> dict[str, Any]:
    """What the dashboard and the CLI show of one DLQ message."""
    r = render(msg.value, preview)
    d = msg.decoded
    try:  # the exact payload as text, for an edit before replay (None: too big or not UTF-8)
        raw = None if r.truncated else (msg.value or b"").decode("utf-8")
    except UnicodeDecodeError:
        raw = None
    return {"coord": msg.coord, "partition": msg.partition, "offset": msg.offset,
            "key": None if msg.key is None else msg.key.decode("utf-8", errors="replace"),
            "timestamp_ms": msg.ts_ms, "payload": r.text, "payload_kind": r.kind, "size": r.size,
            "truncated": r.truncated, "raw_text": raw, "headers": dict(d.display), "reason": d.reason,
            "exception_class": d.exception_class, "exception_message": d.exception_message,
            "stacktrace": d.stacktrace, "replay_count": d.replay_count, "target": target,
            "header_error": str(err) if err else None}
