"""The one list of dashboard pages: ``app.py`` builds the navigation from it and the tests walk it."""
from __future__ import annotations

from typing import NamedTuple


class PageSpec(NamedTuple):
    path: str   # relative to app.py
    title: str
    icon: str
    default: bool = False


PAGES: list[PageSpec] = [
    PageSpec("views/overview.py", "Overview", ":material/dashboard:", default=True),
    PageSpec("views/kafka.py", "Kafka", ":material/stacks:"),
    PageSpec("views/rabbitmq.py", "RabbitMQ", ":material/cruelty_free:"),
    PageSpec("views/consumers.py", "Consumers", ":material/timer:"),
    PageSpec("views/dlq.py", "DLQ", ":material/replay:"),
    PageSpec("views/alerts.py", "Alerts", ":material/notifications:"),
    PageSpec("views/system.py", "System", ":material/monitor_heart:"),
]
