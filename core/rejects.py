"""Rejection accounting: one bad input is skipped, counted per (source, reason) and kept as an example.

Pure and thread-safe; no I/O. A :class:`Rejects` recorder collects counts and the last few examples
between two flushes; ``store.rejects.flush`` turns them into the cumulative counter series
``eventdeck_rejected_inputs_total{source,reason}`` and the examples table the System page shows.
Reasons are short fixed slugs (``not_json``, ``bad_header``), never free text, so the counter's
cardinality stays bounded; the free text goes into the (truncated) example.
"""
from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass

METRIC = "eventdeck_rejected_inputs_total"
SOURCES = ("telemetry", "dlq.kafka", "dlq.rabbitmq", "alert_rule", "silence", "replay_request", "config",
           "rabbitmq.stream", "rabbitmq.prometheus", "store")  # store: label values made safe / series skipped at the one label write path
EXAMPLE_CHARS = 200
KEEP = 5  # examples kept per recorder between flushes (the store keeps a few per source)
_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
OTHER = "other"


@dataclass(frozen=True)
class Example:
    source: str
    reason: str
    ts_ms: int
    text: str  # truncated to EXAMPLE_CHARS, control characters replaced


def slug(reason: str) -> str:
    """``reason`` if it is a valid slug, else ``other`` (free text never becomes a label value)."""
    return reason if isinstance(reason, str) and _SLUG.match(reason) else OTHER


def clip(text: object, limit: int = EXAMPLE_CHARS) -> str:
    """A printable one-line excerpt of ``text`` (bytes decoded leniently), at most ``limit`` characters."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        s = bytes(text[:limit * 4]).decode("utf-8", errors="replace")
    else:
        try:
            s = str(text)
        except Exception:  # noqa: BLE001 - a hostile __str__; the example is only for display
            s = f"<unprintable {type(text).__name__}>"
    s = s[:limit * 4]
    s = "".join(c if c.isprintable() else " " for c in s)
    return s if len(s) <= limit else s[:limit - 1] + "…"


class Rejects:
    """Counts and examples of rejected inputs since the last :meth:`drain`."""

    def __init__(self, keep: int = KEEP) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._examples: deque[Example] = deque(maxlen=keep)

    def record(self, source: str, reason: str, example: object, now_ms: int) -> None:
        """Count one rejected input of ``source`` for ``reason`` (a slug) and keep an excerpt of it."""
        key = (source if source in SOURCES else OTHER, slug(reason))
        ex = Example(key[0], key[1], int(now_ms), clip(example))
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._examples.append(ex)

    def drain(self) -> tuple[dict[tuple[str, str], int], list[Example]]:
        """The counts and examples gathered since the last drain, and start afresh."""
        with self._lock:
            counts, examples = self._counts, list(self._examples)
            self._counts = {}
            self._examples.clear()
        return counts, examples

    def restore(self, counts: dict[tuple[str, str], int], examples: list[Example]) -> None:
        """Put back what a failed flush drained, so nothing is lost."""
        with self._lock:
            for k, n in counts.items():
                self._counts[k] = self._counts.get(k, 0) + n
            for ex in examples:
                self._examples.appendleft(ex)

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())
