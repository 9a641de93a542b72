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


class SummaryError(ValueError):
    """A summary could not be decoded; the message names the field."""


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


def decode_summary(payload: bytes) -> Summary:
    """Parse one summary; :class:`SummaryError` says what is wrong with it."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SummaryError(f"summary is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SummaryError("summary must be a JSON object")
    if doc.get("v") != VERSION:
        raise SummaryError(f"summary field 'v' must be {VERSION}, got {doc.get('v')!r}")
    broker = _field(doc, "broker", str)
    if broker not in BROKERS:
        raise SummaryError(f"summary field 'broker' must be one of {BROKERS}, got {broker!r}")
    consumer = _field(doc, "consumer", str)
    if not consumer:
        raise SummaryError("summary field 'consumer' is empty")
    errors = _field(doc, "errors", dict)
    for name, n in errors.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SummaryError(f"summary field 'errors.{name}' must be a non-negative integer")
    start, end = _field(doc, "start_ms", int), _field(doc, "end_ms", int)
    if end < start:
        raise SummaryError(f"summary field 'end_ms' ({end}) is before 'start_ms' ({start})")
    try:
        sketch = decode_sketch(_field(doc, "sketch", dict))
    except SketchError as exc:
        raise SummaryError(f"summary field 'sketch': {exc}") from None
    count = _field(doc, "count", int)
    if count != int(sketch.count):
        raise SummaryError(f"summary field 'count' ({count}) disagrees with the sketch ({int(sketch.count)})")
    dropped = _field(doc, "dropped", int)
    if dropped < 0:
        raise SummaryError(f"summary field 'dropped' must be a non-negative integer, got {dropped}")
    return Summary(consumer=consumer, instance=_field(doc, "instance", str), broker=broker,
                   cluster=_field(doc, "cluster", str), start_ms=start, end_ms=end,
                   sketch=sketch, errors=dict(errors), dropped=dropped)


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
