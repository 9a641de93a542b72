"""The chunk codec (pure): bit-exact round trips of timestamps and floats, and hostile blobs that
raise only ChunkDecodeError."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import codec

T0 = 1_780_000_000_000
SPECIAL = [float("nan"), -0.0, 0.0, float("inf"), float("-inf"), 5e-324, -5e-324, 2.2250738585072009e-308,
           1.7976931348623157e308, struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_0123))[0],  # NaN payload
           struct.unpack("<d", struct.pack("<Q", 0xFFF0_0000_0000_0001))[0]]                          # signalling NaN


def bits(a: np.ndarray) -> list[int]:
    return np.asarray(a, dtype=np.float64).view(np.uint64).tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True) | st.sampled_from(SPECIAL)
                | st.integers(0, 2**64 - 1).map(lambda u: struct.unpack("<d", struct.pack("<Q", u))[0]),
                max_size=600),
       st.integers(0, 2**40), st.lists(st.integers(1, 10**7), max_size=600))
def test_samples_round_trip_bit_exactly(values, t0, steps):
    """Any float64 bit pattern (NaN payloads, +-inf, -0.0, subnormals) and any ascending timestamps."""
    n = len(values)
    ts = np.cumsum(np.array([t0] + (steps + [1] * n)[:max(n - 1, 0)], dtype=np.int64))[:n]
    v = np.array(values, dtype=np.float64)
    blob = codec.encode_samples(ts, v)
    t_end = int(ts[-1]) + 1 if n else t0 + 1
    got_ts, got_v = codec.decode_samples(blob, n, t0, t_end)
    assert got_ts.tolist() == ts.tolist()
    assert bits(got_v) == bits(v)


def test_special_floats_on_a_grid_round_trip():
    ts = T0 + np.arange(len(SPECIAL), dtype=np.int64) * 15_000
    got_ts, got_v = codec.decode_samples(codec.encode_samples(ts, np.array(SPECIAL)), len(SPECIAL), T0, T0 + 10**9)
    assert got_ts.tolist() == ts.tolist() and bits(got_v) == bits(np.array(SPECIAL))


@pytest.mark.parametrize("n, gap_every, max_bytes", [
    (480, 0, 0.5),     # a 2 h window at 15 s on the grid: timestamps cost almost nothing
    (480, 97, 0.5),    # with rare gaps (a missed cycle), still almost nothing
])
def test_grid_timestamps_compress_to_almost_nothing(n, gap_every, max_bytes):
    ts = T0 + np.arange(n, dtype=np.int64) * 15_000
    if gap_every:
        ts[gap_every::gap_every] += 15_000  # not strictly a shift of everything after: still ascending
        ts = np.unique(ts)
    blob = codec.encode([ts])
    assert len(blob) / len(ts) < max_bytes


def test_rollup_columns_round_trip():
    cols = [T0 + np.arange(24, dtype=np.int64) * 3_600_000, np.linspace(-1, 1, 24), np.linspace(0, 2, 24),
            np.full(24, 7.25), np.full(24, 240, dtype=np.int64), T0 + np.arange(24, dtype=np.int64) * 3_600_000 + 5,
            np.array(SPECIAL * 3)[:24]]
    got = codec.decode_rollups(codec.encode(cols), 24, T0, T0 + 86_400_000)
    for a, b in zip(cols, got):
        assert a.dtype.kind == b.dtype.kind and a.view(np.uint64).tolist() == b.view(np.uint64).tolist()


GOOD = codec.encode_samples(T0 + np.arange(10, dtype=np.int64) * 15_000, np.arange(10, dtype=np.float64))


@pytest.mark.parametrize("blob, rows, fragment", [
    (b"", 10, "shorter than its header"),
    (b"\x09\x02", 10, "unknown chunk format"),
    (GOOD[:1] + b"\x03" + GOOD[2:], 10, "3 columns"),
    (GOOD[:-5], 10, "within the blob"),                # truncated
    (GOOD + b"xx", 10, "stray bytes"),
    (GOOD, 11, "expected float64 x 11"),               # row count in the table disagrees with the blob
    (GOOD, -1, "out of range"),
    (GOOD, codec.MAX_ROWS + 1, "out of range"),
    ("not bytes", 10, "not bytes"),
    (GOOD[:2] + b"f" + GOOD[3:], 10, "expected 'i'"),  # column types swapped
])
def test_bad_blobs_raise_chunk_decode_error(blob, rows, fragment):
    with pytest.raises(codec.ChunkDecodeError, match=fragment):
        codec.decode_samples(blob, rows, T0, T0 + 10**9)


def test_out_of_window_or_unordered_times_are_rejected():
    ts = T0 + np.array([0, 30_000, 15_000], dtype=np.int64)
    with pytest.raises(codec.ChunkDecodeError, match="ascending"):
        codec.decode_samples(codec.encode_samples(ts, np.zeros(3)), 3, T0, T0 + 10**9)
    with pytest.raises(codec.ChunkDecodeError, match="within"):
        codec.decode_samples(GOOD, 10, T0 + 1, T0 + 10**9)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(-2, 50), st.data())
def test_hostile_blobs_raise_only_chunk_decode_error(noise, rows, data):
    """Random bytes, and a good blob with random bytes flipped, never raise anything else."""
    flipped = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 8))):
        flipped[data.draw(st.integers(0, len(GOOD) - 1))] = data.draw(st.integers(0, 255))
    for blob in (noise, bytes(flipped), GOOD[:1] + noise):
        try:
            ts, v = codec.decode_samples(blob, rows, T0, T0 + 10**9)
        except codec.ChunkDecodeError:
            continue
        assert len(ts) == len(v) == rows


@pytest.mark.parametrize("ts, stored, size", [
    (T0 + np.arange(480, dtype=np.int64) * 15_000, b"g", 16),                      # the collection grid
    (np.delete(T0 + np.arange(480, dtype=np.int64) * 15_000, [3, 200, 201]), b"g", 16 + 3 * 4),  # missed cycles
    (np.delete(T0 + np.arange(480, dtype=np.int64) * 15_000, list(range(0, 480, 30))[1:]), b"i", None),  # many gaps
    (T0 + np.array([0, 7, 15_003, 30_001], dtype=np.int64), b"g", None),           # ms jitter: step 1, too many gaps
    (T0 + np.array([0, 10_000, 25_000], dtype=np.int64), b"g", 16 + 3 * 4),        # gcd step 5 s: slots 1, 3, 4 missing
    (np.array([T0], dtype=np.int64), b"c", 8),                                     # one sample
])
def test_grid_and_constant_columns(ts, stored, size):
    blob = codec.encode([ts])
    kind, length = struct.unpack_from("<cI", blob, 2)
    if stored == b"g" and size is None:  # the grid would need too many missing slots: pcodec instead
        stored = b"i"
    assert kind == stored and (size is None or length == size)
    (back,) = codec.decode(blob, "i", len(ts))
    assert back.tolist() == ts.tolist()


def grid_blob(first: int, step: int, missing: list[int], values: int = 3) -> bytes:
    col = struct.pack("<qq", first, step) + np.array(missing, dtype="<u4").tobytes()
    vals = np.zeros(values).tobytes()[:8]
    return bytes([codec.FORMAT, 2]) + struct.pack("<cI", b"g", len(col)) + col + struct.pack("<cI", b"k", 8) + vals


@pytest.mark.parametrize("blob, fragment", [
    (grid_blob(T0, 0, []), "out of range"),                    # a zero step repeats timestamps
    (grid_blob(T0, -5, []), "out of range"),
    (grid_blob(2**63 - 10, 15_000, []), "out of range"),       # the last slot overflows int64
    (grid_blob(T0, 1, [5]), "bad missing"),                    # missing slot beyond the grid
    (grid_blob(T0, 1, [1, 1]), "bad missing"),                 # not strictly ascending
    (grid_blob(T0, 1, list(range(20)), 3), "out of range"),    # more gaps than the encoder ever writes
])
def test_bad_grid_columns_raise_chunk_decode_error(blob, fragment):
    with pytest.raises(codec.ChunkDecodeError, match=fragment):
        codec.decode_samples(blob, 3, 0, 2**63 - 1)


def test_constant_float_column_keeps_its_bits():
    for v in SPECIAL:
        col = np.full(5, v)
        blob = codec.encode([col])
        assert struct.unpack_from("<cI", blob, 2) == (b"k", 8)
        assert bits(codec.decode(blob, "f", 5)[0]) == bits(col)


@pytest.mark.parametrize("columns, fragment", [
    ([], "1..255 columns"),
    ([np.zeros(3), np.zeros(4)], "one length"),
    ([np.array(["a"])], "int or float"),
])
def test_encode_rejects_bad_columns(columns, fragment):
    with pytest.raises(ValueError, match=fragment):
        codec.encode(columns)
