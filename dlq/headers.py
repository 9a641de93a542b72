"""Pure decoding of the headers that dead-letter producers attach to a message.

Understood: Spring Kafka ``kafka_dlt-*`` (partition as a 4-byte and offset as an 8-byte big-endian
integer), Kafka Connect ``__connect.errors.*`` (strings), RabbitMQ ``x-death`` /
``x-first-death-*`` / ``x-last-death-*``, and Eventdeck's own ``eventdeck-replay-*``.
Kafka headers arrive as ``[(name, bytes | None)]``; RabbitMQ headers as the dict pika gives.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

SPRING = "kafka_dlt-"
CONNECT = "__connect.errors."
REPLAY_ID = "eventdeck-replay-id"
REPLAY_COUNT = "eventdeck-replay-count"
REPLAY_TARGET = "eventdeck-replay-target"  # JSON of the target the message was last replayed to
EVENTDECK_HEADERS = (REPLAY_ID, REPLAY_COUNT, REPLAY_TARGET)
# Headers RabbitMQ acts on when a message is published: sender-selected distribution routes a copy to every
# queue named in CC and BCC. A replay never republishes them as read (they would bypass the target policy),
# nor the ``user_id`` property (the broker checks it against the publishing user). Matched without case.
BROKER_ROUTING_HEADERS = ("CC", "BCC")
NOT_REPUBLISHED_PROPERTIES = ("user_id",)


def is_broker_routing_header(name: object) -> bool:
    return isinstance(name, str) and name.upper() in BROKER_ROUTING_HEADERS


MAX_PARTITION = 2 ** 31 - 1
MAX_OFFSET = 2 ** 63 - 1
MAX_COUNT = 2 ** 53
MAX_NAME = 256  # topic, queue, exchange, routing key
MAX_DEATHS = 64  # x-death entries read (RabbitMQ keeps one per queue and reason)
MAX_TEXT = 4096  # a displayed header value or exception text
MAX_REPLAY_COUNT = 1_000_000
_DECIMAL = re.compile(r"-?[0-9]{1,20}")
# The latest time a timestamp may name (year 9999): later values are not dates but garbage.
MAX_TIME_MS = 253402300799999


class HeaderError(ValueError):
    """A header is present but malformed; the message names the header."""


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


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
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except (ValueError, TypeError, RecursionError):  # an int too long to print, a hostile object
        return f"<{type(value).__name__}>"


def _bounded(name: str, n: int, lo: int, hi: int) -> int:
    if not lo <= n <= hi:
        raise HeaderError(f"header {name}: {n if abs(n) < 10 ** 30 else '(huge)'} is out of range [{lo}, {hi}]")
    return n


def _decimal(name: str, txt: str, lo: int, hi: int) -> int:
    """A plain ASCII decimal integer in [lo, hi]; '--5', '²', '0.5', 'abc' are refused."""
    txt = txt.strip()
    if not _DECIMAL.fullmatch(txt):
        raise HeaderError(f"header {name}: expected a decimal integer, got {_clip(txt, 80)!r}")
    return _bounded(name, int(txt), lo, hi)


def _int_be(name: str, raw: Any, width: int, hi: int) -> int:
    """Spring writes partition/offset as big-endian ints; tolerate a decimal string too."""
    if isinstance(raw, bool):
        raise HeaderError(f"header {name}: expected an integer, got {raw!r}")
    if isinstance(raw, int):
        return _bounded(name, raw, 0, hi)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        if len(raw) == width:
            return _bounded(name, int.from_bytes(raw, "big", signed=True), 0, hi)
        txt = raw[:40].decode("ascii", errors="replace")
    else:
        txt = _text(raw)[:40]
    try:
        return _decimal(name, txt, 0, hi)
    except HeaderError:
        raise HeaderError(f"header {name}: expected a {width}-byte big-endian integer, got {_clip(repr(raw), 80)}") \
            from None


def _int_text(name: str, raw: Any, lo: int = 0, hi: int = MAX_OFFSET) -> int:
    if isinstance(raw, bool):
        raise HeaderError(f"header {name}: expected a decimal integer, got {raw!r}")
    if isinstance(raw, int):
        return _bounded(name, raw, lo, hi)
    return _decimal(name, _text(raw)[:40], lo, hi)


def _display_value(name: str, raw: Any) -> str:
    if name in (SPRING + "original-partition",) and isinstance(raw, (bytes, bytearray)) and len(raw) == 4:
        return str(int.from_bytes(raw, "big", signed=True))
    if name in (SPRING + "original-offset", SPRING + "original-timestamp") \
            and isinstance(raw, (bytes, bytearray)) and len(raw) == 8:
        return str(int.from_bytes(raw, "big", signed=True))
    if isinstance(raw, (list, tuple, Mapping)):
        try:
            return _clip(json.dumps(_plain(raw), sort_keys=True, default=_text))
        except (ValueError, TypeError, RecursionError):  # a table too deep or odd to print as JSON
            return _clip(_text(raw))
    if isinstance(raw, (bytes, bytearray)):
        try:
            return _clip(bytes(raw).decode("utf-8"))
        except UnicodeDecodeError:
            return _clip("0x" + bytes(raw[:MAX_TEXT // 2]).hex())
    return _clip(_text(raw))


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of a pika header value (tables, arrays, timestamps, bytes); deep nesting is cut."""
    if depth > 32:
        return "…"
    if isinstance(value, Mapping):
        return {_text(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, datetime)):
        return _text(value)
    return value


