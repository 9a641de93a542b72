"""Reading RabbitMQ streams over the stream protocol (``rstream``): the last offset, the stored offset
of each consumer name, and the chunk timestamp of each lagging consumer's first unprocessed message.

What the management API gives on 3.10, measured: per stream its ``messages`` (offsets from the first
retained one, offset-tracking entries included) and per *live* subscription its reading position
(``offset``, ``offset_lag``) and properties (``name`` when the client sends it) — no stored offsets, no
last offset, no segment count, no size in bytes. Stored offsets of stopped consumers and the last offset
need the stream protocol:

* last offset: subscribe at ``LAST`` (the broker sends the last chunk of messages, never an
  offset-tracking chunk) and take the highest offset of the first chunk delivered;
* stored offset: ``query_offset(stream, name)`` (no offset stored: the name is skipped on that stream);
* timestamp: subscribe at stored offset + 1 and take the first message delivered (its chunk timestamp,
  written by the broker on append). Offsets never change, so timestamps are cached per offset.

Each subscription is closed as soon as its first chunk arrived. Costs per cycle and vhost: up to
``PARALLEL`` connections, one subscription per stream, one query per (stream, name), one subscription per
lagging consumer whose offset moved. Measured on the local node, 10 streams × 2 names (one lagging):
~2.7 s per cycle one stream after another (~0.27 s per stream: rstream opens a connection per
subscribed stream), ~0.85 s on 8 connections.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable

from rstream import ConsumerOffsetSpecification, OffsetNotFound, OffsetType, StreamDoesNotExist

from brokers.rabbit_stream import stream_consumer
from collectors.rabbit_streams import offset as valid_offset
from config.rabbitmq import RabbitClusterConfig

log = logging.getLogger(__name__)
CACHE_SIZE = 10_000
PARALLEL = 8  # connections per vhost and cycle: each subscription waits on the broker, not on the CPU


@dataclass
class StreamReading:
    """What the stream protocol told about one stream this cycle."""

    last: int | None = None  # offset of the last message; None when empty or unreadable
    error: str | None = None  # why the stream could not be read (None: it was)
    stored: dict[str, int] = field(default_factory=dict)  # consumer name -> stored offset
    next_ts_ms: dict[str, int] = field(default_factory=dict)  # name -> timestamp of its next message


class TimestampCache:
    """Chunk timestamps by (vhost, stream, offset asked for), bounded, least recently used out first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._d: OrderedDict[tuple[str, str, int], int] = OrderedDict()

    def get(self, key: tuple[str, str, int]) -> int | None:
        ts = self._d.get(key)
        if ts is not None:
            self._d.move_to_end(key)
        return ts

    def put(self, key: tuple[str, str, int], ts_ms: int) -> None:
        self._d[key] = ts_ms
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)


async def _first_chunk(consumer, stream: str, spec: ConsumerOffsetSpecification,
                       timeout_s: float) -> tuple[int, int, int] | None:
    """(first offset, highest offset, chunk timestamp ms) of the first chunk delivered from ``spec``;
    None when nothing arrives within ``timeout_s``."""
    got: list[tuple[int, int]] = []
    arrived = asyncio.Event()

    def on_message(_msg, ctx) -> None:  # synchronous: rstream hands over a whole chunk without yielding
        got.append((ctx.offset, ctx.timestamp))
        arrived.set()

    sid = await consumer.subscribe(stream, on_message, offset_specification=spec, initial_credit=1)
    try:
        await asyncio.wait_for(arrived.wait(), timeout_s)
    except asyncio.TimeoutError:
        return None
    finally:
        await consumer.unsubscribe(sid)
    offsets = [o for o, _ in got]
    return offsets[0], max(offsets), got[0][1]


async def _read_one(consumer, vhost: str, stream: str, names: Iterable[str], cache: TimestampCache,
                    timeout_s: float) -> StreamReading:
    r = StreamReading()
    last = await _first_chunk(consumer, stream, ConsumerOffsetSpecification(OffsetType.LAST, None), timeout_s)
    r.last = None if last is None else valid_offset(last[1])
    for name in names:
        try:
            stored = valid_offset(await consumer.query_offset(stream, name))
        except OffsetNotFound:
            continue
        if stored is None:
            continue
        r.stored[name] = stored
        if r.last is None or stored >= r.last:
            continue
        key = (vhost, stream, stored + 1)
        ts = cache.get(key)
        if ts is None:
            chunk = await _first_chunk(consumer, stream,
                                       ConsumerOffsetSpecification(OffsetType.OFFSET, stored + 1), timeout_s)
            if chunk is not None and valid_offset(chunk[2]) is not None:
                ts = chunk[2]
                cache.put(key, ts)
        if ts is not None:
            r.next_ts_ms[name] = ts
    return r


async def _read_vhost(cfg: RabbitClusterConfig, password: str, vhost: str, streams: dict[str, list[str]],
                      cache: TimestampCache, timeout_s: float) -> dict[str, StreamReading]:
    """The streams of one vhost, split over up to ``PARALLEL`` connections read concurrently."""
    items = list(streams.items())
    n = max(1, min(PARALLEL, len(items)))
    parts = await asyncio.gather(*(_read_some(cfg, password, vhost, dict(items[i::n]), cache, timeout_s)
                                   for i in range(n)))
    return {k: v for part in parts for k, v in part.items()}


async def _read_some(cfg: RabbitClusterConfig, password: str, vhost: str, streams: dict[str, list[str]],
                     cache: TimestampCache, timeout_s: float) -> dict[str, StreamReading]:
    out: dict[str, StreamReading] = {}
    consumer = stream_consumer(cfg, password, vhost)
    try:
        for stream, names in streams.items():
            try:
                out[stream] = await asyncio.wait_for(_read_one(consumer, vhost, stream, names, cache, timeout_s),
                                                     timeout_s * (2 + len(names)))
            except StreamDoesNotExist:
                continue  # deleted since the management API listed it
            except asyncio.TimeoutError:
                out[stream] = StreamReading(error=f"timeout reading stream {stream!r}")
    finally:
        try:
            await asyncio.wait_for(consumer.close(), timeout_s)
        except Exception:  # noqa: BLE001 - closing a broken connection must not hide the reading
            log.debug("closing the stream connection failed", exc_info=True)
    return out


def read_streams(cfg: RabbitClusterConfig, password: str, wanted: dict[tuple[str, str], list[str]],
                 cache: TimestampCache, timeout_s: float) -> dict[tuple[str, str], StreamReading]:
    """Readings of every (vhost, stream) in ``wanted`` (value: consumer names to query). A vhost whose
    connection fails gives every one of its streams a reading with ``error`` set; it never raises."""
    by_vhost: dict[str, dict[str, list[str]]] = {}
    for (vhost, stream), names in wanted.items():
        by_vhost.setdefault(vhost, {})[stream] = names
    out: dict[tuple[str, str], StreamReading] = {}
    for vhost, streams in by_vhost.items():
        try:
            got = asyncio.run(_read_vhost(cfg, password, vhost, streams, cache, timeout_s))
        except Exception as exc:  # noqa: BLE001 - any failure of the stream protocol: reported per stream
            why = f"stream protocol at {cfg.name}:{cfg.stream_port} vhost {vhost!r}: {type(exc).__name__}: " \
                  f"{str(exc)[:200]}"
            got = {s: StreamReading(error=why) for s in streams}
        out.update({(vhost, s): r for s, r in got.items()})
    return out
