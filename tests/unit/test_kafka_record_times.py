"""Which record timestamps to read and what a Fetch answer says (collectors.record_times)."""
import pytest
from hypothesis import given, settings, strategies as hs
from kafka.record import MemoryRecordsBuilder

from collectors.record_times import RecordTimes, first_timestamp


def batch(base_offset, timestamps):
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20, offset=base_offset)
    for ts in timestamps:
        b.append(timestamp=ts, key=None, value=b"v", headers=[])
    b.close()
    return b.buffer()


@pytest.mark.parametrize(
    "records, offset, expected",
    [
        (None, 0, None),
        (b"", 0, None),
        (batch(10, [1_000, 2_000, 3_000]), 10, 1_000),
        (batch(10, [1_000, 2_000, 3_000]), 11, 2_000),  # the batch starts before the offset asked
        (batch(10, [1_000, 2_000]), 5, 1_000),  # offset compacted away: the next record is the oldest
        (batch(10, [1_000, 2_000]), 12, None),  # nothing at or after the offset
        (batch(10, [1_000])[:-3], 10, None),  # truncated batch (partition_max_bytes): unknown
        (b"\x00" * 7, 0, None),  # garbage shorter than a header
    ],
)
def test_first_timestamp(records, offset, expected):
    assert first_timestamp(records, offset) == expected


@settings(max_examples=300, deadline=None)
@given(hs.binary(max_size=200), hs.integers(min_value=0, max_value=2**40))
def test_first_timestamp_never_raises_on_hostile_bytes(data, offset):
    got = first_timestamp(data, offset)
    assert got is None or 0 <= got <= 2**53


@settings(max_examples=500, deadline=None)
@given(hs.sampled_from([0, 1]), hs.lists(hs.tuples(hs.integers(0, 10**6), hs.integers(0, 255)), min_size=1,
                                          max_size=6), hs.integers(0, 10**6))
def test_first_timestamp_never_raises_on_corrupted_batches(codec, flips, cut):
    """Valid batches (plain and gzip) with bytes overwritten and cut short: None or a bounded timestamp."""
    b = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 20, offset=10)
    for i in range(4):
        b.append(timestamp=1_000 + i, key=b"k", value=b"v" * 20, headers=[("h", b"x")])
    b.close()
    data = bytearray(b.buffer())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    got = first_timestamp(bytes(data[:max(1, cut % (len(data) + 1))]), 10)
    assert got is None or 0 <= got <= 2**53


def test_plan_limits_and_caches_until_the_offset_moves():
    rt = RecordTimes()
    wanted = {("t", p, 5) for p in range(5)}
    assert rt.plan(wanted, 2) == [("t", 0, 5), ("t", 1, 5)]
    rt.record(("t", 0, 5), 1_000)
    rt.record(("t", 1, 5), None)  # offset gone (retention): not asked again
    assert rt.plan(wanted, 2) == [("t", 2, 5), ("t", 3, 5)]
    assert rt.timestamps() == {("t", 0, 5): 1_000}
    moved = {("t", 0, 6)} | {("t", p, 5) for p in range(1, 5)}
    rt.forget(moved)  # partition 0's offset moved: its old entry is dropped, the new one asked
    assert ("t", 0, 5) not in rt.known
    assert rt.plan(moved, 10) == [("t", 0, 6), ("t", 2, 5), ("t", 3, 5), ("t", 4, 5)]
