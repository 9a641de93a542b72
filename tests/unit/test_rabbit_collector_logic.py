"""The RabbitMQ collector's pure parts: backoff, password default, URL display, samples from API items."""
from __future__ import annotations

import pytest

from brokers.rabbitmq import RabbitError, display_url, is_loopback, resolve_password
from collectors.rabbitmq import RabbitCollector
from config.rabbitmq import RabbitClusterConfig
from runner.collect import CollectJob
from runner.jobs import Backoff


@pytest.mark.parametrize("events, attempts", [
    # all good: every tick attempts
    ("SSSS", "1111"),
    # 1st failure waits 1 interval (next tick attempts), 2nd waits 2 (one tick skipped)
    ("FF.S", "1101"),
    # 3rd failure waits 4 intervals (three ticks skipped)
    ("FF.F...S", "11010001"),
    # capped at 5 intervals: after the 4th and later failures four ticks are skipped
    ("FF.F...F....F....", "11010001000010000"),
    # a success resets the backoff
    ("FF.SF", "11011"),
])
def test_backoff(events, attempts):
    # events: per tick, S = collection succeeds, F = fails, . = the tick must be skipped
    b, got = Backoff(), ""
    for e in events:
        ok = b.should_attempt()
        got += "1" if ok else "0"
        if ok:
            b.succeeded() if e == "S" else b.failed()
    assert got == attempts


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:15672", True),     # IPv4 loopback
    ("http://127.8.9.10:15672", True),    # all of 127/8 is loopback
    ("http://localhost:15672", True),
    ("http://[::1]:15672", True),         # IPv6 loopback
    ("https://rabbit.prod:15671", False), # a real host never gets the demo password
    ("http://10.0.0.5:15672", False),
])
def test_is_loopback(url, loopback):
    assert is_loopback(url) is loopback


