"""The metric catalogue (``core.metrics``) is the one list of what Eventdeck writes.

Every metric name the code writes is found on the AST: the first argument of every ``Sample(...)`` call and
of every call of a write helper (a function that passes its first parameter on as a ``Sample``'s metric, such as
``collectors.kafka_state._Cycle.put``), resolved from a literal, a catalogue constant, a module constant (imported
or not), or a ``for metric, value in ((name, ...), ...)`` loop. A name that cannot be resolved fails the test, so a
new kind of write site cannot slip past it. The written names and the catalogue are the same set; the README's
metric reference table is the catalogue, row for row.
"""
from __future__ import annotations

import ast
import functools
import importlib
import re
from pathlib import Path

import pytest

from core import metrics
from core.names import is_label_name, is_metric_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["collectors", "runner", "store", "alerts", "dlq", "views", "core", "config", "brokers", "eventdeck",
            "demo", "serve.py", "app.py"]
UNITS = {"parts", "messages", "s", "msg/s", "calls/s", "ratio", "offset", "code", "1", "members", "consumers", "requests",
         "instances", "calls", "summaries", "samples", "inputs", "deliveries"}


def _sources() -> list[Path]:
    out = []
    for name in PACKAGES:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [p for p in out if "build" not in p.parts]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _call_name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


