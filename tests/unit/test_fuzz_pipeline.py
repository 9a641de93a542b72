"""Pipeline fuzz (issue #23): inputs the decoders ACCEPT, driven through every later stage — store write on
both backends, query, pandas/Arrow (what pages render), ``/metrics`` exposition, notification body — and,
for RabbitMQ headers, every AMQP field type through pika's codec (as installed by brokers.amqp_fields),
decoding, display, coordinates and the replayed properties. No stage may raise; CC/BCC/user_id never reach
a replayed message. At least 1,000 examples per path (``EVENTDECK_FUZZ_EXAMPLES``)."""
from __future__ import annotations

import itertools
import json
import math
import os
import struct

import apprise
import pika
import pika.data
import pyarrow as pa
import pytest
from apprise.conversion.format import convert_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest

from alerts.message import compose
from alerts.notify import literal_title
from alerts.rules import rule_from_dict
from brokers import amqp_fields
from collectors.telemetry_samples import Counters, isolated_tick_samples
from core.names import LABEL_VALUE_MAX
from dlq import headers as hdr
from dlq import plan, rabbit_io
from dlq.payload import message_view, render
from instrument.sketch import new_sketch
from instrument.summary import Summary, SummaryError, decode_summary, encode_summary
from runner import prometheus
from store import db, queries
from store.writes import SampleWriter

