"""Rules for metric and label names, shared by the store (which refuses bad ones) and the alert
rules (which select by them). Metric names are ``<source>_<thing>_<unit>`` in lowercase snake
case; label names are identifiers; a few label names are reserved for query result columns."""
from __future__ import annotations

import re

METRIC_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_LABELS = frozenset({"series_id", "ts_ms", "value", "resolution", "metric"})


def is_metric_name(name: object) -> bool:
    return isinstance(name, str) and METRIC_RE.match(name) is not None


def is_label_name(name: object) -> bool:
    return isinstance(name, str) and LABEL_RE.match(name) is not None