@pytest.mark.parametrize("url, env, expected", [
    # the variable wins, loopback or not
    ("http://127.0.0.1:15672", {"PW": "s3cret"}, "s3cret"),
    ("https://rabbit.prod:15671", {"PW": "s3cret"}, "s3cret"),
    # unset on loopback: the demo default
    ("http://127.0.0.1:15672", {}, "guest"),
    # unset elsewhere: an error naming the variable
    ("https://rabbit.prod:15671", {}, RabbitError),
])
def test_resolve_password(monkeypatch, url, env, expected):
    monkeypatch.delenv("PW", raising=False)
    monkeypatch.delenv("EVENTDECK_SECRETS_FILE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = RabbitClusterConfig(name="c", management_url=url, password_env="PW")
    if expected is RabbitError:
        with pytest.raises(RabbitError, match="set the environment variable PW"):
            resolve_password(cfg)
    else:
        assert resolve_password(cfg) == expected


@pytest.mark.parametrize("url, shown", [
    ("http://127.0.0.1:15672/", "http://127.0.0.1:15672"),
    # credentials in the URL are never shown
    ("https://admin:hunter2@rabbit.prod:15671/", "https://rabbit.prod:15671"),
    ("http://rabbit/mgmt", "http://rabbit/mgmt"),  # a path prefix is kept
])
def test_display_url(url, shown):
    assert display_url(url) == shown


LABELS = {"cluster": "c", "vhost": "/", "queue": "q"}


@pytest.mark.parametrize("item, expected", [
    # a classic queue with a timestamped head message 30 s old
    ({"type": "classic", "messages": 5, "messages_ready": 3, "messages_unacknowledged": 2, "consumers": 1,
      "consumer_utilisation": 0.5, "head_message_timestamp": 70},
     {"rabbitmq_queue_messages": 5, "rabbitmq_queue_ready_messages": 3, "rabbitmq_queue_unacked_messages": 2,
      "rabbitmq_queue_consumers": 1, "rabbitmq_queue_consumer_utilisation_ratio": 0.5,
      "rabbitmq_queue_head_age_seconds": 30.0}),
    # a quorum queue: messages_dlx is reported, no head timestamp, utilisation under its newer name
    ({"type": "quorum", "messages": 0, "messages_ready": 0, "messages_unacknowledged": 0, "consumers": 0,
      "consumer_capacity": 0, "messages_dlx": 4},
     {"rabbitmq_queue_messages": 0, "rabbitmq_queue_ready_messages": 0, "rabbitmq_queue_unacked_messages": 0,
      "rabbitmq_queue_consumers": 0, "rabbitmq_queue_consumer_utilisation_ratio": 0,
      "rabbitmq_queue_dlx_messages": 4}),
    # a brand-new queue whose stats were not emitted yet: only its type is known (no zeros invented)
    ({"type": "classic"}, {}),
    # a head timestamp in the future (publisher clock skew) is age 0, not negative
    ({"type": "classic", "head_message_timestamp": 500}, {"rabbitmq_queue_head_age_seconds": 0.0}),
])
def test_queue_gauges(item, expected):
    samples = RabbitCollector._queue_gauges(item, LABELS, 100_000)
    info = [s for s in samples if s.metric == "rabbitmq_queue_info"]
    assert [s.labels["type"] for s in info] == [item["type"]]
    assert {s.metric: s.value for s in samples if s.metric != "rabbitmq_queue_info"} == expected


@pytest.mark.parametrize("node, expected", [
    # healthy node
    ({"name": "n1", "running": True, "mem_alarm": False, "disk_free_alarm": False, "fd_used": 50, "fd_total": 1000},
     {"rabbitmq_node_up": 1, "rabbitmq_node_mem_alarm": 0, "rabbitmq_node_disk_alarm": 0,
      "rabbitmq_node_fd_used_ratio": 0.05}),
    # a cluster member that is down reports running=false and nothing else
    ({"name": "n2", "running": False}, {"rabbitmq_node_up": 0}),
    # alarms raised; fd figures not numeric (Windows) are skipped
    ({"name": "n3", "running": True, "mem_alarm": True, "disk_free_alarm": True, "fd_used": "install_handle",
      "fd_total": 0}, {"rabbitmq_node_up": 1, "rabbitmq_node_mem_alarm": 1, "rabbitmq_node_disk_alarm": 1}),
])
def test_node_samples(node, expected):
    c = RabbitCollector(RabbitClusterConfig(name="c"))
    samples = c._node_samples(node, 1)
    assert all(s.labels == {"cluster": "c", "node": node["name"]} for s in samples)
    assert {s.metric: s.value for s in samples} == pytest.approx(expected)


def test_jobs_one_per_cluster(tmp_path):
    from collectors.rabbitmq import jobs
    from config import Settings

    settings = Settings.model_validate({"rabbitmq": {"clusters": [{"name": "a", "interval_s": 5},
                                                                  {"name": "b"}]}})
    specs = jobs(settings, tmp_path / "s.db")
    assert [(s.id, s.interval_s, s.after_tick) for s in specs] == [("rabbitmq:a", 5.0, True),
                                                                  ("rabbitmq:b", 15.0, True)]
    assert all(isinstance(s.func, CollectJob) for s in specs)
    assert [s.func.target for s in specs] == ["rabbitmq:a", "rabbitmq:b"]


@pytest.mark.parametrize("mgmt, urls, expected", [
    ("http://127.0.0.1:15672", [], ["http://127.0.0.1:15692"]),          # single node: the management host
    ("https://rabbit.prod:15671/", [], ["https://rabbit.prod:15692"]),    # same scheme (and TLS profile)
    ("http://[::1]:15672", [], ["http://[::1]:15692"]),
    ("http://a:15672", ["https://n1:15691/", "https://n2:15691"], ["https://n1:15691", "https://n2:15691"]),
])
def test_prometheus_urls(mgmt, urls, expected):
    from brokers.rabbitmq import prometheus_urls
    cfg = RabbitClusterConfig(name="c", management_url=mgmt, prometheus_urls=urls)
    assert prometheus_urls(cfg) == expected


def test_prometheus_urls_must_be_http():
    with pytest.raises(ValueError, match="prometheus_urls"):
        RabbitClusterConfig(name="c", prometheus_urls=["ftp://x:1"])


def test_prometheus_client_sends_no_credentials():
    from brokers.rabbitmq import ManagementClient, PrometheusClient
    cfg = RabbitClusterConfig(name="c")
    assert ManagementClient.auth and not PrometheusClient.auth
    assert PrometheusClient(cfg, "http://h:15692/").base == "http://h:15692"


@pytest.mark.parametrize("interval_s, times_s, kinds", [
    (0, [0, 15, 30], "FFF"),                    # default: everything every cycle
    (60, [0, 15, 30, 45, 60, 75], "FGGGFG"),    # a full cycle when the counters are 60 s old
    (60, [0, 15, 10, 20], "FGGG"),              # the clock went back within the interval: still gauges
    (60, [100, 30, 45], "FFG"),                 # back past the last full cycle: a full one
])
def test_full_or_gauge_cycle(monkeypatch, interval_s, times_s, kinds):
    col = RabbitCollector(RabbitClusterConfig(name="c", counters_interval_s=interval_s))
    got: list[str] = []
    monkeypatch.setattr(col, "_full_samples", lambda now: got.append("F") or [])
    monkeypatch.setattr(col, "_gauge_samples", lambda now: got.append("G") or [])
    for t in times_s:
        col.samples(t * 1000)
    assert "".join(got) == kinds


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_globs = st.lists(st.text(st.sampled_from("ab.*?[]!-"), max_size=6), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ab.-[]*?!"), max_size=8), _globs, _globs)
def test_compiled_queue_filter_is_allowed(name, allow, deny):
    from brokers.naming import allowed
    from brokers.naming import is_dlq
    from collectors.rabbit_topology import glob_matcher
    assert glob_matcher(allow, deny)(name) == allowed(name, allow, deny) == is_dlq(name, allow, deny)


@pytest.mark.parametrize("page_size, queues, plan", [
    # the first read pages (500 a page) to learn the count; then one unsorted request with timeout_s per
    # 500 queues found (two reads with page_size set: two pages each)
    (0, 1200, [("pages", 500, 10.0)] * 3 + [("one", None, 30.0)] * 2),
    (0, 3, [("pages", 500, 10.0), ("one", None, 10.0), ("one", None, 10.0)]),
    (0, 0, [("pages", 500, 10.0), ("one", None, 10.0)]),
    (2, 3, [("pages", 2, 10.0)] * 4),  # page_size set: pages every time, as before
])
def test_queue_reads_request_plan(page_size, queues, plan):
    items = [{"vhost": "/", "name": f"q{i}"} for i in range(queues)]
    col = RabbitCollector(RabbitClusterConfig(name="c", page_size=page_size, vhosts=["*"], timeout_s=10))
    got: list[tuple] = []

    def get(path, params=None, timeout=None):
        assert path == "/api/queues" and params["columns"]
        if "page" in params:
            got.append(("pages", params["page_size"], timeout or col.cfg.timeout_s))
            size, page = params["page_size"], params["page"]
            return {"items": items[(page - 1) * size:page * size], "page_count": max(1, -(-len(items) // size))}
        assert params["sort"] == ""
        got.append(("one", None, timeout))
        return items

    col._get = get
    reads = [col._queues() for _ in range(2 if page_size else len([p for p in plan if p[0] == "one"]) + 1)]
    assert got == plan
    assert all(sorted(q["name"] for q in r) == sorted(q["name"] for q in items) for r in reads)