def _time_ms(value: Any) -> int | None:
    """Epoch ms of an x-death time (a datetime, or seconds); None when absent or not a usable time."""
    try:
        if isinstance(value, datetime):
            ms = value.timestamp() * 1000
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            ms = float(value) * 1000
        else:
            return None
    except (OverflowError, ValueError, OSError):
        return None
    if not math.isfinite(ms) or not 0 <= ms <= MAX_TIME_MS:
        return None
    return int(ms)


def _routing_keys(i: int, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes, bytearray)):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise HeaderError(f"header x-death[{i}].routing-keys: expected an array of strings, got {type(raw).__name__}")
    out = []
    for k in raw[:MAX_DEATHS]:
        if not isinstance(k, (str, bytes, bytearray)):
            raise HeaderError(f"header x-death[{i}].routing-keys: expected strings, got {type(k).__name__}")
        out.append(_name(f"x-death[{i}].routing-keys", k))
    return tuple(out)


def _name(header: str, raw: Any) -> str:
    text = _text(raw)
    if len(text) > MAX_NAME:
        raise HeaderError(f"header {header}: longer than {MAX_NAME} characters")
    return text


def decode_deaths(raw: Any) -> tuple[Death, ...]:
    """The ``x-death`` array (newest first, as RabbitMQ keeps it); at most MAX_DEATHS entries are read."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise HeaderError(f"header x-death: expected an array of tables, got {type(raw).__name__}")
    if len(raw) > MAX_DEATHS:
        raise HeaderError(f"header x-death: {len(raw)} entries, more than {MAX_DEATHS}")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise HeaderError(f"header x-death[{i}]: expected a table, got {type(entry).__name__}")
        count = entry.get("count")
        out.append(Death(queue=_name(f"x-death[{i}].queue", entry.get("queue")),
                         reason=_clip(_text(entry.get("reason")), MAX_NAME),
                         count=1 if count is None else _int_text(f"x-death[{i}].count", count, 0, MAX_COUNT),
                         exchange=_name(f"x-death[{i}].exchange", entry.get("exchange")),
                         routing_keys=_routing_keys(i, entry.get("routing-keys")),
                         time_ms=_time_ms(entry.get("time"))))
    return tuple(out)


def _rabbit_origin(h: Mapping[str, Any], deaths: tuple[Death, ...]) -> Origin | None:
    first_q = _name("x-first-death-queue", h.get("x-first-death-queue")) or None
    chosen = None
    if first_q:
        chosen = next((d for d in deaths if d.queue == first_q), None)
    if chosen is None and deaths:
        chosen = deaths[-1]  # oldest entry
    if chosen is None:
        if not first_q:
            return None
        return Origin(source="x-death", queue=first_q,
                      exchange=_name("x-first-death-exchange", h.get("x-first-death-exchange")))
    return Origin(source="x-death", queue=chosen.queue, exchange=chosen.exchange,
                  routing_keys=chosen.routing_keys)


def _opt_name(t: Mapping[str, Any], key: str) -> str | None:
    v = t.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > MAX_NAME:
        raise HeaderError(f"header {REPLAY_TARGET}: {key} must be a name of at most {MAX_NAME} characters")
    return v


def _eventdeck_origin(raw: Any) -> Origin | None:
    if raw is None:
        return None
    text = _text(raw)
    try:
        t = json.loads(text[:MAX_TEXT])
    except (ValueError, RecursionError):
        raise HeaderError(f"header {REPLAY_TARGET}: not JSON: {text[:80]!r}") from None
    if not isinstance(t, dict):
        raise HeaderError(f"header {REPLAY_TARGET}: expected a JSON object")
    part = t.get("partition")
    if part is not None:
        if isinstance(part, bool) or not isinstance(part, int):
            raise HeaderError(f"header {REPLAY_TARGET}: partition must be an integer, got {_clip(repr(part), 40)}")
        _bounded(REPLAY_TARGET + ".partition", part, 0, MAX_PARTITION)
    rk = _opt_name(t, "routing_key")
    return Origin(source="eventdeck", topic=_opt_name(t, "topic"), partition=part, queue=_opt_name(t, "queue"),
                  exchange=_opt_name(t, "exchange"), routing_keys=(rk,) if rk else ())


def _pairs(headers: Any) -> list[tuple[Any, Any]]:
    """(name, value) pairs of a Kafka header list or a RabbitMQ table; HeaderError for anything else."""
    if headers is None:
        return []
    # A Kafka list first: isinstance against typing's Mapping takes the slow generic path (it was the
    # largest single cost of a replay's header decode, bench/replay_bench.py --profile-kafka).
    if not isinstance(headers, (list, tuple)):
        if isinstance(headers, Mapping):
            return list(headers.items())
        raise HeaderError(f"headers: expected a list of (name, value) pairs or a table, got {type(headers).__name__}")
    if all(type(pair) is tuple and len(pair) == 2 for pair in headers):  # kafka-python's shape: as they are
        return list(headers)
    out = []
    for i, pair in enumerate(headers):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise HeaderError(f"headers[{i}]: expected a (name, value) pair")
        out.append((pair[0], pair[1]))
    return out


def display(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> dict[str, str]:
    """Every header as readable text (binary Spring ints as numbers), clipped; never raises."""
    try:
        pairs = _pairs(headers)
    except HeaderError as exc:
        return {"(headers)": _clip(str(exc))}
    return {_clip(_text(k), MAX_NAME): _display_value(k, v) for k, v in pairs}


def decode(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None, *, shown: bool = True) -> Decoded:
    """Decode one message's headers (Kafka list of pairs or RabbitMQ dict). Raises HeaderError only.
    ``shown=False`` leaves ``display`` empty (a replay never shows it, and it is a fifth of its decode)."""
    pairs = _pairs(headers)
    h: dict[Any, Any] = {}
    for k, v in pairs:  # the last value of a repeated Kafka header wins, as Spring reads it
        try:
            h[k] = v
        except TypeError:  # an unhashable name cannot be one we read
            continue
    origins: list[Origin] = []
    own = _eventdeck_origin(h.get(REPLAY_TARGET))
    if own:
        origins.append(own)
    if SPRING + "original-topic" in h:
        part = h.get(SPRING + "original-partition")
        off = h.get(SPRING + "original-offset")
        origins.append(Origin(
            source="spring", topic=_name(SPRING + "original-topic", h[SPRING + "original-topic"]),
            partition=None if part is None else _int_be(SPRING + "original-partition", part, 4, MAX_PARTITION),
            offset=None if off is None else _int_be(SPRING + "original-offset", off, 8, MAX_OFFSET)))
    if CONNECT + "topic" in h:
        part = h.get(CONNECT + "partition")
        off = h.get(CONNECT + "offset")
        origins.append(Origin(
            source="connect", topic=_name(CONNECT + "topic", h[CONNECT + "topic"]),
            partition=None if part is None else _int_text(CONNECT + "partition", part, 0, MAX_PARTITION),
            offset=None if off is None else _int_text(CONNECT + "offset", off, 0, MAX_OFFSET)))
    deaths = decode_deaths(h.get("x-death"))
    rabbit = _rabbit_origin(h, deaths)
    if rabbit:
        origins.append(rabbit)
    exc_class = _clip(_text(h.get(SPRING + "exception-fqcn") or h.get(CONNECT + "exception.class.name")
                            or h.get(SPRING + "exception-cause-fqcn")), MAX_NAME)
    # Spring AMQP's RepublishMessageRecoverer: x-exception-message / x-exception-stacktrace
    exc_msg = _clip(_text(h.get(SPRING + "exception-message") or h.get(CONNECT + "exception.message")
                          or h.get("x-exception-message")))
    stack = _clip(_text(h.get(SPRING + "exception-stacktrace") or h.get(CONNECT + "exception.stacktrace")
                        or h.get("x-exception-stacktrace")))
    death = None
    if deaths or _text(h.get("x-first-death-reason")):
        first = _clip(_text(h.get("x-first-death-reason")), MAX_NAME) or deaths[-1].reason
        death = first + (f" (from {rabbit.queue})" if rabbit and rabbit.queue else "")
    exc = ": ".join(x for x in (exc_class, exc_msg) if x) if exc_class or exc_msg else None
    reason = " — ".join(x for x in (death, exc) if x) or None  # RabbitMQ: the x-death reason and the exception
    count_raw = h.get(REPLAY_COUNT)
    count = 0 if count_raw is None else _int_text(REPLAY_COUNT, count_raw, 0, MAX_REPLAY_COUNT)
    rid = _clip(_text(h.get(REPLAY_ID)), MAX_NAME)
    return Decoded(origins=tuple(origins), reason=reason,
                   exception_class=exc_class or None, exception_message=exc_msg or None,
                   stacktrace=stack or None, deaths=deaths,
                   replay_id=rid or None, replay_count=count, display=display(pairs) if shown else {})


def plain_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-able copy of RabbitMQ headers (for digests and display)."""
    return {_text(k): _plain(v) for k, v in (headers or {}).items()}


def decode_lenient(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None, *, shown: bool = True
                   ) -> tuple[Decoded, HeaderError | None]:
    """Like :func:`decode`, but a malformed header set still yields its display and the error apart,
    so browsing shows the message and replay can refuse it naming the header."""
    try:
        return decode(headers, shown=shown), None
    except HeaderError as exc:
        return Decoded(display=display(headers)), exc
