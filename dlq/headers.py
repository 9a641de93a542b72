"""Pure decoding of the headers that dead-letter producers attach to a message.

Understood: Spring Kafka ``kafka_dlt-*`` (partition as a 4-byte and offset as an 8-byte big-endian
integer), Kafka Connect ``__connect.errors.*`` (strings), RabbitMQ ``x-death`` /
``x-first-death-*`` / ``x-last-death-*``, and Eventdeck's own ``eventdeck-replay-*``.
Kafka headers arrive as ``[(name, bytes | None)]``; RabbitMQ headers as the dict pika gives.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

SPRING = "kafka_dlt-"
CONNECT = "__connect.errors."
REPLAY_ID = "eventdeck-replay-id"
REPLAY_COUNT = "eventdeck-replay-count"
REPLAY_TARGET = "eventdeck-replay-target"  # JSON of the target the message was last replayed to
EVENTDECK_HEADERS = (REPLAY_ID, REPLAY_COUNT, REPLAY_TARGET)


class HeaderError(ValueError):
    """A header is present but malformed; the message names the header."""


@dataclass(frozen=True)
class Death:
    """One ``x-death`` entry: a queue the message died in, why and how often."""

    queue: str
    reason: str
    count: int
    exchange: str
    routing_keys: tuple[str, ...]
    time_ms: int | None


@dataclass(frozen=True)
class Origin:
    """Where a header set says the message came from (a topic/partition/offset or a queue)."""

    source: str  # 'eventdeck' | 'spring' | 'connect' | 'x-death'
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    queue: str | None = None
    exchange: str | None = None
    routing_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decoded:
    """Everything an operator needs from the headers of one DLQ message."""

    origins: tuple[Origin, ...] = ()  # in resolution order: eventdeck, spring, connect, x-death
    reason: str | None = None
    exception_class: str | None = None
    exception_message: str | None = None
    stacktrace: str | None = None
    deaths: tuple[Death, ...] = ()
    replay_id: str | None = None
    replay_count: int = 0
    display: dict[str, str] = field(default_factory=dict)  # every header as readable text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _int_be(name: str, raw: Any, width: int) -> int:
    """Spring writes partition/offset as big-endian ints; tolerate a decimal string too."""
    if isinstance(raw, int):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) == width:
            return int.from_bytes(raw, "big", signed=True)
        txt = bytes(raw).decode("ascii", errors="replace").strip()
    else:
        txt = _text(raw).strip()
    if txt.lstrip("-").isdigit():
        return int(txt)
    raise HeaderError(f"header {name}: expected a {width}-byte big-endian integer, got {raw!r}")


def _int_text(name: str, raw: Any) -> int:
    txt = _text(raw).strip()
    if not txt.lstrip("-").isdigit():
        raise HeaderError(f"header {name}: expected a decimal integer, got {txt!r}")
    return int(txt)


def _display_value(name: str, raw: Any) -> str:
    if name in (SPRING + "original-partition",) and isinstance(raw, (bytes, bytearray)) and len(raw) == 4:
        return str(int.from_bytes(raw, "big", signed=True))
    if name in (SPRING + "original-offset", SPRING + "original-timestamp") \
            and isinstance(raw, (bytes, bytearray)) and len(raw) == 8:
        return str(int.from_bytes(raw, "big", signed=True))
    if isinstance(raw, list):
        return json.dumps([_plain(v) for v in raw], sort_keys=True)
    if isinstance(raw, (bytes, bytearray)):
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + bytes(raw).hex()
    return _text(raw)


def _plain(value: Any) -> Any:
    """A JSON-able copy of a pika header value (tables, arrays, timestamps, bytes)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, datetime)):
        return _text(value)
    return value


def _time_ms(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, (int, float)):
        return int(value * 1000)
    return None


