"""Spring-Kafka-compatible dead-letter headers (``kafka_dlt-*``), as ``DeadLetterPublishingRecoverer`` writes them.

Partition is a 4-byte big-endian int, offset and timestamp are 8-byte big-endian longs, the rest
UTF-8 strings. ``dlq/headers.py`` decodes exactly these names.
"""
from __future__ import annotations

import struct
import traceback
from typing import Iterable

ORIGINAL_TOPIC = "kafka_dlt-original-topic"
ORIGINAL_PARTITION = "kafka_dlt-original-partition"
ORIGINAL_OFFSET = "kafka_dlt-original-offset"
ORIGINAL_TIMESTAMP = "kafka_dlt-original-timestamp"
ORIGINAL_TIMESTAMP_TYPE = "kafka_dlt-original-timestamp-type"
ORIGINAL_GROUP = "kafka_dlt-original-consumer-group"
EXCEPTION_FQCN = "kafka_dlt-exception-fqcn"
EXCEPTION_MESSAGE = "kafka_dlt-exception-message"
EXCEPTION_STACKTRACE = "kafka_dlt-exception-stacktrace"
PREFIX = "kafka_dlt-"
MAX_STACKTRACE_BYTES = 16_384

Headers = list[tuple[str, bytes]]


def exception_fqcn(exc: BaseException) -> str:
    t = type(exc)
    return f"{t.__module__}.{t.__qualname__}"


def _stacktrace(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).encode()
    # Keep the end: the innermost frames and the exception line matter most.
    return text[-MAX_STACKTRACE_BYTES:]


def dlt_headers(topic: str, partition: int, offset: int, timestamp_ms: int | None, exc: BaseException,
                group: str | None = None, timestamp_type: str = "CreateTime") -> Headers:
    """The ``kafka_dlt-*`` headers for a record at ``topic``/``partition``/``offset`` that failed with ``exc``."""
    if not topic:
        raise ValueError("dlt_headers: original topic is empty")
    if not 0 <= partition < 2 ** 31:
        raise ValueError(f"dlt_headers: partition {partition} of topic {topic!r} does not fit 4 bytes")
    if offset < 0:
        raise ValueError(f"dlt_headers: offset {offset} of topic {topic!r} is negative")
    out: Headers = [(ORIGINAL_TOPIC, topic.encode()),
                    (ORIGINAL_PARTITION, struct.pack(">i", partition)),
                    (ORIGINAL_OFFSET, struct.pack(">q", offset))]
    if timestamp_ms is not None and timestamp_ms >= 0:
        out += [(ORIGINAL_TIMESTAMP, struct.pack(">q", timestamp_ms)),
                (ORIGINAL_TIMESTAMP_TYPE, timestamp_type.encode())]
    if group:
        out.append((ORIGINAL_GROUP, group.encode()))
    out += [(EXCEPTION_FQCN, exception_fqcn(exc).encode()),
            (EXCEPTION_MESSAGE, str(exc).encode()),
            (EXCEPTION_STACKTRACE, _stacktrace(exc))]
    return out


def with_dlt_headers(original: Iterable[tuple[str, bytes]] | None, added: Headers) -> Headers:
    """The record's own headers minus any earlier ``kafka_dlt-*`` ones, followed by ``added``."""
    kept = [(k, v) for k, v in (original or []) if not k.startswith(PREFIX)]
    return kept + added