class _Module:
    """One source file: its parents map, module-level string constants and imported names."""

    def __init__(self, path: Path):
        self.path = path
        self.tree = ast.parse(path.read_text(), str(path))
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.constants: dict[str, str] = {}
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        self.sequences: dict[str, ast.expr] = {}  # module-level tuples/lists a loop may iterate over
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Tuple, ast.List)):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.sequences[t.id] = node.value
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.constants[t.id] = node.value.value
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for a in node.names:
                    self.imported[a.asname or a.name] = (node.module, a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    self.imported[a.asname or a.name] = (a.name, "")

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...]):
        node = self.parent.get(node)
        while node is not None:
            if isinstance(node, kinds):
                yield node
            node = self.parent.get(node)

    def helpers(self) -> set[str]:
        """Functions that hand their first parameter on as a Sample's metric (write helpers)."""
        out = set()
        for fn in ast.walk(self.tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and _call_name(call) == "Sample" and call.args \
                        and isinstance(call.args[0], ast.Name) and params and call.args[0].id == params[0]:
                    out.add(fn.name)
        return out

    def is_helper_param(self, name: ast.Name, helpers: set[str]) -> bool:
        for fn in self.enclosing(name, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
            return fn.name in helpers and bool(params) and params[0] == name.id
        return False

    def resolve(self, arg: ast.expr, helpers: set[str]) -> list[str] | None:
        """The metric names ``arg`` can hold, [] for a helper's own parameter, None when unresolvable."""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [arg.value]
        if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
            module, _ = self.imported.get(arg.value.id, ("", ""))
            target = f"{module}.{self.imported[arg.value.id][1]}".rstrip(".") if module else ""
            return _module_constant(target, arg.attr) if target else None
        if not isinstance(arg, ast.Name):
            return None
        if self.is_helper_param(arg, helpers):
            return []
        for loop in self.enclosing(arg, (ast.For, ast.comprehension)):
            found = _loop_values(loop, arg.id, self.sequences)
            if found is not None:
                return found
        if arg.id in self.constants:
            return [self.constants[arg.id]]
        if arg.id in self.imported:
            module, name = self.imported[arg.id]
            return _module_constant(module, name)
        return None


def _module_constant(module: str, name: str) -> list[str] | None:
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return [value] if isinstance(value, str) else None


def _loop_values(loop: ast.For | ast.comprehension, name: str,
                 sequences: dict[str, ast.expr]) -> list[str] | None:
    """Values ``name`` takes in ``for (name, ...) in ((literal, ...), ...)`` (the sequence inline or a module-level
    name); None when the loop does not bind it."""
    target = loop.target
    if isinstance(target, ast.Name):
        index = 0 if target.id == name else None
        whole = True
    elif isinstance(target, ast.Tuple):
        ids = [e.id if isinstance(e, ast.Name) else None for e in target.elts]
        index = ids.index(name) if name in ids else None
        whole = False
    else:
        return None
    if index is None:
        return None
    seq = sequences.get(loop.iter.id) if isinstance(loop.iter, ast.Name) else loop.iter
    if not isinstance(seq, (ast.Tuple, ast.List)):
        return None
    out = []
    for item in seq.elts:
        value = item if whole else (item.elts[index] if isinstance(item, (ast.Tuple, ast.List)) else None)
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return None
        out.append(value.value)
    return out


@functools.lru_cache(maxsize=1)
def written_metrics() -> tuple[dict[str, list[str]], list[str]]:
    """{metric: [where written]} of every write site, and the write sites whose metric cannot be resolved."""
    found: dict[str, list[str]] = {}
    unresolved = []
    for path in _sources():
        mod = _Module(path)
        helpers = mod.helpers()
        for call in ast.walk(mod.tree):
            if not (isinstance(call, ast.Call) and call.args):
                continue
            name = _call_name(call)
            if name != "Sample" and name not in helpers:
                continue
            names = mod.resolve(call.args[0], helpers)
            if names is None:
                unresolved.append(f"{mod.where(call)}: {ast.unparse(call.args[0])}")
                continue
            for n in names:
                found.setdefault(n, []).append(mod.where(call))
    return found, unresolved


def test_the_scan_sees_the_known_kinds_of_write_site():
    found, _ = written_metrics()
    where = {m: " ".join(w) for m, w in found.items()}
    assert "collectors/kafka_state.py" in where["kafka_group_lag_messages"]  # a write helper (cycle.put)
    assert "collectors/kafka_state.py" in where["dlq_messages"]  # the helper passed on as a callable
    assert "collectors/rabbitmq.py" in where["rabbitmq_node_disk_alarm"]  # a loop over (name, key) pairs
    assert "collectors/telemetry_samples.py" in where["consumer_errors_total"]  # a module constant
    assert "store/rejects.py" in where["eventdeck_rejected_inputs_total"]  # a constant imported from core
    assert "runner/collect.py" in where["collector_duration_seconds"]
    assert "store/status.py" in where["collector_up"]


def test_every_write_site_names_its_metric_resolvably():
    _, unresolved = written_metrics()
    assert unresolved == [], "write sites whose metric the catalogue test cannot read (use a literal or a " \
                             "core.metrics constant):\n" + "\n".join(unresolved)


def test_every_written_metric_is_in_the_catalogue_and_every_entry_is_written():
    found, _ = written_metrics()
    missing = {m: w for m, w in found.items() if m not in metrics.CATALOGUE}
    assert missing == {}, "written but not in core/metrics.py"
    assert sorted(set(metrics.CATALOGUE) - set(found)) == [], "in the catalogue but written nowhere"


@pytest.mark.parametrize("m", list(metrics.CATALOGUE.values()), ids=list(metrics.CATALOGUE))
def test_entry_is_well_formed(m):
    assert is_metric_name(m.name)
    assert m.kind == (metrics.COUNTER if m.name.endswith("_total") else metrics.GAUGE)
    assert m.unit in UNITS
    assert m.labels and all(is_label_name(lab) for lab in m.labels) and len(set(m.labels)) == len(m.labels)
    assert set(m.optional) <= set(m.labels) and set(m.exposed_labels) <= set(m.labels)
    assert re.fullmatch(r"eventdeck_[a-z][a-z0-9_]*", m.exposed) and "eventdeck_eventdeck_" not in m.exposed
    assert m.help and not m.help[0].islower() and "|" not in m.help and m.display


def test_exposed_names_are_unique():
    names = [m.exposed for m in metrics.CATALOGUE.values()]
    assert len(names) == len(set(names))


def test_constants_are_the_names():
    consts = {v for k, v in vars(metrics).items() if k.isupper() and isinstance(v, str) and v in metrics.CATALOGUE}
    assert consts == set(metrics.CATALOGUE)
    assert metrics.KAFKA_GROUP_LAG_MESSAGES == "kafka_group_lag_messages"


def _readme_table() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    header = metrics.HEADER.splitlines()[0]
    assert lines.count(header) == 1, "README.md has no (or more than one) metric reference table"
    start = lines.index(header) + 2
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return [lines[start - 1], *lines[start:end]]


def test_readme_metric_reference_is_the_catalogue():
    table = _readme_table()
    assert table[0] == metrics.HEADER.splitlines()[1]
    rows = table[1:]
    names = [re.match(r"\| `([a-z0-9_]+)` \|", r).group(1) if re.match(r"\| `([a-z0-9_]+)` \|", r) else r
             for r in rows]
    assert names == list(metrics.CATALOGUE), "README metric reference: rows differ from core/metrics.py " \
                                             "(python -m core.metrics prints the table)"
    for row, m in zip(rows, metrics.CATALOGUE.values()):
        assert row == metrics.reference_row(m), f"README row of {m.name} differs from the catalogue"


def test_readme_row_carries_every_field():
    m = metrics.CATALOGUE["dlq_messages"]
    cells = [c.strip() for c in metrics.reference_row(m).strip("|").split("|")]
    assert cells == ["`dlq_messages`", "`eventdeck_dlq_messages`", "gauge", "messages",
                     "broker, cluster, [vhost], dlq", m.help]
    lag = metrics.reference_row(metrics.CATALOGUE["kafka_group_lag_messages"])
    assert "cluster → cluster_name, group, topic, partition" in lag and "`eventdeck_kafka_consumergroup_group_lag`" in lag


def test_every_metric_read_by_name_is_in_the_catalogue():
    """The pages, alerts and DLQ code read series by name (``queries.latest(conn, "dlq_messages")``, built-in rules):
    a misspelt or retired name there would read nothing, silently."""
    from alerts.builtin import BUILTIN_RULES

    read: dict[str, list[str]] = {}
    for path in _sources():
        mod = _Module(path)
        for call in ast.walk(mod.tree):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == "queries" \
                    and len(call.args) > 1 and isinstance(call.args[1], ast.Constant) \
                    and isinstance(call.args[1].value, str):
                read.setdefault(call.args[1].value, []).append(mod.where(call))
    for rule in BUILTIN_RULES:
        read.setdefault(rule["metric"], []).append(f"built-in rule {rule['name']}")
    assert "dlq_source_info" in read and "collector_up" in read  # the scan sees the reads it is meant to see
    assert {m: w for m, w in read.items() if m not in metrics.CATALOGUE} == {}


def _label_problems(samples) -> list[str]:
    out = []
    for s in samples:
        m = metrics.CATALOGUE[s.metric]
        required = set(m.labels) - set(m.optional)
        if not required <= set(s.labels) <= set(m.labels):
            out.append(f"{s.metric}{sorted(s.labels)}: catalogue says {list(m.labels)} (optional {list(m.optional)})")
    return sorted(set(out))


def test_kafka_collector_series_carry_the_catalogues_labels():
    """Real derivation (collectors.kafka_state) over cycles of a group lagging on a topic with a DLQ: every
    series it writes carries exactly the labels the catalogue gives it."""
    from collectors.kafka_state import ClusterState, GroupInfo, Snapshot
    from config.kafka import KafkaClusterConfig

    state = ClusterState(KafkaClusterConfig(name="c", bootstrap_servers=["127.0.0.1:9092"], status_window_s=10))
    seen = []
    for i in range(8):
        end = {("orders", 0): 100 + 10 * i, ("orders", 1): 50, ("orders.DLT", 0): 3 + i}
        committed = {"g": {("orders", 0): 90 + 5 * i}}
        snap = Snapshot({"g": GroupInfo("Stable", 2, {"orders"})}, committed,
                        {"orders": [0, 1], "orders.DLT": [0]}, end, {("orders.DLT", 0): 0}, requests=6)
        samples, _ = state.update(snap, 1_000 * i)
        seen += samples
    written = {s.metric for s in seen}
    assert {"kafka_group_lag_messages", "kafka_group_partition_no_offset", "kafka_group_drain_eta_seconds",
            "dlq_messages", "dlq_source_info", "kafka_topic_produce_rate_per_s"} <= written
    assert _label_problems(seen) == []


def test_telemetry_series_carry_the_catalogues_labels():
    from collectors.telemetry_samples import Counters, tick_samples
    from instrument.sketch import new_sketch
    from instrument.summary import Summary

    sk = new_sketch(0.01)
    for v in (0.1, 0.2, 0.3):
        sk.add(v)
    samples = tick_samples([Summary("pay", "i1", "kafka", "prod", 0, 10_000, sk, {"x.Timeout": 1}, 2)], "prod",
                           10_000, Counters())
    assert {s.metric for s in samples} == {m for m in metrics.CATALOGUE if m.startswith("consumer_")}
    assert _label_problems(samples) == []


def test_rabbitmq_collector_series_carry_the_catalogues_labels(monkeypatch):
    """The RabbitMQ collector's sample building over cycles of canned management API answers (a worked queue
    with its DLQ, a quorum queue, a node): every series carries exactly the catalogue's labels."""
    from collectors.rabbitmq import RabbitCollector
    from config.rabbitmq import RabbitClusterConfig

    c = RabbitCollector(RabbitClusterConfig(name="r", status_window_s=10, streams=False))
    tick = {"i": 0}

    def queue(name, qtype, ready, stats, **extra):
        return {"vhost": "/", "name": name, "type": qtype, "arguments": {}, "messages": ready, "messages_ready": ready,
                "messages_unacknowledged": 0, "consumers": 1, "consumer_utilisation": 0.5,
                "head_message_timestamp": 1, "message_stats": stats, **extra}

    def fake_get(path, params=None, timeout=None):
        i = tick["i"]
        stats = {"publish": 100 * i, "deliver_get": 90 * i, "ack": 80 * i, "redeliver": i,
                 "deliver_no_ack": 0, "get_no_ack": 0}
        queues = [queue("work", "classic", 10 + i, stats),
                  queue("work.dlq", "classic", 2 + i, {"publish": 0, "ack": 0}),
                  queue("orders", "quorum", 3, stats, messages_dlx=1, arguments={"x-delivery-limit": 5})]
        answers = {
            "/api/nodes": [{"name": "n1", "running": True, "mem_alarm": False, "disk_free_alarm": False,
                            "fd_used": 5, "fd_total": 100}],
            # the first read pages, the next ones take every queue in one request (page_size 0)
            "/api/queues": {"page_count": 1, "items": queues} if params and "page" in params else queues,
            "/api/policies": [], "/api/exchanges": [], "/api/bindings": [],
            "/api/overview": {"rabbitmq_version": "3.13.0"},
        }
        return answers[path]

    monkeypatch.setattr(c, "_get", fake_get)
    seen = []
    for i in range(8):
        tick["i"] = i
        seen += c.samples(10_000 + 1_000 * i)
    written = {s.metric for s in seen}
    assert {"rabbitmq_queue_ready_messages", "rabbitmq_queue_publish_rate_per_s", "rabbitmq_queue_info",
            "rabbitmq_node_up", "dlq_messages", "dlq_source_info", "rabbitmq_queue_delivery_limit",
            "rabbitmq_queue_status"} <= written
    assert _label_problems(seen) == []
