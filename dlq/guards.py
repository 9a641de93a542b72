"""Who may change what on a cluster: ``read_only: true`` on a cluster refuses every mutating action on it
(replay, edit, skip, reset, move), whoever asks; export can be disabled per cluster (``dlq_export``)."""
from __future__ import annotations

from config import Settings


def _cluster(settings: Settings, broker: str, cluster: str):
    clusters = settings.kafka.clusters if broker == "kafka" else settings.rabbitmq.clusters
    return next((c for c in clusters if c.name == cluster), None)


def read_only_refusal(settings: Settings, broker: str, cluster: str, action: str) -> str | None:
    """Why ``action`` is refused on this cluster (None: it is not read-only)."""
    c = _cluster(settings, broker, cluster)
    if c is not None and c.read_only:
        key = "kafka.clusters" if broker == "kafka" else "rabbitmq.clusters"
        return f"{broker} cluster {cluster!r} is read-only ({key}[{cluster}].read_only): {action} is refused"
    return None


def export_refusal(settings: Settings, broker: str, cluster: str) -> str | None:
    c = _cluster(settings, broker, cluster)
    if c is not None and not c.dlq_export:
        key = "kafka.clusters" if broker == "kafka" else "rabbitmq.clusters"
        return f"exporting DLQ messages of {broker} cluster {cluster!r} is disabled ({key}[{cluster}].dlq_export)"
    return None
