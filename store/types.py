"""Value types shared by the store and its callers (the store imports nothing else of the project)."""
from __future__ import annotations

from typing import Mapping, NamedTuple


class Sample(NamedTuple):
    """One measurement: a metric name, its labels, a UTC epoch-ms timestamp and a float value.

    Metric names follow ``<source>_<thing>_<unit>`` (``kafka_group_lag_messages``); ``labels``
    carries ``cluster`` plus whatever identifies the series (group, topic, partition, queue...).
    A value that is unknown is not written at all: there is no NaN sample.
    """

    metric: str
    labels: Mapping[str, str]
    ts_ms: int
    value: float
