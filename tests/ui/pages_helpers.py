"""What each page of the registry shows (titles), for the page tests of both store backends."""
from __future__ import annotations

from tests import seed
from views import units


NOT_OK = sum(1 for _, _, _, parts in seed.GROUPS.values() if max(p[2] for p in parts.values()) > 0)


QUEUE_READY = {q: v[0] for q, v in seed.QUEUES.items()}


# Per page: metric label -> the value the seed implies (why: these are the tiles an operator reads first).
EXPECTED = {
    "Overview": {"Kafka clusters up": "1/1",          # the one Kafka cluster has an 'up' status row
                 "RabbitMQ clusters up": "1/2",       # edge-rabbit is seeded down
                 "Firing alerts": "1",                # orders-lag-high fires; billing-lag is only pending
                 "Kafka lag (messages)": f"{seed.TOTAL_LAG:,}",
                 "DLQ messages": f"{sum(seed.DLQS.values()):,}"},
    "Kafka": {"Groups": str(len(seed.GROUPS)), "Total lag (messages)": f"{seed.TOTAL_LAG:,}",
              "Groups not OK": str(NOT_OK)},
    "RabbitMQ": {"Queues": str(len(seed.QUEUES)), "Ready": f"{sum(QUEUE_READY.values()):,}",
                 "Unacked": f"{sum(v[1] for v in seed.QUEUES.values()):,}", "Node alarms": "0"},
    "Consumers": {"Consumers": str(len(seed.CONSUMERS)),
                  "Worst p99": units.duration(max(v[2] for v in seed.CONSUMERS.values())),
                  "Worst error ratio": f"{max(v[4] for v in seed.CONSUMERS.values()):.3f}"},
    "Alerts": {"Firing": "1", "Pending": "1", "Rules": "2", "Active silences": "1"},
    "System": {"Targets up": "2/3", "Targets down": "1"},
}
