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
* ``rabbitmq_queue_error_rate_ratio{cluster,vhost,queue}`` (0..1; dead-lettered / (consumed + dead-lettered)
  for a queue with its own DLQs, else rejected or nacked / deliveries; none for DLQs; see
  ``collectors.rabbit_queues``)
* ``rabbitmq_queue_status{cluster,vhost,queue}`` (``core.codes.Status``: 0 OK, 1 WARN, 3 STALL, 4 STOP;
  not for DLQs, which nobody consumes by design)
* ``rabbitmq_queue_drain_eta_seconds{cluster,vhost,queue}`` (ready messages / smoothed net drain rate;
  ``collectors.drain.NOT_DRAINING_S`` when not draining)
* ``rabbitmq_queue_dlx_messages{cluster,vhost,queue}`` (quorum queues' ``messages_dlx``)
* ``rabbitmq_queue_info{cluster,vhost,queue,type}`` = 1 (type: classic, quorum, stream); a stream's
  ``rabbitmq_queue_messages`` is its size in offsets; streams have no queue status or drain ETA (their
  consumers' are below)
* ``rabbitmq_queue_delivery_limit{cluster,vhost,queue}`` (quorum queues with a delivery limit) and
  ``rabbitmq_queue_delivery_limit_without_dlx{cluster,vhost,queue}`` (the limit when the queue has no
  dead-letter exchange, so messages past it are dropped silently; else 0): ``collectors.rabbit_quorum``
* ``rabbitmq_stream_last_offset{cluster,vhost,stream}``; ``rabbitmq_stream_max_lag_messages{cluster,vhost,stream}``
  (the worst consumer's lag); ``rabbitmq_stream_up{cluster,vhost,stream}`` (1 read, 0 the stream
  protocol failed: its consumers are ERR)
* per consumer name, ``{cluster,vhost,stream,consumer}``: ``rabbitmq_stream_consumer_offset`` (stored),
  ``rabbitmq_stream_consumer_lag_messages``, ``rabbitmq_stream_consumer_lag_seconds`` (exact),
  ``rabbitmq_stream_consumer_status`` (``core.codes.Status``), ``rabbitmq_stream_consumer_drain_eta_seconds``,
  ``rabbitmq_stream_consumer_live`` (subscriptions with that name now); see ``collectors.rabbit_streams``
* ``dlq_messages{broker="rabbitmq",cluster,vhost,dlq}``
* ``dlq_inflow_rate_per_s{broker="rabbitmq",cluster,vhost,dlq}``
* ``dlq_source_info{broker="rabbitmq",cluster,vhost,dlq,source,via}`` = 1 per queue feeding the DLQ;
  ``via`` lists how it was found, comma-separated: ``arguments``, ``policy:<name>``, ``pattern``, ``map``
* ``rabbitmq_node_up{cluster,node}`` (1 running, 0 not)
* ``rabbitmq_node_mem_alarm{cluster,node}``, ``rabbitmq_node_disk_alarm{cluster,node}`` (1 = alarm)
* ``rabbitmq_node_fd_used_ratio{cluster,node}`` (0..1)
* ``collector_up{target="rabbitmq:<cluster>"}`` and ``collector_duration_seconds``, written by the job
  runner (``runner.collect``), with the reason when down: connection refused / management plugin
  unreachable, authentication failed (401), TLS error, timeout, HTTP error.

Rates and error ratios need two polls (see ``collectors.rabbit_rates``); the first poll of a queue
writes gauges only. DLQ discovery is in ``collectors.rabbit_topology``.

The password is re-read every cycle (``brokers.rabbitmq.resolve_password``), so a rotated secret
is picked up without a restart.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from brokers.naming import allowed
from brokers.rabbitmq import (ManagementClient, PrometheusClient, RabbitError, display_url, prometheus_urls,
                              resolve_password)
from collectors import rabbit_prometheus, rabbit_quorum
from collectors.rabbit_queues import QueueHistories, error_ratios
from collectors.rabbit_stream_io import TimestampCache, read_streams
from collectors.rabbit_streams import ConsumerKey, StreamHistories, lag, live_consumers, time_lag_s
from collectors.rabbit_rates import QueueCounters, QueueRates, queue_rates
from collectors.rabbit_topology import QueueRef, glob_matcher, resolve_dlqs
from config import Settings
from core import gcpause
from config.rabbitmq import RabbitClusterConfig
from core.codes import Status
from core.rejects import Rejects
from core.targets import rabbitmq_target
from runner.collect import CollectJob, Cycle
from runner.jobs import JobSpec
from store.db import connect_writer
from store.types import Sample

log = logging.getLogger(__name__)

QUEUE_COLUMNS = (
    "vhost", "name", "type", "arguments", "messages", "messages_ready", "messages_unacknowledged",
    "consumers", "consumer_utilisation", "consumer_capacity", "head_message_timestamp", "messages_dlx",
    "message_stats.publish", "message_stats.deliver_get", "message_stats.ack", "message_stats.redeliver",
    "message_stats.deliver_no_ack", "message_stats.get_no_ack", "effective_policy_definition",
)
# The full cycles read every queue in one request (``page_size: 0``, the default) with ``sort=`` (empty):
# the management API then augments each queue with its stats once and skips its sort, which compares
# the augmented items key by key. Measured at 10,000 queues (RabbitMQ 3.10, broker CPU per cycle):
# 20 sorted pages of 500 2.5 s (each page lists, formats and sorts every queue again), 20 unsorted pages
# 2.0 s, one sorted request 2.3 s, one unsorted request 0.8 s. ``page_size`` 1..500 pages as before; the
# first read of a path is paged too (500 a page): it tells how many queues the one request will carry.
# Cycles between two counter reads (``counters_interval_s``) without rabbitmq_prometheus: the gauges
# without the per-queue stats, in one unpaged request (paging makes RabbitMQ rebuild and sort the whole
# list for every page), and the consumers counted from /api/consumers (one item per consumer).
MAX_PAGE = 500  # the management API's largest page
LEAN_COLUMNS = ("vhost", "name", "messages", "messages_ready", "messages_unacknowledged")
LEAN_PARAMS = {"disable_stats": "true", "enable_queue_totals": "true", "columns": ",".join(LEAN_COLUMNS)}
NODE_COLUMNS = ("name", "running", "mem_alarm", "disk_free_alarm", "fd_used", "fd_total")
EXCHANGE_COLUMNS = ("vhost", "name", "type")
BINDING_COLUMNS = ("vhost", "source", "destination", "destination_type", "routing_key")
_GAUGES = (("rabbitmq_queue_ready_messages", "messages_ready"),
           ("rabbitmq_queue_unacked_messages", "messages_unacknowledged"),
           ("rabbitmq_queue_messages", "messages"), ("rabbitmq_queue_consumers", "consumers"))
__all__ = ["RabbitCollector", "RabbitError", "collect_job", "jobs"]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass
class _Topology:
    fetched_ms: int
    policies: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]
    bindings: list[dict[str, Any]]
    major_version: int | None = None  # RabbitMQ's, for quorum queues' default delivery limit


class RabbitCollector:
    """Polls one cluster. ``collect`` raises ``RabbitError`` with a clear reason when it cannot."""

    def __init__(self, cluster_cfg: RabbitClusterConfig) -> None:
        self.cfg = cluster_cfg
        self.target = rabbitmq_target(cluster_cfg.name)
        self.password = ""
        self.base = cluster_cfg.management_url.rstrip("/")
        self.shown_url = display_url(cluster_cfg.management_url)
        self.http = ManagementClient(cluster_cfg)
        self.bytes_last_cycle = 0  # decoded (what is parsed)
        self.wire_bytes_last_cycle = 0  # as received (both endpoints gzip)
        self.requests_last_cycle = 0
        self.source_last_cycle = ""  # "management" (a full cycle), "prometheus" or "management-lean"
        self._full_ms: int | None = None  # when the counters were last read
        self._listed: dict[str, int] = {}  # queues per /api/queues path at its last read
        self._dlqs: dict[QueueRef, Any] = {}  # as found by the last full cycle
        self._prom = [PrometheusClient(cluster_cfg, u) for u in prometheus_urls(cluster_cfg)]
        self._prom_usable = cluster_cfg.prometheus != "off"  # auto: until it fails, retried each full cycle
        self._prev: dict[QueueRef, QueueCounters] = {}
        self._histories = QueueHistories(int(cluster_cfg.status_window_s * 1000))
        self._topology: _Topology | None = None
        self._streams = StreamHistories(int(cluster_cfg.status_window_s * 1000))
        self._stream_ts = TimestampCache()
        self._stream_names: dict[tuple[str, str], set[str]] = {}  # names seen live, per (vhost, stream)
        self.rejects = Rejects()

    # ------------------------------------------------------------------ HTTP

    def _get(self, path: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        timeout = timeout or self.cfg.timeout_s
        try:
            resp = self.http.get(path, self.password, params=params, timeout=timeout)
        except requests.exceptions.SSLError as exc:
            from brokers.diagnose import classify
            raise RabbitError(f"TLS error talking to the management API at {self.shown_url}: "
                              f"{classify(exc, f'rabbitmq.clusters[{self.cfg.name}]').text()}") from None
        except requests.exceptions.Timeout:
            raise RabbitError(f"TCP connect failed: timeout after {timeout:g}s waiting for the management API "
                              f"at {self.shown_url}") from None
        except requests.exceptions.ConnectionError as exc:
            why = "connection refused" if "refused" in str(exc).lower() else _short(exc)
            raise RabbitError(f"TCP connect failed: management plugin unreachable at {self.shown_url}: {why} "
                              "(is the node up and rabbitmq_management enabled?)") from None
        except requests.exceptions.RequestException as exc:
            raise RabbitError(f"request to the management API at {self.shown_url} failed: {_short(exc)}") from None
        self._count(resp)
        if resp.status_code == 401:
            raise RabbitError(f"authentication failed (401) for user {self.cfg.username!r} at "
                              f"{self.shown_url} (check rabbitmq.clusters[{self.cfg.name}].username / password_env: "
                              f"{self.cfg.password_env})")
        if resp.status_code == 403:
            raise RabbitError(f"authorisation failed: not authorised (403) for user {self.cfg.username!r} on {path}: "
                              "the user needs the 'monitoring' tag")
        if resp.status_code >= 400:
            raise RabbitError(f"HTTP {resp.status_code} from the management API at {self.shown_url}{path}")
        try:
            return resp.json()
        except ValueError:
            raise RabbitError(f"management plugin unreachable at {self.shown_url}: {path} did not "
                              "answer with the management API's JSON") from None

    def _count(self, resp: requests.Response) -> None:
        self.requests_last_cycle += 1
        self.bytes_last_cycle += len(resp.content)
        wire = resp.headers.get("content-length", "")
        self.wire_bytes_last_cycle += int(wire) if wire.isdigit() else len(resp.content)

    def _paged(self, path: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        known = self._listed.get(path)
        if not self.cfg.page_size and known is not None:
            # One request, unsorted (see the note under QUEUE_COLUMNS). RabbitMQ answers once it has built
            # all of it, so it gets the time pages of 500 would have had together: timeout_s each.
            items = self._get(path, {"columns": ",".join(columns), "sort": ""},
                              timeout=self.cfg.timeout_s * max(1, -(-known // MAX_PAGE)))
            items = items if isinstance(items, list) else []
        else:  # page_size set, or the first read of this path (how many queues, and so how long, unknown)
            items = []
            page, pages = 1, 1
            while page <= pages:
                body = self._get(path, {"page": page, "page_size": self.cfg.page_size or MAX_PAGE,
                                        "columns": ",".join(columns)})
                items.extend(body.get("items", []))
                pages = int(body.get("page_count", 1) or 1)
                page += 1
            # Queues created or deleted between pages can shift items: keep each queue once.
            items = list({(q.get("vhost", "/"), q.get("name")): q for q in items}.values())
        self._listed[path] = len(items)
        return items

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
        major = None  # only quorum queues need the version (their default delivery limit from 4.0)
        if any(q.get("type") == "quorum" for q in queues):
            overview = self._get("/api/overview", {"columns": "rabbitmq_version"})
            major = rabbit_quorum.major_version(overview.get("rabbitmq_version") if isinstance(overview, dict)
                                                else None)
        self._topology = _Topology(now_ms, policies, exchanges, bindings, major)
        return self._topology

    # ------------------------------------------------------------------ samples

    def redact(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text

    def reset(self) -> None:
        """Forget pooled HTTP connections after a failure (the next cycle opens new ones)."""
        self.http.close()
        for client in self._prom:
            client.close()

    close = reset

    def collect(self, now_ms: int) -> Cycle:
        """Poll the cluster once: its samples stamped ``now_ms``."""
        self.password = resolve_password(self.cfg)
        return Cycle(self.samples(now_ms))

    def samples(self, now_ms: int) -> list[Sample]:
        """Poll the cluster once and return its samples stamped ``now_ms``: everything, or between two
        counter reads (``counters_interval_s``) the gauges alone."""
        self.bytes_last_cycle = self.wire_bytes_last_cycle = self.requests_last_cycle = 0
        interval_ms = self.cfg.counters_interval_s * 1000
        if interval_ms > 0 and self._full_ms is not None and 0 <= now_ms - self._full_ms < interval_ms:
            with gcpause.paused():  # ~4 samples per queue and the decoded text, all acyclic (core.gcpause)
                return self._gauge_samples(now_ms)
        if self.cfg.prometheus == "auto":
            self._prom_usable = True
        with gcpause.paused():  # the decoded JSON and ~12 samples per queue, all acyclic (core.gcpause)
            out = self._full_samples(now_ms)
        self._full_ms = now_ms
        self.source_last_cycle = "management"
        return out

    def _full_samples(self, now_ms: int) -> list[Sample]:
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
        all_rates: dict[QueueRef, QueueRates] = {}
        labels_of: dict[QueueRef, dict[str, str]] = {}
        streams: dict[QueueRef, dict[str, Any]] = {}
        queue_ok = glob_matcher(self.cfg.queues_allow, self.cfg.queues_deny)
        for q in queues:
            ref = QueueRef(q.get("vhost", "/"), q["name"])
            if not queue_ok(ref.name):
                continue
            labels = {"cluster": cluster, "vhost": ref.vhost, "queue": ref.name}
            out.extend(self._queue_gauges(q, labels, now_ms))
            audit = rabbit_quorum.audit(q, topo.major_version)
            if audit is not None:
                out.append(Sample("rabbitmq_queue_delivery_limit", labels, now_ms, float(audit[0])))
                out.append(Sample("rabbitmq_queue_delivery_limit_without_dlx", labels, now_ms, float(audit[1])))
            if q.get("type") == "stream":
                streams[ref] = q
            if _num(q.get("messages")) is None:
                continue  # stats not emitted yet for this new queue: nothing more is known
            cur = QueueCounters.from_api(q, now_ms)
            seen[ref] = cur
            labels_of[ref] = labels
            prev = self._prev.get(ref)
            rates = queue_rates(prev, cur) if prev is not None else None
            if rates is not None:
                all_rates[ref] = rates
                for metric, value in (("rabbitmq_queue_publish_rate_per_s", rates.publish_per_s),
                                      ("rabbitmq_queue_deliver_rate_per_s", rates.deliver_per_s),
                                      ("rabbitmq_queue_ack_rate_per_s", rates.ack_per_s),
                                      ("rabbitmq_queue_redeliver_rate_per_s", rates.redeliver_per_s)):
                    out.append(Sample(metric, labels, now_ms, value))
            status, eta = self._histories.observe(ref, cur, _num(q.get("messages_ready")) or 0.0,
                                                  _num(q.get("consumers")) or 0.0, now_ms)
            if ref in streams:
                pass  # a stream keeps what was read: its depth is no backlog (see its consumers' lag)
            elif status is not None and ref not in dlqs:  # a DLQ is unconsumed by design: no STOP for it
                out.append(Sample("rabbitmq_queue_status", labels, now_ms, float(int(status))))
            if eta is not None and ref not in streams:
                out.append(Sample("rabbitmq_queue_drain_eta_seconds", labels, now_ms, eta))
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
        for ref, ratio in error_ratios(all_rates, dlqs).items():
            out.append(Sample("rabbitmq_queue_error_rate_ratio", labels_of[ref], now_ms, ratio))
        self._prev = seen
        self._dlqs = dlqs
        self._histories.keep_only(set(seen))
        if self.cfg.streams:
            out.extend(self._stream_samples(streams, now_ms))
        return out

    # ------------------------------------------------------------------ gauge cycles

    def _gauge_samples(self, now_ms: int) -> list[Sample]:
        """Nodes, and per queue its depth (ready, unacked, total) and consumers, plus DLQ depths."""
        nodes = self._cols("/api/nodes", NODE_COLUMNS)
        out: list[Sample] = []
        for n in nodes:
            out.extend(self._node_samples(n, now_ms))
        figures = self._prometheus_figures(nodes, now_ms) if self._prom_usable else None
        if figures is not None:
            self.source_last_cycle = "prometheus"
        else:
            figures = self._lean_figures()
            self.source_last_cycle = "management-lean"
        cluster, dlqs = self.cfg.name, self._dlqs
        vhost_ok: dict[str, bool] = {}
        queue_ok = glob_matcher(self.cfg.queues_allow, self.cfg.queues_deny)
        every_vhost = self.cfg.vhosts == ["*"]
        for (vhost, name), f in figures.items():
            ok = vhost_ok.get(vhost)
            if ok is None:
                ok = vhost_ok[vhost] = every_vhost or allowed(vhost, self.cfg.vhosts, ())
            if not ok or not queue_ok(name):
                continue
            labels = {"cluster": cluster, "vhost": vhost, "queue": name}
            for metric, key in _GAUGES:
                value = f.get(key)
                if value is not None:
                    out.append(Sample(metric, labels, now_ms, value))
            depth = f.get("messages")
            if depth is not None and dlqs and QueueRef(vhost, name) in dlqs:
                out.append(Sample("dlq_messages", {"broker": "rabbitmq", "cluster": cluster, "vhost": vhost,
                                                   "dlq": name}, now_ms, depth))
        return out

    def _lean_figures(self) -> dict[tuple[str, str], dict[str, float]]:
        """The gauges from the management API without per-queue stats; consumers from /api/consumers."""
        out: dict[tuple[str, str], dict[str, float]] = {}
        for path in self._vhost_paths():
            counts: dict[tuple[str, str], int] = {}  # consumers per queue: not in the stats-less list
            for c in self._get(path.replace("/api/queues", "/api/consumers", 1), {"columns": "queue.name,queue.vhost"}):
                q = c.get("queue") if isinstance(c, dict) else None
                if isinstance(q, dict):
                    key = (str(q.get("vhost", "/")), str(q.get("name")))
                    counts[key] = counts.get(key, 0) + 1
            for q in self._get(path, LEAN_PARAMS):
                if not isinstance(q, dict):
                    continue
                key = (str(q.get("vhost", "/")), str(q.get("name")))
                f = {k: v for k in LEAN_COLUMNS[2:] if (v := _num(q.get(k))) is not None}
                f["consumers"] = float(counts.get(key, 0))
                out[key] = f
        return out

    def _prometheus_figures(self, nodes: list[dict[str, Any]],
                            now_ms: int) -> dict[tuple[str, str], dict[str, float]] | None:
        """Every node's per-queue figures from the rabbitmq_prometheus endpoint; None (auto) when it
        cannot be read from every running node, RabbitError when ``prometheus: on``."""
        running = sum(1 for n in nodes if n.get("running"))
        why = ""
        if not self.cfg.prometheus_urls and len(nodes) > 1:
            why = f"{len(nodes)} nodes: set prometheus_urls to every node's endpoint"
        elif len(self._prom) < running:
            why = f"{len(self._prom)} prometheus_urls for {running} running nodes"
        params: list[tuple[str, str]] = [("family", f) for f in rabbit_prometheus.FAMILIES]
        if self.cfg.vhosts != ["*"] and not any(c in v for v in self.cfg.vhosts for c in "*?["):
            params += [("vhost", v) for v in self.cfg.vhosts]
        read: list[rabbit_prometheus.QueueFigures] = []
        for client in self._prom if not why else ():
            try:
                text = self._prom_text(client, params)
            except RabbitError as exc:
                why = str(exc)
                break
            read.append(rabbit_prometheus.parse(text))
        if why:
            if self.cfg.prometheus == "on":
                raise RabbitError(f"rabbitmq_prometheus: {why}")
            log.warning("cluster %s: the management API instead of rabbitmq_prometheus until the next full "
                        "cycle: %s", self.cfg.name, self.redact(why))
            self._prom_usable = False
            return None
        merged = rabbit_prometheus.merge(read)
        for reason, line in merged.rejects:
            self.rejects.record("rabbitmq.prometheus", reason, line, now_ms)
        return merged.queues

    def _prom_text(self, client: PrometheusClient, params: list[tuple[str, str]]) -> str:
        shown = display_url(client.base)
        try:
            resp = client.get("/metrics/detailed", "", params=params)
        except requests.exceptions.SSLError as exc:
            from brokers.diagnose import classify
            raise RabbitError(f"TLS error talking to {shown}: "
                              f"{classify(exc, f'rabbitmq.clusters[{self.cfg.name}]').text()}") from None
        except requests.exceptions.RequestException as exc:
            raise RabbitError(f"{shown} unreachable: {_short(exc)}") from None
        self._count(resp)
        if resp.status_code != 200:
            raise RabbitError(f"HTTP {resp.status_code} from {shown}/metrics/detailed")
        if not resp.headers.get("content-type", "").startswith("text/plain"):
            raise RabbitError(f"{shown}/metrics/detailed did not answer with Prometheus text")
        return resp.content.decode("utf-8", errors="replace")

    def _stream_samples(self, streams: dict[QueueRef, dict[str, Any]], now_ms: int) -> list[Sample]:
        """Lag, time lag, status and drain ETA of every consumer name of every stream (``rabbit_streams``)."""
        if not streams:
            self._streams.keep_only(set())
            return []
        try:
            items = self._get("/api/stream/consumers")
        except RabbitError as exc:  # rabbitmq_stream_management not enabled: no live consumers known
            log.warning("cluster %s: no live stream consumers: %s", self.cfg.name, exc)
            items = []
        live, _anonymous, errors = live_consumers(items)
        for err in errors:
            self.rejects.record("rabbitmq.stream", err.reason, str(err), now_ms)
        for key in live:
            known = self._stream_names.setdefault((key.vhost, key.stream), set())
            if len(known) < 1000:
                known.add(key.name)
        wanted = {(r.vhost, r.name): sorted(set(self.cfg.stream_consumers) | self._stream_names.get((r.vhost, r.name), set()))
                  for r, q in streams.items() if _num(q.get("messages")) != 0}  # empty: nothing to read
        readings = read_streams(self.cfg, self.password, wanted, self._stream_ts, self.cfg.stream_timeout_s) \
            if wanted else {}
        cluster = self.cfg.name
        out: list[Sample] = []
        kept: set[ConsumerKey] = set()
        for (vhost, stream), reading in readings.items():
            sl = {"cluster": cluster, "vhost": vhost, "stream": stream}
            out.append(Sample("rabbitmq_stream_up", sl, now_ms, 0.0 if reading.error else 1.0))
            if reading.error:
                log.warning("cluster %s: %s", cluster, self.redact(reading.error))
                names = {k.name for k in self._streams.seen if (k.vhost, k.stream) == (vhost, stream)}
                for name in sorted(names):  # known consumers: ERR, their last stored offset is kept
                    key = ConsumerKey(vhost, stream, name)
                    kept.add(key)
                    out.append(Sample("rabbitmq_stream_consumer_status", {**sl, "consumer": name}, now_ms,
                                      float(int(Status.ERR))))
                continue
            if reading.last is not None:
                out.append(Sample("rabbitmq_stream_last_offset", sl, now_ms, float(reading.last)))
            worst: int | None = None
            for name, stored in sorted(reading.stored.items()):
                key = ConsumerKey(vhost, stream, name)
                kept.add(key)
                cl = {**sl, "consumer": name}
                members = live.get(key, 0)
                behind = lag(stored, reading.last)
                status, eta = self._streams.observe(key, stored, reading.last, members, now_ms)
                secs = time_lag_s(stored, reading.last, reading.next_ts_ms.get(name), now_ms)
                out.append(Sample("rabbitmq_stream_consumer_offset", cl, now_ms, float(stored)))
                out.append(Sample("rabbitmq_stream_consumer_live", cl, now_ms, float(members)))
                for metric, value in (("rabbitmq_stream_consumer_lag_messages", behind),
                                      ("rabbitmq_stream_consumer_lag_seconds", secs),
                                      ("rabbitmq_stream_consumer_status", None if status is None else int(status)),
                                      ("rabbitmq_stream_consumer_drain_eta_seconds", eta)):
                    if value is not None:
                        out.append(Sample(metric, cl, now_ms, float(value)))
                if behind is not None:
                    worst = behind if worst is None else max(worst, behind)
            if worst is not None:
                out.append(Sample("rabbitmq_stream_max_lag_messages", sl, now_ms, float(worst)))
        self._streams.keep_only(kept)
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


def collect_job(cfg: RabbitClusterConfig, store_path: str | Path) -> CollectJob:
    """The collection job of one cluster, with its own writer connection."""
    return CollectJob(RabbitCollector(cfg), connect_writer(store_path), cfg.interval_s)


def jobs(settings: Settings, store_path: str | Path) -> list[JobSpec]:
    """One collection job per configured RabbitMQ cluster."""
    return [collect_job(c, store_path).spec() for c in settings.rabbitmq.clusters]


def _short(exc: BaseException) -> str:
    """The innermost cause of a requests error, on one line."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
