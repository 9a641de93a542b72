"""Deep links into the dashboard: the page and the widget values (URL query parameters) that show a
series, a DLQ or an alert. Pure.

The dashboard's widgets are bound to query parameters named by their keys (``bind="query-params"``),
so a URL such as ``/dlq?dlq_pick=kafka · shop · orders.dlq&f_exc=Timeout&time_range_pick=last 6 h``
opens exactly that view. The parameter names and the formats of the values that are labels (a DLQ,
a consumer) live here, once, for the widgets, the Alerts page and the alert notifications alike.
"""
from __future__ import annotations

import math
from typing import Any, Mapping
from urllib.parse import urlencode

# The dashboard's pages in navigation order, once: (name, title, icon). The page file is views/<name>.py
# (views.registry builds the navigation from this), the URL path its name, the first page the default.
NAVIGATION = (
    ("overview", "Overview", ":material/dashboard:"),
    ("kafka", "Kafka", ":material/stacks:"),
    ("rabbitmq", "RabbitMQ", ":material/cruelty_free:"),
    ("consumers", "Consumers", ":material/timer:"),
    ("dlq", "DLQ", ":material/replay:"),
    ("alerts", "Alerts", ":material/notifications:"),
    ("system", "System", ":material/monitor_heart:"),
)
# page -> URL path (Streamlit derives it from the page file name; "" is the default page)
PAGES = {name: "" if i == 0 else name for i, (name, _title, _icon) in enumerate(NAVIGATION)}

# query parameters = widget keys
RANGE = "time_range_pick"
RANGE_FROM, RANGE_TO = "range_from_pick", "range_to_pick"
KAFKA_CLUSTER, KAFKA_GROUP = "kafka_cluster", "kafka_group"
RABBIT_CLUSTER, RABBIT_FILTER, RABBIT_QUEUES = "rabbit_cluster", "rabbit_filter", "rabbit_picked"
CONSUMER = "consumer_pick"
DLQ, DLQ_PARKING = "dlq_pick", "dlq_parking"
DLQ_KEY, DLQ_REASON, DLQ_EXC, DLQ_PAGE = "f_key", "f_reason", "f_exc", "f_page"
ALERTS_TAB = "alerts_tab"

SEP = " · "
DEFAULT_RANGE = "last 1 h"  # the time range a page opens with and a link carries when none is picked


def _given(v: Any) -> bool:
    return v is not None and v != "" and not (isinstance(v, float) and math.isnan(v))


def dlq_label(broker: str, cluster: str, vhost: Any, dlq: str) -> str:
    """How a DLQ is named in its picker and in a link: ``broker · cluster [· vhost] · dlq``."""
    return SEP.join(str(v) for v in (broker, cluster, vhost, dlq) if _given(v))


def consumer_label(cluster: str, broker: str, consumer: str) -> str:
    return " / ".join((cluster, broker, consumer))


def url(base: str, page: str, params: Mapping[str, Any] | None = None) -> str:
    """``base/<page path>?params`` (parameters with no value left out)."""
    path = PAGES[page]
    query = urlencode({k: v for k, v in (params or {}).items() if _given(v)}, doseq=True)
    return f"{base.rstrip('/')}/{path}" + (f"?{query}" if query else "")


def view_for(labels: Mapping[str, Any], time_range: str = DEFAULT_RANGE) -> tuple[str, dict[str, Any]]:
    """The page and parameters that show the series with ``labels`` (an alert's group labels)."""
    params: dict[str, Any] = {RANGE: time_range}
    if _given(labels.get("dlq")) and _given(labels.get("broker")) and _given(labels.get("cluster")):
        params[DLQ] = dlq_label(labels["broker"], labels["cluster"], labels.get("vhost"), labels["dlq"])
        return "dlq", params
    if _given(labels.get("consumer")) and all(_given(labels.get(k)) for k in ("cluster", "broker")):
        params[CONSUMER] = consumer_label(labels["cluster"], labels["broker"], labels["consumer"])
        return "consumers", params
    if _given(labels.get("group")):
        params.update({KAFKA_CLUSTER: labels.get("cluster"), KAFKA_GROUP: labels["group"]})
        return "kafka", params
    if _given(labels.get("queue")) or _given(labels.get("node")):
        params[RABBIT_CLUSTER] = labels.get("cluster")
        if _given(labels.get("queue")):
            params[RABBIT_FILTER] = labels["queue"]
        return "rabbitmq", params
    if _given(labels.get("topic")):
        params[KAFKA_CLUSTER] = labels.get("cluster")
        return "kafka", params
    if _given(labels.get("target")):
        return "system", params
    return "overview", params


def link_for(base: str, labels: Mapping[str, Any], time_range: str = DEFAULT_RANGE) -> str:
    """The URL of the view that shows the series with ``labels``."""
    page, params = view_for(labels, time_range)
    return url(base, page, params)
