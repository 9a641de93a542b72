"""Summary wire format: round trip, clear errors, merging across instances."""
from __future__ import annotations

import json

import pytest

from instrument.sketch import new_sketch
from instrument.summary import Summary, SummaryError, decode_summary, encode_summary, merge_summaries


def _s(instance: str, values: list[float], start: int = 0, end: int = 1000, errors=None, dropped=0,
       ra: float = 0.01) -> Summary:
    sk = new_sketch(ra)
    for v in values:
        sk.add(v)
    return Summary("inventory", instance, "rabbitmq", "c", start, end, sk, dict(errors or {}), dropped)


def _doc(**over) -> bytes:
    doc = json.loads(encode_summary(_s("a", [0.1, 0.2], errors={"ValueError": 1})))
    doc.update(over)
    return json.dumps(doc).encode()


def test_round_trip_keeps_every_field():
    s = _s("a", [0.1, 0.2, 0.3], 5, 10, {"KeyError": 2}, 7)
    back = decode_summary(encode_summary(s))
    assert (back.consumer, back.instance, back.broker, back.cluster) == ("inventory", "a", "rabbitmq", "c")
    assert (back.start_ms, back.end_ms, back.count, back.errors, back.dropped) == (5, 10, 3, {"KeyError": 2}, 7)


@pytest.mark.parametrize("payload, expected", [
    (b"not json", "not JSON"),                           # garbage on the topic
    (b"[1]", "JSON object"),                             # valid JSON, wrong shape
    (_doc(v=2), "'v'"),                                  # a future format version
    (_doc(broker="nats"), "'broker'"),                   # unknown broker kind
    (_doc(consumer=""), "'consumer' is empty"),          # no consumer name
    (_doc(errors={"X": -1}), "errors.X"),                # negative error count
    (_doc(start_ms=10, end_ms=5), "'end_ms'"),           # window ends before it starts
    (_doc(count=99), "'count'"),                         # count disagrees with sketch
    (_doc(sketch={"ra": 5}), "'sketch'"),                # broken sketch
    (_doc(instance=3), "'instance'"),                    # wrong type
    (_doc(dropped=True), "'dropped'"),                   # bool is not an int here
    (_doc(dropped=-1), "'dropped'"),                     # a negative drop count would be stored as is
])
def test_bad_summary_names_the_field(payload, expected):
    with pytest.raises(SummaryError, match=expected):
        decode_summary(payload)


def test_missing_field_is_named():
    doc = json.loads(_doc())
    del doc["end_ms"]
    with pytest.raises(SummaryError, match="'end_ms' is missing"):
        decode_summary(json.dumps(doc).encode())


def test_merge_pools_counts_errors_and_window():
    m = merge_summaries([_s("a", [0.1] * 4, 0, 1000, {"E": 1}, 2), _s("b", [0.2] * 6, 500, 2000, {"E": 2, "F": 1}, 0)])
    assert (m.count, m.errors, m.start_ms, m.end_ms) == (10, {"E": 3, "F": 1}, 0, 2000)
    assert m.error_ratio == pytest.approx(0.4)
    assert m.dropped_by_instance == {"a": 2, "b": 0}


def test_merge_refuses_mixed_accuracy_naming_the_instance():
    with pytest.raises(SummaryError, match="'b'"):
        merge_summaries([_s("a", [0.1]), _s("b", [0.1], ra=0.02)])


def test_empty_window_has_unknown_ratio():
    assert merge_summaries([_s("a", [])]).error_ratio is None
