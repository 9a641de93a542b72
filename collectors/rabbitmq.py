"""RabbitMQ collector: polls each configured cluster's management HTTP API into samples.

Metrics (labels in braces; every sample also carries ``cluster``):

* ``rabbitmq_queue_ready_messages{cluster,vhost,queue}``
* ``rabbitmq_queue_unacked_messages{cluster,vhost,queue}``
* ``rabbitmq_queue_messages{cluster,vhost,queue}`` (ready + unacked)
* ``rabbitmq_queue_consumers{cluster,vhost,queue}``
* ``rabbitmq_queue_consumer_utilisation_ratio{cluster,vhost,queue}`` (0..1)
* ``rabbitmq_queue_publish_rate_per_s{cluster,vhost,queue}``
* ``rabbitmq_queue_deliver_rate_per_s{cluster,vhost,queue}`` (deliver_get)
* ``rabbitmq_queue_ack_rate_per_s{cluster,vhost,queue}``
* ``rabbitmq_queue_redeliver_rate_per_s{cluster,vhost,queue}``
* ``rabbitmq_queue_head_age_seconds{cluster,vhost,queue}`` (only when publishers set a timestamp)
* ``rabbitmq_queue_error_rate_ratio{cluster,vhost,queue}`` (rejected or nacked / deliveries, 0..1)
* ``rabbitmq_queue_dlx_messages{cluster,vhost,queue}`` (quorum queues' ``messages_dlx``)
* ``rabbitmq_queue_info{cluster,vhost,queue,type}`` = 1 (type: classic, quorum, stream)
* ``dlq_messages{broker="rabbitmq",cluster,vhost,dlq}``
* ``dlq_inflow_rate_per_s{broker="rabbitmq",cluster,vhost,dlq}``
* ``dlq_source_info{broker="rabbitmq",cluster,vhost,dlq,source,via}`` = 1 per queue feeding the DLQ;
  ``via`` lists how it was found, comma-separated: ``arguments``, ``policy:<name>``, ``pattern``, ``map``
* ``rabbitmq_node_up{cluster,node}`` (1 running, 0 not)
* ``rabbitmq_node_mem_alarm{cluster,node}``, ``rabbitmq_node_disk_alarm{cluster,node}`` (1 = alarm)
* ``rabbitmq_node_fd_used_ratio{cluster,node}`` (0..1)
* ``collector_up{target="rabbitmq:<cluster>"}`` through ``store.status.set_status`` with the reason
  when down: connection refused / management plugin unreachable, authentication failed (401),
  TLS error, timeout, HTTP error.

Rates and error ratios need two polls (see ``collectors.rabbit_rates``); the first poll of a queue
writes gauges only. DLQ discovery is in ``collectors.rabbit_topology``.

Password: ``secret(cluster.password_env)``. Only for the local demo, when that variable is unset
and the management URL is a loopback address, the password defaults to ``guest`` (RabbitMQ's
``guest`` user can only log in from loopback anyway).
"""
from __future__ import annotations

import ipaddress
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import requests

from collectors.patterns import allowed
from collectors.rabbit_rates import QueueCounters, queue_rates
from collectors.rabbit_topology import QueueRef, resolve_dlqs
from collectors.scheduler import Backoff, JobSpec, now_ms as wall_clock_ms
from config import Settings, secret
from config.rabbitmq import RabbitClusterConfig
from store.db import connect_writer
from store.status import set_status
from store.types import Sample
from store.writes import SampleWriter

log = logging.getLogger(__name__)

QUEUE_COLUMNS = (
    "vhost", "name", "type", "arguments", "messages", "messages_ready", "messages_unacknowledged",
    "consumers", "consumer_utilisation", "consumer_capacity", "head_message_timestamp", "messages_dlx",
    "message_stats.publish", "message_stats.deliver_get", "message_stats.ack", "message_stats.redeliver",
    "message_stats.deliver_no_ack", "message_stats.get_no_ack",
)
NODE_COLUMNS = ("name", "running", "mem_alarm", "disk_free_alarm", "fd_used", "fd_total")
EXCHANGE_COLUMNS = ("vhost", "name", "type")
BINDING_COLUMNS = ("vhost", "source", "destination", "destination_type", "routing_key")
DEMO_PASSWORD = "guest"


