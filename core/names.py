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


LABEL_VALUE_MAX = 256  # characters; names are bounded to this by the decoders too (DESIGN "Inputs are hostile")
_UNSAFE = re.compile("[\ud800-\udfff\x00]")


def safe_label_value(value: str) -> str:
    """``value`` as it can be stored, queried and exposed anywhere: lone UTF-16 surrogates replaced by
    U+FFFD (a valid pair is joined into its character), NUL bytes removed (PostgreSQL text refuses them),
    cut to :data:`LABEL_VALUE_MAX` characters. Returns ``value`` itself when it is already safe."""
    if len(value) <= LABEL_VALUE_MAX and _UNSAFE.search(value) is None:
        return value
    if _UNSAFE.search(value) is not None:
        value = value.replace("\x00", "")
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value[:LABEL_VALUE_MAX]
