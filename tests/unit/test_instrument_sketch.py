"""Sketch encoding and merged percentiles versus exact percentiles of the pooled samples."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instrument.sketch import SketchError, decode_sketch, encode_sketch, new_sketch, quantiles
from instrument.summary import Summary, decode_summary, encode_summary, merge_summaries

ACCURACY = 0.01
durations = st.floats(min_value=1e-6, max_value=100.0, allow_nan=False, allow_infinity=False)


def _exact(values: list[float], q: float) -> float:
    # DDSketch answers the value of rank q*(n-1), rounded down: compare with that order statistic.
    return sorted(values)[math.floor(q * (len(values) - 1))]


def _summary(values: list[float], instance: str) -> Summary:
    sk = new_sketch(ACCURACY)
    for v in values:
        sk.add(v)
    return Summary("payment", instance, "kafka", "c1", 0, 1000, sk)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(durations, min_size=1, max_size=300), min_size=3, max_size=3))
def test_merged_percentiles_of_three_instances_match_pooled_exact(parts):
    # Each instance's summary travels over the wire, so merge what was decoded.
    decoded = [decode_summary(encode_summary(_summary(p, f"i{n}"))) for n, p in enumerate(parts)]
    merged = merge_summaries(decoded)
    pooled = [v for p in parts for v in p]
    assert merged.count == len(pooled)
    got = quantiles(merged.sketch, {"0.5": 0.5, "0.95": 0.95, "0.99": 0.99})
    for label, q in (("0.5", 0.5), ("0.95", 0.95), ("0.99", 0.99)):
        exact = _exact(pooled, q)
        assert abs(got[label] - exact) <= ACCURACY * exact * (1 + 1e-9), (label, got[label], exact)
    assert got["max"] == max(pooled)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(durations, st.just(0.0)), min_size=0, max_size=200))
def test_encoding_round_trips_exactly(values):
    sk = new_sketch(ACCURACY)
    for v in values:
        sk.add(v)
    back = decode_sketch(json.loads(json.dumps(encode_sketch(sk))))
    assert back.count == sk.count
    assert encode_sketch(back) == encode_sketch(sk)
    assert quantiles(back, {"0.5": 0.5}) == quantiles(sk, {"0.5": 0.5})


def test_encoding_is_compact():
    sk = new_sketch(ACCURACY)
    for i in range(10_000):
        sk.add(0.001 + (i % 1000) / 1000)  # 1 ms .. 1 s
    assert len(json.dumps(encode_sketch(sk))) < 2500


def test_negative_values_cannot_be_encoded():
    sk = new_sketch(ACCURACY)
    sk.add(-1.0)
    with pytest.raises(SketchError, match="negative"):
        encode_sketch(sk)


@pytest.mark.parametrize("doc, field", [
    ([1, 2], "object"),                                              # not a mapping at all
    ({"ra": 2, "k": 0, "b": []}, "'ra'"),                            # accuracy outside (0, 1)
    ({"ra": "x", "k": 0, "b": []}, "'ra'"),                          # accuracy not a number
    ({"ra": 0.01, "k": 1.5, "b": []}, "'k'"),                        # first key not an int
    ({"ra": 0.01, "k": 0, "b": "1,2"}, "'b'"),                       # bins not a list
    ({"ra": 0.01, "k": 0, "b": [1, -1], "min": 1, "max": 1}, "b[1]"),  # negative count
    ({"ra": 0.01, "k": 0, "b": [1]}, "'min'"),                       # data but no min/max
    ({"ra": 0.01, "z": -1, "k": 0, "b": []}, "'z'"),                 # negative zero count
])
def test_bad_sketch_names_the_field(doc, field):
    with pytest.raises(SketchError, match=field.replace("[", r"\[").replace("]", r"\]")):
        decode_sketch(doc)


def test_empty_sketch_has_no_quantiles():
    assert quantiles(new_sketch(), {"0.5": 0.5}) == {}