def decode_deaths(raw: Any) -> tuple[Death, ...]:
    """The ``x-death`` array (newest first, as RabbitMQ keeps it)."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise HeaderError(f"header x-death: expected an array of tables, got {type(raw).__name__}")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise HeaderError(f"header x-death[{i}]: expected a table, got {type(entry).__name__}")
        keys = entry.get("routing-keys") or []
        out.append(Death(queue=_text(entry.get("queue")), reason=_text(entry.get("reason")),
                         count=int(entry.get("count") or 1), exchange=_text(entry.get("exchange")),
                         routing_keys=tuple(_text(k) for k in keys), time_ms=_time_ms(entry.get("time"))))
    return tuple(out)


def _rabbit_origin(h: Mapping[str, Any], deaths: tuple[Death, ...]) -> Origin | None:
    first_q = _text(h.get("x-first-death-queue")) or None
    chosen = None
    if first_q:
        chosen = next((d for d in deaths if d.queue == first_q), None)
    if chosen is None and deaths:
        chosen = deaths[-1]  # oldest entry
    if chosen is None:
        if not first_q:
            return None
        return Origin(source="x-death", queue=first_q, exchange=_text(h.get("x-first-death-exchange")))
    return Origin(source="x-death", queue=chosen.queue, exchange=chosen.exchange,
                  routing_keys=chosen.routing_keys)


def _eventdeck_origin(raw: Any) -> Origin | None:
    if raw is None:
        return None
    try:
        t = json.loads(_text(raw))
    except json.JSONDecodeError:
        raise HeaderError(f"header {REPLAY_TARGET}: not JSON: {_text(raw)[:80]!r}") from None
    if not isinstance(t, dict):
        raise HeaderError(f"header {REPLAY_TARGET}: expected a JSON object")
    rk = t.get("routing_key")
    return Origin(source="eventdeck", topic=t.get("topic"), partition=t.get("partition"),
                  queue=t.get("queue"), exchange=t.get("exchange"), routing_keys=(rk,) if rk else ())


def display(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> dict[str, str]:
    """Every header as readable text (binary Spring ints as numbers); never raises."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    return {k: _display_value(k, v) for k, v in pairs}


def decode(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> Decoded:
    """Decode one message's headers (Kafka list of pairs or RabbitMQ dict). Raises HeaderError."""
    if headers is None:
        pairs: list[tuple[str, Any]] = []
    elif isinstance(headers, Mapping):
        pairs = list(headers.items())
    else:
        pairs = list(headers)
    h: dict[str, Any] = {}
    for k, v in pairs:  # the last value of a repeated Kafka header wins, as Spring reads it
        h[k] = v
    origins: list[Origin] = []
    own = _eventdeck_origin(h.get(REPLAY_TARGET))
    if own:
        origins.append(own)
    if SPRING + "original-topic" in h:
        part = h.get(SPRING + "original-partition")
        off = h.get(SPRING + "original-offset")
        origins.append(Origin(
            source="spring", topic=_text(h[SPRING + "original-topic"]),
            partition=None if part is None else _int_be(SPRING + "original-partition", part, 4),
            offset=None if off is None else _int_be(SPRING + "original-offset", off, 8)))
    if CONNECT + "topic" in h:
        part = h.get(CONNECT + "partition")
        off = h.get(CONNECT + "offset")
        origins.append(Origin(
            source="connect", topic=_text(h[CONNECT + "topic"]),
            partition=None if part is None else _int_text(CONNECT + "partition", part),
            offset=None if off is None else _int_text(CONNECT + "offset", off)))
    deaths = decode_deaths(h.get("x-death"))
    rabbit = _rabbit_origin(h, deaths)
    if rabbit:
        origins.append(rabbit)
    exc_class = (h.get(SPRING + "exception-fqcn") or h.get(CONNECT + "exception.class.name")
                 or h.get(SPRING + "exception-cause-fqcn"))
    exc_msg = h.get(SPRING + "exception-message") or h.get(CONNECT + "exception.message")
    stack = h.get(SPRING + "exception-stacktrace") or h.get(CONNECT + "exception.stacktrace")
    reason = None
    if exc_class or exc_msg:
        reason = ": ".join(x for x in (_text(exc_class), _text(exc_msg)) if x)
    elif deaths or _text(h.get("x-first-death-reason")):
        first = _text(h.get("x-first-death-reason")) or deaths[-1].reason
        reason = first + (f" (from {rabbit.queue})" if rabbit and rabbit.queue else "")
    count_raw = h.get(REPLAY_COUNT)
    count = 0 if count_raw is None else _int_text(REPLAY_COUNT, count_raw)
    rid = h.get(REPLAY_ID)
    return Decoded(origins=tuple(origins), reason=reason,
                   exception_class=_text(exc_class) or None, exception_message=_text(exc_msg) or None,
                   stacktrace=_text(stack) or None, deaths=deaths,
                   replay_id=_text(rid) or None, replay_count=count, display=display(pairs))


def plain_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-able copy of RabbitMQ headers (for digests and display)."""
    return {str(k): _plain(v) for k, v in (headers or {}).items()}


def decode_lenient(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> tuple[Decoded, HeaderError | None]:
    """Like :func:`decode`, but a malformed header set still yields its display and the error apart,
    so browsing shows the message and replay can refuse it naming the header."""
    try:
        return decode(headers), None
    except HeaderError as exc:
        return Decoded(display=display(headers)), exc
