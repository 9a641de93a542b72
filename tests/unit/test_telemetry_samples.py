"""One collection tick's summaries → samples (pure)."""
from __future__ import annotations

import pytest

from collectors.telemetry_samples import Counters, tick_samples
from instrument.sketch import new_sketch
from instrument.summary import Summary


def _s(consumer="payment", instance="i1", broker="kafka", cluster="", start=0, end=10_000, values=(0.1,) * 10,
       errors=None, dropped=0) -> Summary:
    sk = new_sketch(0.01)
    for v in values:
        sk.add(v)
    return Summary(consumer, instance, broker, cluster, start, end, sk, dict(errors or {}), dropped)


def _by(samples, metric):
    return {tuple(sorted(s.labels.items())): s.value for s in samples if s.metric == metric}


def _one(samples, metric, **labels):
    found = [s.value for s in samples if s.metric == metric and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (metric, labels, found)
    return found[0]


@pytest.mark.parametrize("summaries, expected_rate", [
    # one instance, 10 calls in 10 s
    ([_s()], 1.0),
    # two instances in the same interval: rates add up
    ([_s(instance="a"), _s(instance="b", values=(0.1,) * 30)], 4.0),
    # instances out of phase: each is measured over its own span, not the union
    ([_s(instance="a", start=0, end=10_000), _s(instance="b", start=5_000, end=15_000)], 2.0),
    # one instance with two summaries in a tick: its span covers both
    ([_s(start=0, end=10_000), _s(start=10_000, end=20_000, values=(0.1,) * 30)], 2.0),
])
def test_rate_sums_instances(summaries, expected_rate):
    out = tick_samples(summaries, "local", 99, Counters())
    assert _one(out, "consumer_processed_rate_per_s") == pytest.approx(expected_rate)


def test_labels_percentiles_and_error_ratio():
    out = tick_samples([_s(values=[0.01] * 90 + [1.0] * 10, errors={"Declined": 5})], "local", 123, Counters())
    assert all(s.ts_ms == 123 for s in out)
    p = _by(out, "consumer_processing_seconds")
    key = lambda q: (("broker", "kafka"), ("cluster", "local"), ("consumer", "payment"), ("quantile", q))  # noqa: E731
    assert p[key("0.5")] == pytest.approx(0.01, rel=0.01)
    assert p[key("0.99")] == pytest.approx(1.0, rel=0.01)
    assert p[key("max")] == 1.0
    assert _one(out, "consumer_error_rate_ratio") == pytest.approx(0.05)
    assert _one(out, "consumer_errors_total", exception="Declined") == 5
    assert _one(out, "consumer_instances_count") == 1


@pytest.mark.parametrize("summary_cluster, default, expected", [
    ("", "tel-cluster", "tel-cluster"),        # the app did not name its cluster: the telemetry cluster
    ("shop-prod", "tel-cluster", "tel-cluster"),  # never the payload's own: it comes from where it was read
])
def test_cluster_label(summary_cluster, default, expected):
    out = tick_samples([_s(cluster=summary_cluster)], default, 1, Counters())
    assert {s.labels["cluster"] for s in out} == {expected}


def test_idle_window_writes_rate_zero_but_no_percentiles_or_ratio():
    out = tick_samples([_s(values=())], "c", 1, Counters())
    assert _one(out, "consumer_processed_rate_per_s") == 0.0
    assert not [s for s in out if s.metric in ("consumer_processing_seconds", "consumer_error_rate_ratio")]


def test_counters_accumulate_across_ticks_and_consumers_stay_apart():
    c = Counters()
    tick_samples([_s(errors={"E": 2}), _s(consumer="inventory", errors={"E": 7})], "c", 1, c)
    out = tick_samples([_s(errors={"E": 3, "F": 1})], "c", 2, c)
    assert _one(out, "consumer_errors_total", consumer="payment", exception="E") == 5
    assert _one(out, "consumer_errors_total", consumer="payment", exception="F") == 1
    assert not [s for s in out if s.labels.get("consumer") == "inventory"]


def test_dropped_counter_uses_cumulative_per_instance_deltas():
    c = Counters()
    tick_samples([_s(instance="a", dropped=2)], "c", 1, c)
    out = tick_samples([_s(instance="a", dropped=5), _s(instance="b", dropped=1)], "c", 2, c)
    assert _one(out, "consumer_telemetry_dropped_total") == 6  # 2, then +3 from a and +1 from b


def test_exception_names_per_consumer_are_capped_beyond_which_other():
    from collectors.telemetry_samples import MAX_EXCEPTIONS, OTHER
    counters = Counters()
    for tick in range(3):  # new names every tick: the consumer's series stay bounded
        errs = {f"E{tick}_{i}": 1 for i in range(40)}
        out = tick_samples([_s(values=(0.1,) * 40, errors=errs)], "c", tick + 1, counters)
    names = {s.labels["exception"] for s in out if s.metric == "consumer_errors_total"}
    assert len(names) == MAX_EXCEPTIONS and OTHER in names
    assert sum(s.value for s in out if s.metric == "consumer_errors_total") == 120  # nothing lost, only pooled


def test_a_summary_that_cannot_be_merged_is_left_out_alone():
    from collectors.telemetry_samples import isolated_tick_samples
    broken = _s(consumer="odd", instance="i9")
    broken.sketch._relative_accuracy = 0.02  # disagrees with its own mapping: fails even alone
    coarse = _s(consumer="mixed", instance="c1")
    coarse.sketch = new_sketch(0.02)
    coarse.sketch.add(0.1)  # fine alone, cannot merge with the other instance of "mixed"
    rejected = []
    counters = Counters()
    out = isolated_tick_samples([_s(), broken, _s(consumer="odd", instance="i8"), coarse,
                                 _s(consumer="mixed", instance="c2")], "c", 1, counters,
                                lambda s, exc: rejected.append(s.instance))
    assert {s.labels["consumer"] for s in out} == {"payment", "odd"}  # odd from its good instance
    assert sorted(rejected) == ["c1", "c2", "i9"]
    assert _by(out, "consumer_instances_count")[(("broker", "kafka"), ("cluster", "c"), ("consumer", "odd"))] == 1