N = int(os.environ.get("EVENTDECK_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=N, deadline=None, database=None, suppress_health_check=list(HealthCheck))
T0 = 1_800_000_000_000

# Names as an attacker would pick them: lone surrogates, NUL, RTL marks, 10k characters, Markdown/HTML, URLs.
NASTY = st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e", "\u200f", "\ufeff", "<script>", "</a>", "[x](http://e)",
                         "<http://evil|pay>", "<!channel>", "*", "_", "`", "&amp;", " / ", "\\", "'", '"', "\n",
                         "https://evil.example/?a=1&b=2", "é", "\U0001F600", "{", "%s", "\t"])
NAME = st.one_of(
    st.lists(st.one_of(NASTY, st.text(max_size=6)), min_size=1, max_size=8).map("".join),
    st.text(min_size=1, max_size=40),
    # long names built on demand (a st.just of a 10k string makes hypothesis print a huge repr)
    st.sampled_from([("x", 10_000), ("\ud800", 300), ("a\x00", 200)]).map(lambda t: t[0] * t[1]),
).filter(lambda s: s != "")

RULE = rule_from_dict({"name": "lag", "metric": "consumer_errors_total", "threshold": 0, "severity": "critical",
                       "summary": "{consumer} failing"})


def _summary_payload(consumer: str, instance: str, exc: str) -> bytes:
    sk = new_sketch(0.01)
    for _ in range(4):
        sk.add(0.02)
    return encode_summary(Summary(consumer, instance, "kafka", "", T0 - 5_000, T0, sk, {exc: 1}, 0))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_store(request, tmp_path_factory):
    """One store per backend for the whole module (hypothesis runs many examples per test)."""
    if request.param == "sqlite":
        location = tmp_path_factory.mktemp("fuzz") / "s.db"
        drop = None
    else:
        from tests.conftest import _pg_schema
        location, drop = _pg_schema(request.getfixturevalue("pg_database"))
    w = db.open_migrated(location)
    r = db.connect_reader(location)
    yield w, r
    w.close()
    r.close()
    if drop:
        drop()


class _Keep:
    """A reader /metrics may 'close' (the fixture closes the real one)."""

    def __init__(self, conn):
        self.conn = conn

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def close(self):
        pass


_cluster = itertools.count()


@FUZZ
@given(consumer=NAME, instance=NAME, exc=NAME)
def test_fuzz_telemetry_names_through_store_query_metrics_and_notification(fuzz_store, consumer, instance, exc):
    w, r = fuzz_store
    try:
        summary = decode_summary(_summary_payload(consumer, instance, exc))
    except SummaryError:
        return  # refused by the decoder: not this test's concern (test_fuzz_decoders)
    cluster = f"c{next(_cluster)}"
    rejected = []
    samples = isolated_tick_samples([summary], cluster, T0, Counters(), lambda s, e: rejected.append(e))
    assert not rejected and samples
    SampleWriter(w).write(samples)  # a surrogate / NUL / 10k name must not fail the write on either backend
    df = queries.latest(r, "consumer_errors_total", {"cluster": cluster})
    assert len(df) == 1 and df["value"].tolist() == [1.0]
    stored = df.iloc[0]
    assert len(stored["consumer"]) <= LABEL_VALUE_MAX and len(stored["exception"]) <= LABEL_VALUE_MAX
    pa.Table.from_pandas(df)  # what st.dataframe does with it
    for col in ("consumer", "exception"):
        stored[col].encode("utf-8")  # storable, exposable, sendable
    # /metrics: this cluster's rows through the exposition (text format must encode)
    rows = [(m, lab, ts, v) for m, lab, ts, v in _latest_rows(r) if f'"cluster":"{cluster}"' in lab]
    text = generate_latest(_registry(rows)).decode("utf-8")
    assert f'cluster="{cluster}"' in text
    # notification: composed from the stored labels, escaped per target format
    labels = {k: str(stored[k]) for k in ("cluster", "broker", "consumer", "exception")}
    title, body, _kind = compose(RULE, "firing", labels, 1.0, T0, T0, "http://127.0.0.1:8501")
    for fmt in (apprise.NotifyFormat.MARKDOWN, apprise.NotifyFormat.HTML):
        out = convert_between(apprise.NotifyFormat.TEXT, fmt, body) + literal_title(title, fmt)
        out.encode("utf-8")
        assert "<script>" not in out and "<http://evil|pay>" not in out


def _latest_rows(conn):
    from store import export
    return export.latest_rows(conn, -(2 ** 62))


def _registry(rows):
    from prometheus_client.registry import CollectorRegistry

    class C:
        def collect(self):
            yield from prometheus.families(rows)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    return reg


# --- RabbitMQ headers: every AMQP field type, nested; CC/BCC; through pika's codec and the DLQ code --------

def _short(b: bytes) -> bytes:
    return struct.pack("B", len(b)) + b


_KEY = st.one_of(st.sampled_from([b"CC", b"BCC", b"cc", b"x-death", b"x-first-death-queue", b"eventdeck-replay-id",
                                  b"eventdeck-replay-target", b"kafka_dlt-original-topic", b"\xff\xfe"]),
                 st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")[:255]))
_SCALAR = st.one_of(
    st.integers(0, 2 ** 64 - 1).map(lambda n: b"T" + struct.pack(">Q", n)),
    st.binary(min_size=8, max_size=8).map(lambda b: b"d" + b),
    st.binary(min_size=4, max_size=4).map(lambda b: b"f" + b),
    st.tuples(st.integers(0, 255), st.integers(-2 ** 31, 2 ** 31 - 1)).map(lambda t: b"D" + struct.pack(">Bi", *t)),
    st.integers(-2 ** 63, 2 ** 63 - 1).map(lambda n: b"l" + struct.pack(">q", n)),
    st.integers(-128, 127).map(lambda n: b"b" + struct.pack(">b", n)),
    st.integers(0, 2 ** 32 - 1).map(lambda n: b"i" + struct.pack(">I", n)),
    st.booleans().map(lambda v: b"t" + bytes([v])),
    st.one_of(st.binary(max_size=30), NAME.map(lambda s: s[:200].encode("utf-8", "surrogatepass"))).map(
        lambda b: b"S" + struct.pack(">I", len(b)) + b),
    st.binary(max_size=30).map(lambda b: b"x" + struct.pack(">I", len(b)) + b),
    st.just(b"V"),
)


def _table(children):
    return st.lists(st.tuples(_KEY, children), max_size=5, unique_by=lambda kv: kv[0]).map(
        lambda kv: b"F" + struct.pack(">I", sum(len(_short(k)) + len(v) for k, v in kv))
        + b"".join(_short(k) + v for k, v in kv))


_VALUE = st.recursive(_SCALAR, lambda c: st.one_of(
    _table(c), st.lists(c, max_size=4).map(lambda vs: b"A" + struct.pack(">I", sum(map(len, vs))) + b"".join(vs))),
    max_leaves=10)
_HEADERS = _table(_VALUE)


@FUZZ
@given(wire=_HEADERS, body=st.binary(max_size=200), user_id=st.one_of(st.none(), st.just("alice")))
def test_fuzz_rabbitmq_headers_through_codec_browse_and_replay_properties(wire, body, user_id):
    amqp_fields.install()
    headers, end = pika.data.decode_table(wire[1:], 0)  # the frame layer: never raises on a value
    assert end == len(wire) - 1
    props = pika.BasicProperties(headers=headers, user_id=user_id, message_id="m")
    msg, err = rabbit_io.to_message(body, props, 1)  # decode_lenient: HeaderError at most, returned not raised
    view = message_view(msg, err, "somewhere", 4096)
    json.dumps(view, default=str)  # the CLI's --json and the page's frames take it
    pa.Table.from_pylist([{k: str(v) for k, v in view["headers"].items()}] or [{}])
    assert isinstance(plan.rabbit_coord(body, msg.properties, hdr.plain_headers(headers)), str)
    # what a replay publishes: never CC/BCC/user_id; encodable; the rest as read
    out = rabbit_io._properties(msg, plan.replay_headers(msg.headers, "r" * 32, 1, _target()))
    assert not any(isinstance(k, str) and k.upper() in ("CC", "BCC") for k in out.headers) and out.user_id is None
    problem = rabbit_io.republish_problem(msg)
    if problem is None:
        out.encode()
        for k, v in out.headers.items():
            if k in headers and k not in hdr.EVENTDECK_HEADERS and not (isinstance(v, float) and math.isnan(v)):
                assert amqp_fields._same(v, headers[k])


def _target():
    from dlq.targets import Target
    return Target("rabbitmq", "x-death", exchange="", routing_key="orders")


# --- payloads: deep JSON, nested brackets, invalid UTF-8, huge --------------------------------------------

_DEEP = st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)
_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=10)),
                     lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)),
                     max_leaves=30).map(lambda d: json.dumps(d).encode())
_PAYLOAD = st.one_of(_DEEP, _JSON, st.binary(max_size=300), NAME.map(lambda s: s.encode("utf-8", "surrogatepass")),
                     st.integers(1, 2000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n))


@FUZZ
@given(payload=_PAYLOAD, limit=st.sampled_from([16, 4096, 1 << 20]))
def test_fuzz_payloads_render_for_page_and_cli(payload, limit):
    r = render(payload, limit)
    assert r.kind in ("empty", "json", "text", "hex") and r.size == len(payload)
    json.dumps({"payload": r.text})  # the CLI's --json
