"""AMQP field tables (message headers, queue arguments) decoded without loss and without raising: the one
place Eventdeck changes how pika reads and writes them.

pika 1.4.4 (``pika/data.py``) decodes field values inside its frame layer, where an exception breaks
the whole channel (every later message of the queue, then the connection):

* ``T`` (timestamp): ``datetime.fromtimestamp`` raises for seconds beyond year 9999 (any 64-bit value may
  arrive from another client) — one such header made a whole DLQ unreadable;
* ``d`` (double) and ``f`` (float): read through ``long(...)``, so ``1.5`` becomes ``1`` (a replay silently
  changed ``price = 1.5`` to ``1``) and NaN/infinity raise;
* and pika cannot *encode* a Python float at all.

:func:`install` (run once, on import of :mod:`brokers.rabbitmq`, which every AMQP client of Eventdeck goes
through) replaces ``pika.data.decode_value`` and ``pika.data.encode_value`` with versions that keep these
values exactly: an out-of-range timestamp as :class:`AmqpTimestamp` (an ``int`` of seconds), a double as a
``float``, a float as :class:`AmqpFloat`, a long string that is not UTF-8 as :class:`AmqpBytesString`; and
that write them back with their original field type. Every
other field type is left to pika. ``pika.data.decode_table`` and ``pika.spec`` look these functions up in
the module at each call, so replacing the module attributes is enough (also for nested tables and arrays).

:func:`round_trip_problem` says whether a header table would not come back as it is when republished;
the replay refuses such a message alone and the dry run shows why.
"""
from __future__ import annotations

import math
import struct
from datetime import datetime, timezone
from typing import Any, Callable

import pika.data

PIKA_VERSION = "1.4.4"  # what this was written against (requirements.txt pins it); see pika/data.py


class AmqpTimestamp(int):
    """A ``T`` field whose seconds since the epoch no ``datetime`` can hold (beyond year 9999)."""


class AmqpBytesString(bytes):
    """An ``S`` (long string) field that is not UTF-8; pika gives plain ``bytes`` and would write them back as
    ``x`` (byte array), a different type for the consumer. Written back as ``S``."""


class AmqpFloat(float):
    """An ``f`` (32-bit float) field, written back as ``f``; a plain ``float`` is written as ``d``."""


_original: dict[str, Callable[..., Any]] = {}


def decode_value(encoded: bytes, offset: int) -> tuple[Any, int]:
    """pika's ``decode_value`` with ``T``, ``d`` and ``f`` decoded exactly (never raising on their value)."""
    kind = encoded[offset:offset + 1]
    if kind == b"T":
        seconds = struct.unpack_from(">Q", encoded, offset + 1)[0]
        try:
            value: Any = datetime.fromtimestamp(seconds, timezone.utc)
        except (ValueError, OverflowError, OSError):
            value = AmqpTimestamp(seconds)
        return value, offset + 9
    if kind == b"d":
        return struct.unpack_from(">d", encoded, offset + 1)[0], offset + 9
    if kind == b"f":
        return AmqpFloat(struct.unpack_from(">f", encoded, offset + 1)[0]), offset + 5
    value, end = _original["decode_value"](encoded, offset)
    if kind == b"S" and isinstance(value, bytes):
        value = AmqpBytesString(value)
    return value, end


def encode_value(pieces: list[bytes], value: Any) -> int:
    """pika's ``encode_value`` that also writes what :func:`decode_value` returns with its original type."""
    if isinstance(value, AmqpTimestamp):
        pieces.append(struct.pack(">cQ", b"T", int(value)))
        return 9
    if isinstance(value, AmqpBytesString):
        pieces.append(struct.pack(">cI", b"S", len(value)))
        pieces.append(bytes(value))
        return 5 + len(value)
    if isinstance(value, AmqpFloat):
        pieces.append(struct.pack(">cf", b"f", float(value)))
        return 5
    if isinstance(value, float):
        pieces.append(struct.pack(">cd", b"d", value))
        return 9
    return _original["encode_value"](pieces, value)


def install() -> None:
    """Replace pika's field-value codec (idempotent)."""
    if pika.data.decode_value is decode_value:
        return
    _original["decode_value"] = pika.data.decode_value
    _original["encode_value"] = pika.data.encode_value
    pika.data.decode_value = decode_value  # type: ignore[assignment]
    pika.data.encode_value = encode_value  # type: ignore[assignment]


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


_I32 = 2 ** 31  # pika writes a 32-bit int as 'I' and reads it back as int (a wider one comes back as its long)


def _plain_field(name: Any, value: Any) -> bool:
    """A header that certainly comes back as it is: an ASCII name pika can write as a short string and a
    value of a type pika writes and reads as the same (ASCII text, bool, bytes, a 32-bit int, void). Most
    headers are; skipping their write-and-read was a tenth of a RabbitMQ replay's CPU per message."""
    if type(name) is not str or len(name) > 255 or not name.isascii():
        return False
    t = type(value)
    return (value is None or t is bool or t is bytes or (t is str and value.isascii())
            or (t is int and -_I32 <= value < _I32))


def round_trip_problem(headers: dict | None) -> str | None:
    """None when ``headers`` (as decoded) are written and read back unchanged; else which header would not
    be (its name and why), e.g. a value of a type AMQP cannot carry or one whose field type would change."""
    install()
    for name, value in (headers or {}).items():
        if _plain_field(name, value):
            continue
        try:
            pieces: list[bytes] = []
            pika.data.encode_table(pieces, {name: value})
            back, _ = pika.data.decode_table(b"".join(pieces), 0)
        except Exception as exc:  # noqa: BLE001 - pika raises assorted errors for what it cannot write
            return f"header {str(name)[:100]!r} cannot be written back ({type(exc).__name__}: {str(exc)[:120]})"
        got = next(iter(back.values()), None)
        if not _same(value, got):
            return (f"header {str(name)[:100]!r} would not be republished as read "
                    f"({type(value).__name__} {str(value)[:60]!r} -> {type(got).__name__})")
    return None


install()
