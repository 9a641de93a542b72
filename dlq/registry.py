"""What each broker provides to browse, plan and replay: one entry per broker, looked up by name, in
place of branches on the broker's name in ``api``, ``context`` and ``jobs``.

An entry names the broker's traits (DLQs in a vhost; browse that gets and requeues) and gives, per
broker, the configured cluster, the names a replay policy links to a DLQ, the parking-lot target, and
the readers and executor (``dlq.kafka_io`` / ``dlq.kafka_replay``, ``dlq.rabbit_io`` /
``dlq.rabbit_replay``), which load their broker client only when called.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from dlq.targets import Target

if TYPE_CHECKING:
    from config import Settings


@dataclass(frozen=True)
class Broker:
    name: str
    clusters_key: str  # where its clusters are configured
    vhosts: bool  # its DLQs live in a virtual host
    browse_requeues: bool  # browse and dry run get and requeue: refused while a job runs, role-gated
    schema_filters: bool  # browse may filter on schema-decoded fields
    live_sources: bool  # a DLQ the stored topology does not know yet: its sources are asked of the broker
    clusters: Callable[["Settings"], list[Any]]
    # (cluster config, DLQ names, vhost) -> (name patterns, sources mapped in the config)
    policy_sources: Callable[[Any, list[str], str | None], tuple[tuple[str, ...], list[str]]]
    parking: Callable[[str], Target]  # the parking lot named so
    browse: Callable[..., list[dict[str, Any]]]  # (cfg, dlq, page, page_size, preview, *, policy, bounds, **filters)
    dry_run: Callable[..., Any]  # (cfg, req, scan, *, policy, max_bytes) -> plan.Scan
    run_replay: Callable[..., str]  # (JobContext, cfg) -> 'done' | 'cancelled'
    dropped_headers: Callable[[Any], list[str]] | None = None  # what a replay of a message leaves out

    def cluster(self, settings: "Settings", name: str) -> Any:
        """The configured cluster ``name``; ReplayError naming it and the key when absent."""
        from dlq.context import ReplayError

        for c in self.clusters(settings):
            if c.name == name:
                return c
        raise ReplayError(f"{self.name} cluster {name!r} is not in the configuration ({self.clusters_key})")


def _kafka_browse(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from dlq import kafka_io

    return kafka_io.browse(*args, **kwargs)


def _kafka_dry_run(*args: Any, **kwargs: Any) -> Any:
    from dlq import kafka_io

    return kafka_io.dry_run_targets(*args, **kwargs)


def _kafka_replay(ctx: Any, cfg: Any) -> str:
    from dlq import kafka_replay

    return kafka_replay.run_replay(ctx, cfg)


def _rabbit_browse(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    from dlq import rabbit_io

    return rabbit_io.browse(*args, **kwargs)


def _rabbit_dry_run(*args: Any, **kwargs: Any) -> Any:
    from dlq import rabbit_io

    return rabbit_io.dry_run_targets(*args, **kwargs)


def _rabbit_replay(ctx: Any, cfg: Any) -> str:
    from dlq import rabbit_io

    return rabbit_io.run_replay(ctx, cfg)


def _rabbit_dropped(msg: Any) -> list[str]:
    from dlq import rabbit_io

    return rabbit_io.not_republished(msg)


KAFKA = Broker(
    name="kafka", clusters_key="kafka.clusters", vhosts=False, browse_requeues=False, schema_filters=True,
    live_sources=False,
    clusters=lambda s: s.kafka.clusters,
    policy_sources=lambda c, names, _vhost: (c.dlq_patterns, [t.source_topic for n, t in c.dlq_map.items()
                                                                if n in names]),
    parking=lambda name: Target("kafka", "parking", topic=name),
    browse=_kafka_browse, dry_run=_kafka_dry_run, run_replay=_kafka_replay)

RABBITMQ = Broker(
    name="rabbitmq", clusters_key="rabbitmq.clusters", vhosts=True, browse_requeues=True, schema_filters=False,
    live_sources=True,
    clusters=lambda s: s.rabbitmq.clusters,
    policy_sources=lambda c, names, vhost: (c.dlq_patterns, [t.source_queue for n, t in c.dlq_map.items()
                                                               if n in names and t.vhost == (vhost or "/")]),
    parking=lambda name: Target("rabbitmq", "parking", exchange="", routing_key=name),
    browse=_rabbit_browse, dry_run=_rabbit_dry_run, run_replay=_rabbit_replay, dropped_headers=_rabbit_dropped)

BROKERS: dict[str, Broker] = {b.name: b for b in (KAFKA, RABBITMQ)}


def get(name: str) -> Broker:
    """The entry of broker ``name``; ValueError naming the known ones otherwise."""
    found = BROKERS.get(name)
    if found is None:
        raise ValueError(f"broker: must be 'kafka' or 'rabbitmq', got {name!r}")
    return found
