"""Chunk codec (pure): columns of int64 / float64 numbers <-> one compressed blob.

A chunk holds one series' samples of one window (timestamps + values), or one series' rollup
buckets of one window (bucket, min, max, sum, count, last_ts, last). Every column is compressed
on its own with pcodec (measured best here: 0.3-0.9 B/sample on gauges and counters on a 15 s
grid, ~2 on noisy floats; numpy delta/xor + zstd 1.5-3x larger; see bench/store_bench.py).
Floats travel as float64 and come back bit-exactly (NaN payloads, +-inf, -0.0, subnormals).

Blob layout: one format byte (``FORMAT``), one column-count byte, then per column a type byte
(``i`` int64, ``f`` float64) and a 4-byte little-endian length, then the column's pcodec bytes.
"""
from __future__ import annotations

import struct

import numpy as np
from pcodec import ChunkConfig, standalone

FORMAT = 1
_TYPES = {"i": np.dtype("<i8"), "f": np.dtype("<f8")}
_HEAD = struct.Struct("<BB")
_COL = struct.Struct("<cI")
# Bound on samples (or buckets) per chunk: a 2 h window at 1 ms would be 7.2 M; anything above
# this is a corrupt or hostile blob, not data of ours.
MAX_ROWS = 8_000_000
_CONFIG = ChunkConfig()


class ChunkDecodeError(ValueError):
    """A blob is not a chunk this code wrote (truncated, corrupt, unknown format, wrong shape)."""


def encode(columns: list[np.ndarray]) -> bytes:
    """Compress equal-length int64/float64 columns into one blob."""
    if not columns or len(columns) > 255:
        raise ValueError(f"encode: 1..255 columns expected, got {len(columns)}")
    n = len(columns[0])
    parts = [_HEAD.pack(FORMAT, len(columns))]
    for col in columns:
        kind = "i" if col.dtype.kind in "iu" else "f" if col.dtype.kind == "f" else None
        if kind is None or len(col) != n or col.ndim != 1:
            raise ValueError(f"encode: columns must be 1-D int or float arrays of one length, got {col.dtype} "
                             f"x {len(col)} (first has {n})")
        data = standalone.simple_compress(np.ascontiguousarray(col, dtype=_TYPES[kind]), _CONFIG) if n else b""
        parts.append(_COL.pack(kind.encode(), len(data)))
        parts.append(data)
    return b"".join(parts)


def decode(blob: bytes, kinds: str, rows: int) -> list[np.ndarray]:
    """Columns of a blob whose column types must be ``kinds`` (e.g. "if") and length ``rows``.

    Raises only :class:`ChunkDecodeError`.
    """
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ChunkDecodeError(f"chunk is {type(blob).__name__}, not bytes")
    if not isinstance(rows, int) or not 0 <= rows <= MAX_ROWS:
        raise ChunkDecodeError(f"chunk row count {rows!r} out of range")
    blob = bytes(blob)
    if len(blob) < _HEAD.size:
        raise ChunkDecodeError("chunk shorter than its header")
    fmt, ncols = _HEAD.unpack_from(blob)
    if fmt != FORMAT:
        raise ChunkDecodeError(f"unknown chunk format {fmt}")
    if ncols != len(kinds):
        raise ChunkDecodeError(f"chunk has {ncols} columns, expected {len(kinds)}")
    out, pos = [], _HEAD.size
    for want in kinds:
        if pos + _COL.size > len(blob):
            raise ChunkDecodeError("chunk truncated in a column header")
        kind, size = _COL.unpack_from(blob, pos)
        pos += _COL.size
        if kind.decode("latin-1") != want or pos + size > len(blob):
            raise ChunkDecodeError(f"chunk column is {kind!r} of {size} bytes, expected {want!r} within the blob")
        col = _column(blob[pos:pos + size], _TYPES[want], rows)
        pos += size
        out.append(col)
    if pos != len(blob):
        raise ChunkDecodeError(f"{len(blob) - pos} stray bytes after the last chunk column")
    return out


def _column(data: bytes, dtype: np.dtype, rows: int) -> np.ndarray:
    if rows == 0:
        if data:
            raise ChunkDecodeError("an empty chunk column carries data")
        return np.empty(0, dtype=dtype)
    try:
        col = standalone.simple_decompress(data)
    except (RuntimeError, TypeError, ValueError) as exc:  # pcodec's declared errors on bad input
        raise ChunkDecodeError(f"chunk column does not decode: {exc}") from exc
    if col is None or col.dtype != dtype or col.shape != (rows,):
        got = None if col is None else f"{col.dtype} x {col.shape}"
        raise ChunkDecodeError(f"chunk column decodes to {got}, expected {dtype} x {rows}")
    return col


def encode_samples(ts: np.ndarray, values: np.ndarray) -> bytes:
    """One series' samples (strictly ascending int64 ts, float64 values) as a blob."""
    return encode([ts, values])


def decode_samples(blob: bytes, rows: int, t_start: int, t_end: int) -> tuple[np.ndarray, np.ndarray]:
    """(ts, values) of a sample chunk of window [t_start, t_end); checks order and window."""
    ts, values = decode(blob, "if", rows)
    _check_times(ts, t_start, t_end)
    return ts, values


ROLLUP_KINDS = "ifffiif"  # bucket, min, max, sum, count, last_ts, last


def decode_rollups(blob: bytes, rows: int, t_start: int, t_end: int) -> list[np.ndarray]:
    """[bucket, min, max, sum, count, last_ts, last] of a rollup chunk of window [t_start, t_end)."""
    cols = decode(blob, ROLLUP_KINDS, rows)
    _check_times(cols[0], t_start, t_end)
    return cols


def _check_times(ts: np.ndarray, t_start: int, t_end: int) -> None:
    if len(ts) and (ts[0] < t_start or ts[-1] >= t_end or (len(ts) > 1 and not (np.diff(ts) > 0).all())):
        raise ChunkDecodeError(f"chunk times are not strictly ascending within [{t_start}, {t_end})")
