"""Chunk codec (pure): columns of int64 / float64 numbers <-> one compressed blob.

A chunk holds one series' samples of one window (timestamps + values), or one series' rollup
buckets of one window (bucket, min, max, sum, count, last_ts, last). Every column is compressed
on its own with pcodec (measured best here: 0.3-0.9 B/sample on gauges and counters on a 15 s
grid, ~2 on noisy floats; numpy delta/xor + zstd 1.5-3x larger; see bench/store_bench.py).
Floats travel as float64 and come back bit-exactly (NaN payloads, +-inf, -0.0, subnormals).

Blob layout: one format byte (``FORMAT``), one column-count byte, then per column a storage
byte and a 4-byte little-endian length, then the column's bytes. Storage of an int64 column:
``i`` pcodec; ``c`` constant (one int64); ``g`` grid, for timestamps stamped with their cycle's
scheduled time: first value and step (int64 each) then the indexes (uint32) of missing grid slots,
so a 2 h window costs 16 bytes instead of pcodec's ~55. A float64 column: ``f`` pcodec; ``k``
constant (the 8 bytes of one float).
"""
from __future__ import annotations

import struct

import numpy as np
from pcodec import ChunkConfig, standalone

FORMAT = 1
_TYPES = {"i": np.dtype("<i8"), "f": np.dtype("<f8")}
_STORED = {"i": frozenset(b"icg"), "f": frozenset(b"fk")}  # storage bytes allowed per column type
_GRID = struct.Struct("<qq")
_MAX_GAPS = 12  # a grid with more missing slots than this is left to pcodec
_I64 = (-2**63, 2**63 - 1)
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
        stored, data = _encode_column(np.ascontiguousarray(col, dtype=_TYPES[kind]), kind)
        parts.append(_COL.pack(stored, len(data)))
        parts.append(data)
    return b"".join(parts)


def _encode_column(col: np.ndarray, kind: str) -> tuple[bytes, bytes]:
    """(storage byte, bytes) of one column: the constant or grid form when it applies, else pcodec."""
    n = len(col)
    if n == 0:
        return kind.encode(), b""
    bits = col.view(np.uint64)  # compare floats by bits: NaN payloads and -0.0 stay what they were
    if (bits[1:] == bits[:-1]).all():
        return (b"c" if kind == "i" else b"k"), col[:1].tobytes()
    if kind == "i" and n > 1:
        diffs = np.diff(col)
        if (diffs > 0).all():
            step = int(np.gcd.reduce(diffs))
            slots = np.zeros((int(col[-1]) - int(col[0])) // step + 1, dtype=bool) \
                if (int(col[-1]) - int(col[0])) // step + 1 - n <= _MAX_GAPS else None
            if slots is not None:
                slots[(col - col[0]) // step] = True
                missing = np.flatnonzero(~slots).astype("<u4")
                return b"g", _GRID.pack(int(col[0]), step) + missing.tobytes()
    return kind.encode(), standalone.simple_compress(col, _CONFIG)


def decode(blob: bytes, kinds: str, rows: int, wanted: frozenset[int] | None = None) -> list[np.ndarray | None]:
    """Columns of a blob whose column types must be ``kinds`` (e.g. "if") and length ``rows``; with
    ``wanted``, only those column indexes are decompressed (the others come back as None).

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
    for i, want in enumerate(kinds):
        if pos + _COL.size > len(blob):
            raise ChunkDecodeError("chunk truncated in a column header")
        kind, size = _COL.unpack_from(blob, pos)
        pos += _COL.size
        if kind[0] not in _STORED[want] or pos + size > len(blob):
            raise ChunkDecodeError(f"chunk column is {kind!r} of {size} bytes, expected {want!r} within the blob")
        col = _column(blob[pos:pos + size], kind, _TYPES[want], rows) if wanted is None or i in wanted else None
        pos += size
        out.append(col)
    if pos != len(blob):
        raise ChunkDecodeError(f"{len(blob) - pos} stray bytes after the last chunk column")
    return out


def _column(data: bytes, kind: bytes, dtype: np.dtype, rows: int) -> np.ndarray:
    if rows == 0:
        if data:
            raise ChunkDecodeError("an empty chunk column carries data")
        return np.empty(0, dtype=dtype)
    if kind in (b"c", b"k"):
        if len(data) != 8:
            raise ChunkDecodeError(f"a constant chunk column has {len(data)} bytes, not 8")
        return np.full(rows, np.frombuffer(data, dtype=dtype)[0], dtype=dtype)
    if kind == b"g":
        return _grid(data, rows)
    try:
        col = standalone.simple_decompress(data)
    except (RuntimeError, TypeError, ValueError) as exc:  # pcodec's declared errors on bad input
        raise ChunkDecodeError(f"chunk column does not decode: {exc}") from exc
    if col is None or col.dtype != dtype or col.shape != (rows,):
        got = None if col is None else f"{col.dtype} x {col.shape}"
        raise ChunkDecodeError(f"chunk column decodes to {got}, expected {dtype} x {rows}")
    return col


def _grid(data: bytes, rows: int) -> np.ndarray:
    """A grid column: first + k * step for every slot k not listed as missing."""
    if len(data) < _GRID.size or (len(data) - _GRID.size) % 4:
        raise ChunkDecodeError(f"a grid chunk column has {len(data)} bytes")
    first, step = _GRID.unpack_from(data)
    missing = np.frombuffer(data, dtype="<u4", offset=_GRID.size).astype(np.int64)
    slots = rows + len(missing)
    if step <= 0 or not _I64[0] <= first + (slots - 1) * step <= _I64[1] or len(missing) > _MAX_GAPS:
        raise ChunkDecodeError(f"grid chunk column out of range (first {first}, step {step}, {slots} slots)")
    if len(missing) and (missing[-1] >= slots or (len(missing) > 1 and not (np.diff(missing) > 0).all())):
        raise ChunkDecodeError("grid chunk column lists bad missing slots")
    keep = np.ones(slots, dtype=bool)
    keep[missing] = False
    return first + np.flatnonzero(keep).astype(np.int64) * step


def encode_samples(ts: np.ndarray, values: np.ndarray) -> bytes:
    """One series' samples (strictly ascending int64 ts, float64 values) as a blob."""
    return encode([ts, values])


def decode_samples(blob: bytes, rows: int, t_start: int, t_end: int) -> tuple[np.ndarray, np.ndarray]:
    """(ts, values) of a sample chunk of window [t_start, t_end); checks order and window."""
    ts, values = decode(blob, "if", rows)
    _check_times(ts, t_start, t_end)
    return ts, values


ROLLUP_KINDS = "ifffiif"  # bucket, min, max, sum, count, last_ts, last


def decode_rollups(blob: bytes, rows: int, t_start: int, t_end: int,
                   wanted: frozenset[int] | None = None) -> list[np.ndarray | None]:
    """[bucket, min, max, sum, count, last_ts, last] of a rollup chunk of window [t_start, t_end); only
    the ``wanted`` column indexes (and the bucket) when given, None for the others."""
    cols = decode(blob, ROLLUP_KINDS, rows, None if wanted is None else wanted | {0})
    _check_times(cols[0], t_start, t_end)
    return cols


def _check_times(ts: np.ndarray, t_start: int, t_end: int) -> None:
    if len(ts) and (ts[0] < t_start or ts[-1] >= t_end or (len(ts) > 1 and not (np.diff(ts) > 0).all())):
        raise ChunkDecodeError(f"chunk times are not strictly ascending within [{t_start}, {t_end})")