def target_name(cluster: str) -> str:
    """The status target of a cluster: ``rabbitmq:<cluster>``."""
    return f"rabbitmq:{cluster}"


class RabbitError(Exception):
    """The cluster could not be polled; ``str(exc)`` is the operator-facing reason (no secrets)."""


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_password(cfg: RabbitClusterConfig) -> str:
    """The cluster's password from ``secret(password_env)``; ``guest`` only for a loopback demo node."""
    pw = secret(cfg.password_env)
    if pw is not None:
        return pw
    if _is_loopback(cfg.management_url):
        return DEMO_PASSWORD
    raise RabbitError(f"no password for cluster {cfg.name!r}: set the environment variable "
                      f"{cfg.password_env} (or add it to the secrets file)")


def _display_url(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass
class _Topology:
    fetched_ms: int
    policies: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]
    bindings: list[dict[str, Any]]


class RabbitCollector:
    """Polls one cluster. ``collect_once`` raises ``RabbitError`` with a clear reason when it cannot."""

    def __init__(self, cluster_cfg: RabbitClusterConfig, password: str,
                 now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.cfg = cluster_cfg
        self.password = password
        self.now_ms = now_ms
        self.base = cluster_cfg.management_url.rstrip("/")
        self.shown_url = _display_url(cluster_cfg.management_url)
        self.session = requests.Session()
        self.session.verify = cluster_cfg.ca_file or cluster_cfg.verify_tls
        self.bytes_last_cycle = 0
        self.requests_last_cycle = 0
        self._prev: dict[QueueRef, QueueCounters] = {}
        self._topology: _Topology | None = None

    # ------------------------------------------------------------------ HTTP

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = self.session.get(self.base + path, params=params, timeout=self.cfg.timeout_s,
                                    auth=(self.cfg.username, self.password))
        except requests.exceptions.SSLError as exc:
            raise RabbitError(f"TLS error talking to the management API at {self.shown_url}: "
                              f"{_short(exc)} (check verify_tls / ca_file)") from None
        except requests.exceptions.Timeout:
            raise RabbitError(f"timeout after {self.cfg.timeout_s:g}s waiting for the management API "
                              f"at {self.shown_url}") from None
        except requests.exceptions.ConnectionError as exc:
            why = "connection refused" if "refused" in str(exc).lower() else _short(exc)
            raise RabbitError(f"management plugin unreachable at {self.shown_url}: {why} "
                              "(is the node up and rabbitmq_management enabled?)") from None
        except requests.exceptions.RequestException as exc:
            raise RabbitError(f"request to the management API at {self.shown_url} failed: {_short(exc)}") from None
        self.requests_last_cycle += 1
        self.bytes_last_cycle += len(resp.content)
        if resp.status_code == 401:
            raise RabbitError(f"authentication failed (401) for user {self.cfg.username!r} at "
                              f"{self.shown_url}: check the password in {self.cfg.password_env}")
        if resp.status_code == 403:
            raise RabbitError(f"not authorised (403) for user {self.cfg.username!r} on {path}: "
                              "the user needs the 'monitoring' tag")
        if resp.status_code >= 400:
            raise RabbitError(f"HTTP {resp.status_code} from the management API at {self.shown_url}{path}")
        try:
            return resp.json()
        except ValueError:
            raise RabbitError(f"management plugin unreachable at {self.shown_url}: {path} did not "
                              "answer with the management API's JSON") from None

    def _paged(self, path: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            body = self._get(path, {"page": page, "page_size": self.cfg.page_size,
                                    "columns": ",".join(columns)})
            items.extend(body.get("items", []))
            pages = int(body.get("page_count", 1) or 1)
            page += 1
        # Queues created or deleted between pages can shift items: keep each queue once.
        unique = {(q.get("vhost", "/"), q.get("name")): q for q in items}
        return list(unique.values())

    def _cols(self, path: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        return self._get(path, {"columns": ",".join(columns)})

    # ------------------------------------------------------------------ fetching

    def _vhost_paths(self) -> list[str]:
        if self.cfg.vhosts == ["*"]:
            return ["/api/queues"]
        names = [v["name"] for v in self._cols("/api/vhosts", ("name",))]
        return [f"/api/queues/{quote(v, safe='')}" for v in names if allowed(v, self.cfg.vhosts, ())]

    def _queues(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in self._vhost_paths():
            out.extend(self._paged(path, QUEUE_COLUMNS))
        return out

    def _fresh_topology(self, queues: list[dict[str, Any]], now_ms: int) -> _Topology:
        t = self._topology
        if t is not None and now_ms - t.fetched_ms < self.cfg.topology_refresh_s * 1000:
            return t
        policies = [p for p in self._get("/api/policies") if allowed(p.get("vhost", "/"), self.cfg.vhosts, ())]
        wants_routes = any("x-dead-letter-exchange" in (q.get("arguments") or {}) for q in queues) or any(
            "dead-letter-exchange" in (p.get("definition") or {}) for p in policies)
        exchanges = self._cols("/api/exchanges", EXCHANGE_COLUMNS) if wants_routes else []
        bindings = self._cols("/api/bindings", BINDING_COLUMNS) if wants_routes else []
        self._topology = _Topology(now_ms, policies, exchanges, bindings)
        return self._topology

    # ------------------------------------------------------------------ samples

    def collect_once(self, now_ms: int) -> list[Sample]:
        """Poll the cluster once and return its samples stamped ``now_ms``."""
        self.bytes_last_cycle = self.requests_last_cycle = 0
        nodes = self._cols("/api/nodes", NODE_COLUMNS)
        queues = self._queues()
        topo = self._fresh_topology(queues, now_ms)
        cluster = self.cfg.name
        out: list[Sample] = []
        for n in nodes:
            out.extend(self._node_samples(n, now_ms))
        dlq_map = {name: (t.vhost, t.source_queue) for name, t in self.cfg.dlq_map.items()}
        dlqs = resolve_dlqs(queues, topo.policies, topo.exchanges, topo.bindings,
                            self.cfg.dlq_patterns, self.cfg.dlq_exclude, dlq_map)
        seen: dict[QueueRef, QueueCounters] = {}
        for q in queues:
            ref = QueueRef(q.get("vhost", "/"), q["name"])
            if not allowed(ref.name, self.cfg.queues_allow, self.cfg.queues_deny):
                continue
            labels = {"cluster": cluster, "vhost": ref.vhost, "queue": ref.name}
            out.extend(self._queue_gauges(q, labels, now_ms))
            if _num(q.get("messages")) is None:
                continue  # stats not emitted yet for this new queue: nothing more is known
            cur = QueueCounters.from_api(q, now_ms)
            seen[ref] = cur
            prev = self._prev.get(ref)
            rates = queue_rates(prev, cur) if prev is not None else None
            if rates is not None:
                for metric, value in (("rabbitmq_queue_publish_rate_per_s", rates.publish_per_s),
                                      ("rabbitmq_queue_deliver_rate_per_s", rates.deliver_per_s),
                                      ("rabbitmq_queue_ack_rate_per_s", rates.ack_per_s),
                                      ("rabbitmq_queue_redeliver_rate_per_s", rates.redeliver_per_s),
                                      ("rabbitmq_queue_error_rate_ratio", rates.error_ratio)):
                    if value is not None:
                        out.append(Sample(metric, labels, now_ms, value))
            info = dlqs.get(ref)
            if info is None:
                continue
            dl = {"broker": "rabbitmq", "cluster": cluster, "vhost": ref.vhost, "dlq": ref.name}
            out.append(Sample("dlq_messages", dl, now_ms, cur.messages))
            if rates is not None:
                out.append(Sample("dlq_inflow_rate_per_s", dl, now_ms, rates.dlq_inflow_per_s))
            via = ",".join(sorted(info.via))
            for src in sorted(info.sources):
                out.append(Sample("dlq_source_info", {**dl, "source": src.name, "via": via}, now_ms, 1.0))
        self._prev = seen
        return out

    @staticmethod
    def _queue_gauges(q: dict[str, Any], labels: dict[str, str], now_ms: int) -> list[Sample]:
        out = [Sample("rabbitmq_queue_info", {**labels, "type": str(q.get("type") or "classic")}, now_ms, 1.0)]
        utilisation = q.get("consumer_utilisation", q.get("consumer_capacity"))
        head_ts = _num(q.get("head_message_timestamp"))
        for metric, value in (("rabbitmq_queue_ready_messages", _num(q.get("messages_ready"))),
                              ("rabbitmq_queue_unacked_messages", _num(q.get("messages_unacknowledged"))),
                              ("rabbitmq_queue_messages", _num(q.get("messages"))),
                              ("rabbitmq_queue_consumers", _num(q.get("consumers"))),
                              ("rabbitmq_queue_consumer_utilisation_ratio", _num(utilisation)),
                              ("rabbitmq_queue_dlx_messages", _num(q.get("messages_dlx"))),
                              ("rabbitmq_queue_head_age_seconds",
                               None if head_ts is None else max(now_ms / 1000.0 - head_ts, 0.0))):
            if value is not None:
                out.append(Sample(metric, labels, now_ms, value))
        return out

    def _node_samples(self, n: dict[str, Any], now_ms: int) -> list[Sample]:
        labels = {"cluster": self.cfg.name, "node": str(n.get("name", ""))}
        out = [Sample("rabbitmq_node_up", labels, now_ms, 1.0 if n.get("running") else 0.0)]
        for metric, key in (("rabbitmq_node_mem_alarm", "mem_alarm"), ("rabbitmq_node_disk_alarm", "disk_free_alarm")):
            if isinstance(n.get(key), bool):
                out.append(Sample(metric, labels, now_ms, 1.0 if n[key] else 0.0))
        used, total = _num(n.get("fd_used")), _num(n.get("fd_total"))
        if used is not None and total:
            out.append(Sample("rabbitmq_node_fd_used_ratio", labels, now_ms, used / total))
        return out


class ClusterJob:
    """One scheduler tick for one cluster: collect, write samples and ``collector_up`` with the reason.

    Never raises for a broker problem; the password is re-read every attempt so a rotated secret is
    picked up without a restart.
    """

    def __init__(self, cfg: RabbitClusterConfig, store_path: str | Path,
                 now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.cfg = cfg
        self.store_path = store_path
        self.target = target_name(cfg.name)
        self.collector = RabbitCollector(cfg, "", now_ms)
        self.backoff = Backoff()
        self.last_reason: str | None = None
        self._conn: sqlite3.Connection | None = None  # opened on the first tick, kept with its series cache
        self._writer: SampleWriter | None = None

    def __call__(self) -> None:
        if not self.backoff.should_attempt():
            return
        now = self.collector.now_ms()
        started = time.monotonic()
        samples: list[Sample] = []
        reason = None
        try:
            self.collector.password = resolve_password(self.cfg)
            samples = self.collector.collect_once(now)
        except RabbitError as exc:
            reason = str(exc)
        duration_ms = int((time.monotonic() - started) * 1000)
        if self._conn is None:
            self._conn = connect_writer(self.store_path)
            self._writer = SampleWriter(self._conn)
        if samples:
            self._writer.write(samples)
        set_status(self._conn, self.target, reason is None, reason, now, duration_ms)
        if reason is None:
            if self.last_reason is not None:
                log.info("%s is back up", self.target)
            self.backoff.succeeded()
        else:
            if reason != self.last_reason:
                log.warning("%s is down: %s", self.target, reason)
            self.backoff.failed()
        self.last_reason = reason

    def close(self) -> None:
        """Close the HTTP session and the writer connection (the service is stopping)."""
        self.collector.session.close()
        conn, self._conn, self._writer = self._conn, None, None
        if conn is not None:
            conn.close()


def jobs(settings: Settings, store_path: str | Path) -> list[JobSpec]:
    """One collection job per configured RabbitMQ cluster."""
    specs = []
    for c in settings.rabbitmq.clusters:
        job = ClusterJob(c, store_path)
        specs.append(JobSpec(job.target, job, c.interval_s, close=job.close))
    return specs


def _short(exc: BaseException) -> str:
    """The innermost cause of a requests error, on one line."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
