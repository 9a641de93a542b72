"""Property-based fuzzing of every decoder of hostile input: for ANY input only the declared error type
escapes, and whatever is accepted can be used downstream (merged, resolved, rendered, evaluated) without
raising. At least 1,000 generated examples per decoder (the ``fuzz`` settings profile below)."""
from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pika
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts import silences as sil
from alerts.message import iso
from alerts.rules import RuleError, SeriesPoint, breaches, group_values, render_summary, rule_from_dict
from collectors.telemetry_samples import Counters, tick_samples
from config import ConfigError, load_settings
from dlq import headers as hdr
from dlq import plan, targets
from dlq.kafka_io import to_message as kafka_message
from dlq.payload import message_view, render
from dlq.rabbit_io import to_message as rabbit_message
from instrument.sketch import BIN_LIMIT
from instrument.summary import SummaryError, decode_summary
from views.common import fmt_ts

settings.register_profile("fuzz", max_examples=int(os.environ.get("EVENTDECK_FUZZ_EXAMPLES", "1000")),
                          deadline=None, database=None, suppress_health_check=list(HealthCheck))
FUZZ = settings.get_profile("fuzz")

# ------------------------------------------------------------------ hostile building blocks

HUGE = st.sampled_from([2 ** 53, 2 ** 53 + 1, 2 ** 63, 2 ** 64, -2 ** 63, 10 ** 30, 10 ** 400, -10 ** 400])
NUMBERS = st.one_of(st.integers(), HUGE, st.floats(), st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0,
                                                                        5e-324, 0.5, -1, 0]))
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["--5", "²", "-1", "0.5", "abc", "", " 7 ", "1e3", "0x10",
                                                        "٣", "9" * 30, "inf", "nan", "{}", "[", "<script>"]),
                 st.sampled_from(["x" * 257, "é" * 300, "a" * 5000 + "!", "\n" * 300]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSONISH = st.recursive(SCALARS, lambda c: st.one_of(st.lists(c, max_size=5),
                                                    st.dictionaries(TEXT, c, max_size=5)), max_leaves=10)


def _valid_summary() -> dict:
    return {"v": 1, "consumer": "pay", "instance": "i1", "broker": "kafka", "cluster": "c", "start_ms": 0,
            "end_ms": 1000, "count": 3, "errors": {"E": 1}, "dropped": 0,
            "sketch": {"ra": 0.01, "z": 0, "k": 100, "b": [1, 0, 2], "sum": 0.3, "min": 0.05, "max": 0.2}}


SKETCH_KEYS = ["ra", "z", "k", "b", "sum", "min", "max"]
BINS = st.one_of(st.lists(NUMBERS, max_size=30), st.just([1] * (BIN_LIMIT + 1)), st.just([1e308] * 3),
                 st.just(list(range(100_000))), JSONISH)


@st.composite
def summaries(draw) -> bytes:
    """Near-valid summaries with hostile fields, arbitrary JSON, or raw bytes."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return json.dumps(draw(JSONISH)).encode()
    doc = _valid_summary()
    for key in draw(st.lists(st.sampled_from(list(doc) + ["sketch." + k for k in SKETCH_KEYS]), max_size=4)):
        value = draw(BINS if key == "sketch.b" else JSONISH)
        if key.startswith("sketch."):
            if isinstance(doc["sketch"], dict):
                doc["sketch"][key[7:]] = value
        else:
            doc[key] = value
    if draw(st.booleans()):
        doc["errors"] = draw(st.dictionaries(TEXT, st.one_of(st.integers(0, 10), NUMBERS), max_size=80))
    text = json.dumps(doc)
    if draw(st.booleans()):  # numbers JSON can hold but Python floats cannot, and deep nesting
        text = text.replace("0.3", draw(st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "1" * 5000])), 1)
    if kind == 5:
        text = "[" * draw(st.sampled_from([1, 50, 5000, 100_000])) + text
    return text.encode()


@FUZZ
@given(summaries())
def test_telemetry_summary_decoder_raises_only_summary_error(payload):
    try:
        s = decode_summary(payload)
    except SummaryError as exc:
        assert exc.reason and exc.reason.isidentifier()
        return
    # Whatever is accepted is bounded and can be merged and stored.
    assert s.count <= 2 ** 53 and sum(s.errors.values()) <= s.count and len(s.consumer) <= 256
    for sample in tick_samples([s], "from-transport", 1, Counters()):
        assert math.isfinite(sample.value)
        assert sample.labels["cluster"] == "from-transport"


# ------------------------------------------------------------------ DLQ headers

KAFKA_NAMES = st.sampled_from([hdr.SPRING + "original-topic", hdr.SPRING + "original-partition",
                               hdr.SPRING + "original-offset", hdr.SPRING + "exception-fqcn",
                               hdr.SPRING + "exception-message", hdr.CONNECT + "topic", hdr.CONNECT + "partition",
                               hdr.CONNECT + "offset", hdr.REPLAY_ID, hdr.REPLAY_COUNT, hdr.REPLAY_TARGET])
HEADER_BYTES = st.one_of(
    st.none(), st.binary(max_size=12), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(-2 ** 31, 2 ** 31 - 1).map(lambda n: struct.pack(">i", n)),
    st.integers(-2 ** 63, 2 ** 63 - 1).map(lambda n: struct.pack(">q", n)),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={"topic": JSONISH, "partition": JSONISH, "queue": JSONISH,
                                        "exchange": JSONISH, "routing_key": JSONISH}).map(lambda d: json.dumps(d).encode()))


class _Record:
    def __init__(self, headers, key, value, ts):
        self.headers, self.key, self.value, self.timestamp = headers, key, value, ts
        self.partition, self.offset = 0, 7


@FUZZ
@given(st.lists(st.tuples(st.one_of(KAFKA_NAMES, st.text(max_size=10)), HEADER_BYTES), max_size=8),
       st.one_of(st.none(), st.binary(max_size=20)), st.one_of(st.none(), st.binary(max_size=200)),
       st.one_of(st.integers(-2 ** 63, 2 ** 63), st.just(253402300800000)))
def test_kafka_dlq_headers_raise_only_header_error(pairs, key, value, ts):
    try:
        hdr.decode(pairs)
    except hdr.HeaderError:
        pass
    # The whole browse/replay path for one record: listed (malformed or not), resolved, rendered.
    msg, err = kafka_message(_Record(pairs, key, value, ts))
    view = message_view(msg, err, "somewhere", 100)
    assert view["coord"] == "0:7" and fmt_ts(view["timestamp_ms"])
    try:
        t = targets.resolve_kafka(msg.decoded, "orders.dlq", None, {}, ["*.dlq"])
    except targets.NoTarget:
        return
    assert t.topic and (t.partition is None or 0 <= t.partition < 2 ** 31)
    plan.replay_headers(msg.headers, "rid", msg.decoded.replay_count + 1, t)


AMQP_SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, st.binary(max_size=10),
                        st.sampled_from([Decimal("1.5"), Decimal("-1E+30"), datetime(1970, 1, 1), datetime.max,
                                         datetime(9999, 12, 31, 23, 59, 59)]))
AMQP_VALUES = st.recursive(AMQP_SCALARS, lambda c: st.one_of(st.lists(c, max_size=3),
                                                             st.dictionaries(TEXT, c, max_size=3)), max_leaves=6)
DEATH = st.dictionaries(st.sampled_from(["queue", "reason", "count", "exchange", "routing-keys", "time"]),
                        st.one_of(AMQP_SCALARS, AMQP_VALUES), max_size=6)
RABBIT_HEADERS = st.dictionaries(
    st.one_of(st.sampled_from(["x-death", "x-first-death-queue", "x-first-death-exchange", "x-first-death-reason",
                               hdr.REPLAY_COUNT, hdr.REPLAY_TARGET, hdr.REPLAY_ID]), st.text(max_size=8)),
    st.one_of(AMQP_VALUES, st.lists(DEATH, max_size=3), st.just([{"count": 1}] * 100)), max_size=6)


@FUZZ
@given(RABBIT_HEADERS, st.one_of(st.none(), st.integers(), HUGE), st.binary(max_size=100))
def test_rabbitmq_headers_raise_only_header_error(headers, timestamp, body):
    try:
        hdr.decode(headers)
    except hdr.HeaderError:
        pass
    props = pika.BasicProperties(headers=headers, timestamp=timestamp, message_id="m1")
    msg, err = rabbit_message(body, props, 1)
    assert len(msg.coord) == 32
    view = message_view(msg, err, "x", 100)
    fmt_ts(view["timestamp_ms"])
    try:
        t = targets.resolve_rabbit(msg.decoded, "orders.dlq", None, {}, ["*.dlq"], "exchange")
    except targets.NoTarget:
        return
    assert isinstance(t.routing_key, str) and isinstance(t.exchange, str) and len(t.routing_key) <= 256


@FUZZ
@given(st.one_of(st.none(), st.binary(max_size=3000), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
                 JSONISH.map(lambda v: json.dumps(v).encode())), st.integers(1, 2000))
def test_payload_display_never_raises(payload, limit):
    r = render(payload, limit)
    assert r.kind in ("empty", "json", "text", "hex") and isinstance(r.text, str)
    assert r.size == len(payload or b"")


@FUZZ
@given(st.one_of(NUMBERS, TEXT, st.none(), st.just(datetime.max), st.decimals()))
def test_fmt_ts_never_raises(value):
    assert isinstance(fmt_ts(value), str) and isinstance(iso(value), str)


# ------------------------------------------------------------------ operator input

REQUEST = st.fixed_dictionaries(
    {"broker": st.one_of(st.sampled_from(["kafka", "rabbitmq"]), st.sampled_from(["kafka", "rabbitmq"]), JSONISH),
     "cluster": st.one_of(st.just("c"), st.just("c"), JSONISH), "dlq": st.one_of(st.just("d.dlq"), JSONISH)},
    optional={"vhost": JSONISH, "rate_per_s": st.one_of(NUMBERS, st.none(), TEXT),
              "rabbit_mode": JSONISH, "force": JSONISH,
              "selection": st.one_of(JSONISH, st.fixed_dictionaries(
                  {"mode": st.one_of(st.sampled_from(plan.MODES), JSONISH)},
                  optional={"coords": JSONISH, "from_ms": NUMBERS, "to_ms": NUMBERS, "key": JSONISH,
                            "reason": JSONISH, "exception_class": JSONISH})),
              "target": st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
                  "topic": JSONISH, "partition": NUMBERS, "queue": JSONISH, "exchange": JSONISH,
                  "routing_key": JSONISH})),
              "pin": st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
                  "count": NUMBERS, "ranges": st.one_of(JSONISH, st.dictionaries(
                      st.one_of(TEXT, st.sampled_from(["0", "1", "-1", "99999999999"])),
                      st.one_of(JSONISH, st.lists(NUMBERS, max_size=3)), max_size=4))}))})


@FUZZ
@given(st.one_of(REQUEST, JSONISH))
def test_replay_request_raises_only_request_error(req):
    try:
        out = plan.validate_request(req)
    except plan.RequestError:
        return
    rate = out.get("rate_per_s")
    assert rate is None or (math.isfinite(rate) and rate > 0)
    coords = out["selection"].get("coords")
    assert coords is None or all(isinstance(c, str) for c in coords)
    if out["target"]:
        targets.explicit_target(out["broker"], out["target"])  # what was accepted resolves
    pin = out.get("pin")
    if pin is not None:  # an accepted pin bounds the job: finite, ordered, non-negative integers only
        for start, end in pin.get("ranges", {}).values():
            assert type(start) is int and type(end) is int and 0 <= start <= end
        assert "ranges" in pin or (type(pin["count"]) is int and pin["count"] >= 0)


MATCHER = st.one_of(TEXT, NUMBERS, st.dictionaries(
    st.sampled_from(["glob", "regex", "not", "not_glob", "not_regex", "value", "op", "negate", "x"]),
    st.one_of(TEXT, st.sampled_from(["(a+)+$", "(a|aa)*b", "a{1000}{1000}", "(a)\\1", "(?=a)", "[", ".*"]),
              JSONISH), max_size=3))
RULE = st.fixed_dictionaries(
    {"name": st.one_of(st.just("r1"), TEXT), "metric": st.one_of(st.just("kafka_group_lag_messages"), TEXT),
     "threshold": st.one_of(st.just(10), NUMBERS, TEXT)},
    optional={"for_s": st.one_of(NUMBERS, st.sampled_from(["inf", "nan", "1e400", "-inf", "60"])),
              "for": NUMBERS, "repeat_interval_s": st.one_of(NUMBERS, TEXT), "stale_after_s": NUMBERS,
              "selector": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["group", "topic"]), TEXT),
                                                    MATCHER, max_size=3), JSONISH),
              "aggregation": st.one_of(st.sampled_from(["series", "max", "sum", "count"]), JSONISH),
              "by": st.one_of(st.just(["group"]), JSONISH), "comparison": st.one_of(st.just(">"), JSONISH),
              "summary": st.one_of(TEXT, st.sampled_from(["{value:>999999999}", "{value!r}", "{0}", "{a.b}"])),
              "labels": JSONISH, "notify": JSONISH, "enabled": JSONISH, "severity": JSONISH, "no_data": JSONISH})
POINTS = [SeriesPoint({"group": "a" * 5000 + "!", "topic": "t"}, 1000, 50.0),
          SeriesPoint({"group": "g\ud800", "topic": "t"}, 1000, 5.0), SeriesPoint({}, 1000, 1.0)]


@FUZZ
@given(st.one_of(RULE, JSONISH))
def test_rule_spec_raises_only_rule_error(spec):
    try:
        rule = rule_from_dict(spec)
    except RuleError:
        return
    assert math.isfinite(rule.for_s) and int(rule.for_s * 1000) >= 0
    for labels, value in group_values(rule, POINTS, 1000).values():
        breaches(rule, value)
        assert len(render_summary(rule, labels, value)) < 100_000


@FUZZ
@given(st.one_of(st.dictionaries(st.one_of(st.sampled_from(["alertname", "group"]), TEXT), MATCHER, max_size=3),
                 JSONISH),
       st.one_of(st.integers(0, 2 ** 41), NUMBERS), st.one_of(st.integers(0, 2 ** 41), NUMBERS),
       st.one_of(NUMBERS, TEXT), st.one_of(TEXT, JSONISH), st.one_of(st.just(2.0), NUMBERS))
def test_silence_spec_raises_only_rule_error(matchers, start, end, actor, reason, hours):
    try:
        parsed = sil.validate(matchers, start, end, actor, reason)
        assert end - start <= 366 * 86_400_000 and parsed
    except RuleError:
        pass
    try:
        assert sil.end_after(1_000, hours) - 1_000 <= 366 * 86_400_000
    except RuleError:
        pass


SECTIONS = ["store", "kafka", "rabbitmq", "telemetry", "alerts", "dlq", "dashboard", "demo"]
CONFIG_DOC = st.one_of(
    st.text(max_size=300),
    st.dictionaries(st.one_of(st.sampled_from(SECTIONS), TEXT), JSONISH, max_size=4).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.sampled_from(["[" * 5000, "a: " + "1" * 5000, "a: !!python/object:os.system x", "\udcff", "- - -",
                     "kafka: {clusters: [{name: k, bootstrap_servers: 5}]}", "store: {path: 7}",
                     "&a [*a]", "a: &x [*x, *x]", "telemetry: {interval_s: .inf}"]))


@FUZZ
@given(CONFIG_DOC)
def test_config_file_raises_only_config_error(text):
    _CONFIG.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        load_settings(_CONFIG, environ={})
    except ConfigError:
        pass


_CONFIG_DIR = tempfile.TemporaryDirectory(prefix="eventdeck-fuzz-")
_CONFIG = Path(_CONFIG_DIR.name) / "eventdeck.yaml"


def test_the_profile_runs_at_least_a_thousand_examples_per_decoder():
    assert FUZZ.max_examples >= 1000 or os.environ.get("EVENTDECK_FUZZ_EXAMPLES")


def test_known_poison_inputs_are_refused_with_the_declared_error():
    """The inputs the issue reported as breaking something, one by one (a table, not generated)."""
    doc = _valid_summary()
    for mutate in (lambda d: d.update(dropped=10 ** 400), lambda d: d["sketch"].update(k=10 ** 6),
                   lambda d: d["sketch"].update(b=[1e308] * 3), lambda d: d["sketch"].update(b=[1] * 100_000),
                   lambda d: d["sketch"].update(b=[-1, 1, 1]), lambda d: d.update(consumer="x" * (1 << 20)),
                   lambda d: d.update(errors={"E": 5}), lambda d: d["sketch"].update(min=0.3, max=0.1)):
        d = json.loads(json.dumps(doc))
        mutate(d)
        try:
            decode_summary(json.dumps(d).encode())
            raise AssertionError(f"accepted {str(d)[:200]}")
        except SummaryError:
            pass
    for pairs in ([(hdr.SPRING + "original-topic", b"t"), (hdr.SPRING + "original-partition", v)]
                  for v in (b"--5", "²".encode(), b"-1", b"0.5", b"abc")):
        try:
            hdr.decode(pairs)
            raise AssertionError(f"accepted {pairs}")
        except hdr.HeaderError:
            pass
    for deaths in ([{"count": "abc"}], [{"routing-keys": 5}], [{"queue": "q", "time": math.inf}]):
        try:
            d = hdr.decode({"x-death": deaths})
            assert deaths[0].get("time") is math.inf and d.deaths[0].time_ms is None
        except hdr.HeaderError:
            assert deaths[0].get("time") is not math.inf
    for spec in ({"for_s": math.inf}, {"for_s": "inf"}, {"selector": {"g": {"regex": "(a)\\1"}}}):
        try:
            rule_from_dict({"name": "r", "metric": "a_b_c", "threshold": 1, **spec})
            raise AssertionError(f"accepted {spec}")
        except RuleError:
            pass
    try:
        sil.end_after(0, 1e300)
        raise AssertionError("accepted a silence of 1e300 hours")
    except RuleError:
        pass
    assert fmt_ts(253402300800000).startswith("(invalid") and fmt_ts(math.nan).startswith("(invalid")
    assert Decimal  # used by the AMQP strategy
