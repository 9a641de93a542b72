"""Edit before replay: one picked message is published with a payload and headers the operator
edited in the confirmation dialog. Pure.

The edit travels in the replay request (``request["edit"]``: ``coord``, ``payload`` text, ``headers``
as name → text, starting from what browse displayed). The executors publish the edited copy in place
of the original; the original stays where it is until the copy is confirmed, exactly as for a plain
replay (Kafka: DLQ records are never deleted; RabbitMQ: the DLQ copy is acked only after the
publisher confirm of the edited copy). The audit gets both payload hashes and the diff.

Headers: a header whose displayed text the operator left unchanged keeps its original raw value
(RabbitMQ's structured ``x-death`` survives); a changed one is sent as the edited text; a removed
one is dropped; a new one is added. Eventdeck's own replay headers are set after the edit, as always.
"""
from __future__ import annotations

import difflib
import hashlib
from typing import Any, Mapping

from dlq.headers import EVENTDECK_HEADERS, NOT_REPUBLISHED_PROPERTIES, display, is_broker_routing_header

MAX_PAYLOAD_BYTES = 1 << 20
MAX_HEADERS = 100
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 16_384
MAX_DIFF_CHARS = 8_000


class EditError(ValueError):
    """An invalid edit; the message names the key."""


def validate(edit: Any, selection: Mapping[str, Any]) -> dict[str, Any]:
    """A normalised copy of ``request["edit"]``; EditError naming the bad key. Only one picked message."""
    if not isinstance(edit, Mapping):
        raise EditError("edit: must be a mapping with coord, payload and headers")
    coords = list(selection.get("coords") or ())
    if selection.get("mode") != "picked" or len(coords) != 1:
        raise EditError("edit: only one picked message can be edited (selection mode 'picked', one coord)")
    coord, payload, headers = edit.get("coord"), edit.get("payload"), edit.get("headers", {})
    if coord != coords[0]:
        raise EditError(f"edit.coord: must be the picked message {coords[0]!r}, got {coord!r}")
    if not isinstance(payload, str) or len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise EditError(f"edit.payload: must be text of at most {MAX_PAYLOAD_BYTES} bytes")
    if not isinstance(headers, Mapping) or len(headers) > MAX_HEADERS:
        raise EditError(f"edit.headers: must be a mapping of at most {MAX_HEADERS} names to text")
    for k, v in headers.items():
        if not isinstance(k, str) or not k or len(k) > MAX_HEADER_NAME:
            raise EditError(f"edit.headers: header names must be 1..{MAX_HEADER_NAME} characters, got {k!r}")
        if not isinstance(v, str) or len(v) > MAX_HEADER_VALUE:
            raise EditError(f"edit.headers.{k}: must be text of at most {MAX_HEADER_VALUE} characters")
        if k in EVENTDECK_HEADERS:
            raise EditError(f"edit.headers.{k}: Eventdeck sets its replay headers itself")
        if is_broker_routing_header(k) or k.lower() in NOT_REPUBLISHED_PROPERTIES:
            raise EditError(f"edit.headers.{k}: never republished (RabbitMQ routes CC/BCC copies to other queues, "
                            "checks user_id against the publisher); remove it from the edit")
    schema = edit.get("schema", False)
    if not isinstance(schema, bool):
        raise EditError("edit.schema: true (payload is the decoded JSON, re-encoded with the message's own "
                        "schema) or false")
    return {"coord": coord, "payload": payload, "headers": dict(headers), **({"schema": True} if schema else {})}


def sha256(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def payload_diff(original: bytes | None, edited: bytes) -> str:
    """Unified diff of the payloads as text (bounded)."""
    lines = difflib.unified_diff(_text(original).splitlines(), _text(edited).splitlines(), "original", "edited",
                                 lineterm="")
    out = "\n".join(lines)
    return out if len(out) <= MAX_DIFF_CHARS else out[:MAX_DIFF_CHARS] + "\n… (diff truncated)"


def apply(value: bytes | None, headers: Any, edit: Mapping[str, Any], *, encoded: bytes | None = None,
          before_text: str | None = None) -> tuple[bytes, Any, dict[str, Any]]:
    """``(edited payload, edited headers in the original's shape, audit detail)``.

    ``headers`` is a Kafka list of ``(name, bytes)`` or a RabbitMQ dict; the detail holds both payload
    hashes, the payload diff and the header changes. A schema'd edit passes the re-encoded bytes
    (``encoded``) and the decoded original (``before_text``): the hashes are of the bytes, the diff of
    the decoded JSON."""
    new_value = edit["payload"].encode("utf-8") if encoded is None else encoded
    shown = display(headers)
    wanted: Mapping[str, str] = edit["headers"]
    ours = set(EVENTDECK_HEADERS)
    changed = {k: v for k, v in wanted.items() if k in shown and shown[k] != v}
    added = {k: v for k, v in wanted.items() if k not in shown}
    removed = sorted(k for k in shown if k not in wanted and k not in ours)
    if isinstance(headers, Mapping) or headers is None:
        out: Any = {k: v for k, v in (headers or {}).items() if k not in removed}
        out.update(changed)
        out.update(added)
    else:
        out = [(k, changed[k].encode() if k in changed else v) for k, v in headers if k not in removed]
        out += [(k, v.encode()) for k, v in added.items()]
    detail = {"original_sha256": sha256(value), "edited_sha256": sha256(new_value),
              "payload_diff": payload_diff(value, new_value) if before_text is None else
              payload_diff(before_text.encode("utf-8"), edit["payload"].encode("utf-8")),
              "headers": {"changed": changed, "added": added, "removed": removed}}
    return new_value, out, detail
