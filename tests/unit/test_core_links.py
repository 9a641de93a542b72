"""core.links: an alert's labels → the page and widget values that show it, as a URL."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from core import links

BASE = "https://deck.example:8501/"


@pytest.mark.parametrize("labels, page, params", [
    ({"broker": "kafka", "cluster": "shop", "dlq": "orders.dlq"}, "/dlq",
     {"dlq_pick": "kafka · shop · orders.dlq"}),
    ({"broker": "rabbitmq", "cluster": "r", "vhost": "/", "dlq": "q.dlq"}, "/dlq", {"dlq_pick": "rabbitmq · r · / · q.dlq"}),
    ({"broker": "kafka", "cluster": "shop", "dlq": "d", "vhost": float("nan")}, "/dlq", {"dlq_pick": "kafka · shop · d"}),
    ({"cluster": "shop", "group": "payment", "topic": "orders"}, "/kafka",
     {"kafka_cluster": "shop", "kafka_group": "payment"}),
    ({"cluster": "r", "vhost": "/", "queue": "orders"}, "/rabbitmq", {"rabbit_cluster": "r", "rabbit_filter": "orders"}),
    ({"cluster": "r", "node": "rabbit@h"}, "/rabbitmq", {"rabbit_cluster": "r"}),
    ({"cluster": "c", "broker": "kafka", "consumer": "payment", "quantile": "0.99"}, "/consumers",
     {"consumer_pick": "c / kafka / payment"}),
    ({"target": "kafka:shop"}, "/system", {}),
    ({}, "/", {}),
])
def test_link_for(labels, page, params):
    u = urlsplit(links.link_for(BASE, labels))
    assert (u.scheme, u.netloc, u.path) == ("https", "deck.example:8501", page)
    got = {k: v[0] for k, v in parse_qs(u.query).items()}
    assert got == {"time_range_pick": "last 1 h", **params}


def test_dlq_label_matches_the_picker_format():
    assert links.dlq_label("rabbitmq", "r", None, "q.dlq") == "rabbitmq · r · q.dlq"
    assert links.dlq_label("rabbitmq", "r", "", "q.dlq") == "rabbitmq · r · q.dlq"


def test_url_drops_empty_values():
    assert links.url("http://h/", "dlq", {"a": "", "b": None, "c": "x y"}) == "http://h/dlq?c=x+y"
