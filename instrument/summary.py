"""The telemetry summary one consumer instance publishes per interval, its wire form and merging.

Wire form: UTF-8 JSON ``{"v": 1, "consumer", "instance", "broker", "cluster", "start_ms", "end_ms",
"count", "errors": {exception: n}, "dropped", "sketch": {...}}``. ``count`` is every handled call
(successes and failures); ``errors`` counts failures by exception class; ``dropped`` is the
instance's cumulative number of summaries its publisher had to drop; ``sketch`` holds the
processing seconds of every call (see :mod:`instrument.sketch`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from ddsketch.ddsketch import BaseDDSketch

from instrument.sketch import SketchError, decode_sketch, encode_sketch, new_sketch

VERSION = 1
BROKERS = ("kafka", "rabbitmq")


MAX_BYTES = 1 << 20  # a summary is a few KiB; anything this large is not one
MAX_NAME = 256  # consumer, instance, cluster and exception names
MAX_ERROR_NAMES = 64  # distinct exception classes in one summary; beyond, they count as OTHER
MAX_INT = 2 ** 53
OTHER = "other"


class SummaryError(ValueError):
    """A summary could not be decoded; the message names the field, ``reason`` is a short slug."""

    def __init__(self, message: str, reason: str = "bad_field") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Summary:
    consumer: str
    instance: str
    broker: str
    cluster: str
    start_ms: int
    end_ms: int
    sketch: BaseDDSketch
    errors: dict[str, int] = field(default_factory=dict)
    dropped: int = 0

    @property
    def count(self) -> int:
        return int(self.sketch.count)


def encode_summary(s: Summary) -> bytes:
    doc = {"v": VERSION, "consumer": s.consumer, "instance": s.instance, "broker": s.broker,
           "cluster": s.cluster, "start_ms": s.start_ms, "end_ms": s.end_ms, "count": s.count,
           "errors": s.errors, "dropped": s.dropped, "sketch": encode_sketch(s.sketch)}
    return json.dumps(doc, separators=(",", ":")).encode()


def _field(doc: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in doc:
        raise SummaryError(f"summary field {key!r} is missing")
    v = doc[key]
    if isinstance(v, bool) or not isinstance(v, kind):
        raise SummaryError(f"summary field {key!r} has the wrong type ({type(v).__name__})")
    return v


def _name(doc: dict[str, Any], key: str) -> str:
    v = _field(doc, key, str)
    if len(v) > MAX_NAME:
        raise SummaryError(f"summary field {key!r} is longer than {MAX_NAME} characters", "too_long")
    return v


def _int(doc: dict[str, Any], key: str) -> int:
    v = _field(doc, key, int)
    if not 0 <= v <= MAX_INT:
        raise SummaryError(f"summary field {key!r} must be an integer in [0, 2**53]", "out_of_range")
    return v


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_summary(payload: bytes) -> Summary:
    """Parse one summary; :class:`SummaryError` (only) says what is wrong with it, for any input.

    Bounded: at most 1 MiB, finite numbers, integers in [0, 2**53], names of at most 256 characters,
    errors no more than the count; at most 64 exception names (the rest counted as ``other``).
    """
    if not isinstance(payload, (bytes, bytearray, memoryview, str)):
        raise SummaryError(f"summary must be bytes, got {type(payload).__name__}", "not_json")
    if len(payload) > MAX_BYTES:
        raise SummaryError(f"summary is larger than {MAX_BYTES} bytes", "too_large")
    try:
        doc = json.loads(bytes(payload) if isinstance(payload, memoryview) else payload,
                         parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SummaryError(f"summary is not JSON: {str(exc)[:200]}", "not_json") from None
    if not isinstance(doc, dict):
        raise SummaryError("summary must be a JSON object", "not_json")
    if doc.get("v") != VERSION or isinstance(doc.get("v"), bool):
        raise SummaryError(f"summary field 'v' must be {VERSION}, got {str(doc.get('v'))[:40]!r}", "bad_version")
    broker = _field(doc, "broker", str)
    if broker not in BROKERS:
        raise SummaryError(f"summary field 'broker' must be one of {BROKERS}, got {broker[:40]!r}")
    consumer = _name(doc, "consumer")
    if not consumer:
        raise SummaryError("summary field 'consumer' is empty")
    instance, cluster = _name(doc, "instance"), _name(doc, "cluster")
    raw_errors = _field(doc, "errors", dict)
    errors: dict[str, int] = {}
    for name, n in raw_errors.items():
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_INT:
            raise SummaryError(f"summary field 'errors.{name[:MAX_NAME]}' must be an integer in [0, 2**53]",
                               "out_of_range")
        if len(name) > MAX_NAME:
            raise SummaryError(f"summary field 'errors' has a name longer than {MAX_NAME} characters", "too_long")
        key = name if len(errors) < MAX_ERROR_NAMES or name in errors else OTHER
        errors[key] = errors.get(key, 0) + n
    start, end = _int(doc, "start_ms"), _int(doc, "end_ms")
    if end < start:
        raise SummaryError(f"summary field 'end_ms' ({end}) is before 'start_ms' ({start})", "inconsistent")
    try:
        sketch = decode_sketch(_field(doc, "sketch", dict))
    except SketchError as exc:
        raise SummaryError(f"summary field 'sketch': {exc}", "bad_sketch") from None
    count = _int(doc, "count")
    if count != int(sketch.count):
        raise SummaryError(f"summary field 'count' ({count}) disagrees with the sketch ({int(sketch.count)})",
                           "inconsistent")
    if sum(errors.values()) > count:
        raise SummaryError(f"summary field 'errors' adds up to more than 'count' ({count})", "inconsistent")
    dropped = _int(doc, "dropped")
    return Summary(consumer=consumer, instance=instance, broker=broker, cluster=cluster, start_ms=start,
                   end_ms=end, sketch=sketch, errors=errors, dropped=dropped)


@dataclass
class Merged:
    """All summaries of one consumer seen in one collection interval, merged."""

    count: int
    errors: dict[str, int]
    start_ms: int
    end_ms: int
    sketch: BaseDDSketch
    dropped_by_instance: dict[str, int]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_ratio(self) -> float | None:
        return self.error_count / self.count if self.count else None


def merge_summaries(summaries: Iterable[Summary]) -> Merged:
    """Pool summaries (of one consumer, any instances); the window spans all of them.

    All sketches must share one relative accuracy, else :class:`SummaryError` names the instance.
    """
    items = list(summaries)
    if not items:
        raise ValueError("merge_summaries needs at least one summary")
    ra = items[0].sketch._relative_accuracy
    sketch = new_sketch(ra)
    errors: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for s in items:
        if s.sketch._relative_accuracy != ra:
            raise SummaryError(f"instance {s.instance!r} of {s.consumer!r} uses relative accuracy "
                               f"{s.sketch._relative_accuracy}, others {ra}")
        sketch.merge(s.sketch)
        for name, n in s.errors.items():
            errors[name] = errors.get(name, 0) + n
        dropped[s.instance] = max(dropped.get(s.instance, 0), s.dropped)
    return Merged(count=int(sketch.count), errors=errors,
                  start_ms=min(s.start_ms for s in items), end_ms=max(s.end_ms for s in items),
                  sketch=sketch, dropped_by_instance=dropped)
