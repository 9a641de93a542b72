"""Alert rule model (pydantic), label matching (exact / glob / regex) and aggregation of series.

Pure logic: no store, no clock, no I/O. A rule selects the series of one metric whose labels
match its selector, drops stale ones, aggregates them into groups (one per series, or one per
value of the ``by`` labels) and compares each group's value with a threshold.
"""
from __future__ import annotations

import fnmatch
import json
import math
import operator
import re
import string
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal, Mapping

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.series import PointSet, SeriesPoint
from core.names import LABEL_RE, METRIC_RE

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
Aggregation = Literal["series", "max", "min", "sum", "avg", "count"]
Severity = Literal["info", "warning", "critical"]
NoData = Literal["keep", "ok", "alerting"]
# What a series contributes: its latest value, or a function of its samples over the last ``range_s``
# (PromQL's ``increase(x[5m])``, ``max_over_time`` ...; see alerts.windows).
RangeFunction = Literal["last", "increase", "sum_over_time", "max_over_time", "min_over_time", "avg_over_time"]
MAX_DURATION_S = 366 * 24 * 3600.0  # for, repeat, stale and silence durations
MAX_PATTERN = 512  # characters of a glob or regex matcher
MAX_VALUE = 1024  # characters of an exact matcher value
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported as a RuleError, not logged by the C++ side
_RE2_OPTIONS.max_mem = 8 << 20  # a pattern whose automaton needs more is refused


@lru_cache(maxsize=4096)
def compile_regex(pattern: str):  # -> re2._Regexp
    """A linear-time (RE2) regex; raises ValueError naming the problem. RE2 has no backreferences or
    lookaround, and cannot backtrack catastrophically: ``(a+)+$`` on a long value costs microseconds."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"regex longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"bad regex {pattern[:80]!r}: {detail}") from None
    except (TypeError, UnicodeError) as exc:
        raise ValueError(f"bad regex {pattern[:80]!r}: {exc}") from None


def _show(v: Any) -> str:
    """A short, safe repr of refused input (a 5,000-digit int cannot even be printed)."""
    if isinstance(v, (str, float, bool)) or v is None or (isinstance(v, int) and abs(v) < 10 ** 30):
        return repr(v)[:80]
    return f"<{type(v).__name__}>"


def _duration(v: float | None) -> float | None:
    if v is not None and not (math.isfinite(v) and v <= MAX_DURATION_S):
        raise ValueError(f"must be a finite number of seconds up to {MAX_DURATION_S:g} (366 days)")
    return v


class RuleError(ValueError):
    """Refused rule or silence input; ``field`` names the offending key (``selector.group``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Matcher(BaseModel):
    """One label condition. ``op`` is ``exact``, ``glob`` or ``regex`` (full match); ``negate`` inverts it.
    A label the series does not have matches as the empty string (as in Prometheus)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    op: Literal["exact", "glob", "regex"] = "exact"
    value: str
    negate: bool = False

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not LABEL_RE.match(v) or len(v) > 256:
            raise ValueError(f"{v[:80]!r} is not a label name (letters, digits, underscore; at most 256)")
        return v

    @model_validator(mode="after")
    def _regex_compiles(self) -> "Matcher":
        if self.op == "regex":
            compile_regex(self.value)
        elif self.op == "glob" and len(self.value) > MAX_PATTERN:
            raise ValueError(f"glob longer than {MAX_PATTERN} characters")
        elif len(self.value) > MAX_VALUE:
            raise ValueError(f"value longer than {MAX_VALUE} characters")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "exact":
            hit = got == self.value
        elif self.op == "glob":
            hit = fnmatch.fnmatchcase(got, self.value)
        else:
            try:
                hit = compile_regex(self.value).fullmatch(got) is not None
            except UnicodeError:  # a lone surrogate in a stored label value: match its printable form
                hit = compile_regex(self.value).fullmatch(got.encode("utf-8", "replace").decode()) is not None
        return hit != self.negate

    @classmethod
    def parse(cls, label: str, spec: Any) -> "Matcher":
        """From YAML shorthand: ``"v"`` (exact), ``{glob: "a*"}``, ``{regex: "a.+"}``, ``{not: "v"}``,
        ``{not_glob: ...}``, ``{not_regex: ...}``, or the full form ``{op, value, negate}``."""
        if isinstance(spec, Matcher):
            return spec
        if isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
            return cls(label=label, value=spec if isinstance(spec, str) else _show(spec))
        if isinstance(spec, Mapping):
            if "value" in spec:
                return cls(label=label, **dict(spec))
            if len(spec) == 1:
                (key, value), = spec.items()
                ops = {"exact": ("exact", False), "glob": ("glob", False), "regex": ("regex", False),
                       "not": ("exact", True), "not_glob": ("glob", True), "not_regex": ("regex", True)}
                if key in ops and isinstance(value, str):
                    op, neg = ops[key]
                    return cls(label=label, op=op, value=value, negate=neg)
        raise ValueError(f"expected a string or one of {{glob|regex|not|not_glob|not_regex: string}}, got {_show(spec)}")

    def to_yaml(self) -> Any:
        if self.op == "exact" and not self.negate:
            return self.value
        key = {"exact": "not", "glob": "not_glob", "regex": "not_regex"}[self.op] if self.negate else self.op
        return {key: self.value}


def parse_matchers(spec: Any, field: str) -> list[Matcher]:
    """A ``{label: matcher-shorthand}`` mapping or a list of full matchers; errors name ``field.label``."""
    out: list[Matcher] = []
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, list):
        items = []
        for i, m in enumerate(spec):
            if not isinstance(m, Mapping) or "label" not in m:
                raise RuleError(f"{field}[{i}]", "expected a mapping with label, op, value")
            items.append((_show(m["label"]) if not isinstance(m["label"], str) else m["label"],
                          {k: v for k, v in m.items() if k != "label"}))
    elif spec is None:
        return out
    else:
        raise RuleError(field, f"expected a mapping of label to matcher, got {type(spec).__name__}")
    if len(items) > 64:
        raise RuleError(field, "more than 64 matchers")
    for label, value in items:
        label = label if isinstance(label, str) else _show(label)
        try:
            out.append(Matcher.parse(label, value))
        except (ValueError, TypeError, ValidationError) as exc:
            raise RuleError(f"{field}.{label[:80]}", _first_error(exc)) from None
    return out


class Rule(BaseModel):
    """A threshold rule: ``aggregation(metric{selector}) comparison threshold`` held for ``for_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    metric: str
    selector: list[Matcher] = []
    aggregation: Aggregation = "series"
    by: list[str] = Field(default_factory=list, description="group labels for max/min/sum/avg/count")
    comparison: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: float
    for_s: float = Field(0.0, ge=0, description="condition must hold this long before firing")
    keep_firing_for_s: float = Field(0.0, ge=0, description="a firing alert stays firing this long after its "
                                     "condition stops holding (a flapping condition does not resolve at once)")
    range_function: RangeFunction = Field("last", description="the series' latest value, or a function of its "
                                          "samples over the last range_s (increase: the sum of its rises)")
    range_s: float = Field(300.0, gt=0, description="the window of range_function")
    repeat_interval_s: float | None = Field(None, gt=0, description="None: the configured default")
    stale_after_s: float = Field(300.0, gt=0, description="a series older than this is 'no data'")
    no_data: NoData = "keep"
    severity: Severity = "warning"
    labels: dict[str, str] = {}
    summary: str = "{metric} is {value} ({comparison} {threshold})"
    notify: list[str] = Field(default_factory=list, description="env/secret names holding apprise URLs")
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not RULE_NAME.match(v):
            raise ValueError("must be 1-128 characters of letters, digits, _ . : - starting with a letter or digit")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if not METRIC_RE.match(v) or len(v) > 256:
            raise ValueError(f"{v[:80]!r} is not a metric name like kafka_group_lag_messages")
        return v

    @field_validator("selector", mode="before")
    @classmethod
    def _selector(cls, v: Any) -> Any:
        if isinstance(v, list) and all(isinstance(m, Matcher) for m in v):
            return v
        return parse_matchers(v, "selector")

    @field_validator("for_s", "repeat_interval_s", "stale_after_s", "keep_firing_for_s", "range_s")
    @classmethod
    def _bounded_duration(cls, v: float | None) -> float | None:
        return _duration(v)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @field_validator("by", "labels")
    @classmethod
    def _label_names(cls, v: Any) -> Any:
        if len(v) > 64:
            raise ValueError("more than 64 labels")
        for name in v:
            if not LABEL_RE.match(name) or len(name) > 256:
                raise ValueError(f"{name[:80]!r} is not a label name")
        if isinstance(v, dict) and any(len(x) > MAX_VALUE for x in v.values()):
            raise ValueError(f"a label value is longer than {MAX_VALUE} characters")
        return v

    @field_validator("summary")
    @classmethod
    def _template(cls, v: str) -> str:
        if len(v) > MAX_VALUE:
            raise ValueError(f"longer than {MAX_VALUE} characters")
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(v) if f is not None]
        except ValueError as exc:
            raise ValueError(f"bad template: {exc}") from None
        for name, spec, conv in fields:  # plain names only: no attribute or index access through the template
            if not LABEL_RE.match(name):
                raise ValueError(f"bad placeholder {{{name[:40]}}}: use {{value}}, {{threshold}} or a label name")
            if spec or conv:  # '{value:>999999999}' would render a gigabyte
                raise ValueError(f"placeholder {{{name}}}: no format spec or conversion")
        return v

    @field_validator("notify")
    @classmethod
    def _secret_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not LABEL_RE.match(name):
                raise ValueError("give the name of an environment variable or secret holding the apprise URL, "
                                 "not the URL (it carries tokens and would be stored and shown)")
        return v

    @model_validator(mode="after")
    def _by_needs_aggregation(self) -> "Rule":
        if self.by and self.aggregation == "series":
            raise ValueError("by: only with an aggregation (max, min, sum, avg, count), not 'series'")
        return self

    @property
    def identity(self) -> str:
        """What the rule's groups are computed from; changes when an edit changes the series it selects."""
        d = self.to_dict()
        return json.dumps([d["metric"], d["selector"], d["aggregation"], d["by"]], sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form (selector in shorthand), round-trips through ``rule_from_dict``."""
        d = self.model_dump()
        d["selector"] = {m.label: m.to_yaml() for m in self.selector}
        return d


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        return msg if isinstance(got, (dict, list)) or e["type"] == "missing" else f"{msg} (got {_show(got)})"
    return str(exc)[:300]


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """Validate rule input; a refusal raises ``RuleError`` naming the field (``for_s``, ``selector.topic``)."""
    if not isinstance(data, Mapping):
        raise RuleError("rule", f"expected a mapping, got {type(data).__name__}")
    data = {k if isinstance(k, str) else _show(k): v for k, v in data.items()}
    for short in ("for", "keep_firing_for"):  # Prometheus' names
        if short in data and f"{short}_s" not in data:
            data[f"{short}_s"] = data.pop(short)
    if "selector" in data:
        data["selector"] = parse_matchers(data["selector"], "selector")
    try:
        return Rule.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(p)[:80] for p in e["loc"]) or "rule"
        if e["type"] == "extra_forbidden":
            raise RuleError(field, "unknown key") from None
        raise RuleError(field, _first_error(exc)) from None


# ---------------------------------------------------------------- evaluation of series
# (SeriesPoint and group_key live in alerts.series, the layer below; SeriesPoint stays importable from here)

def selects(rule: Rule, labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in rule.selector)


def _aggregate(how: str, values: list[float]) -> float:
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "sum":
        return math.fsum(values)
    if how == "avg":
        return math.fsum(values) / len(values)
    return float(len(values))


def group_values(rule: Rule, points: Iterable[SeriesPoint], now_ms: int) -> dict[str, tuple[Mapping[str, str], float]]:
    """``{group key: (group labels, value)}`` over the fresh series the rule selects (labels: read only).

    A series whose latest sample is older than ``stale_after_s`` is left out: it has no data. The
    evaluator keeps one ``alerts.series.PointSet`` per metric instead, which caches selections.
    """
    return PointSet(list(points), cache=False).group_values(rule, now_ms)


def breaches(rule: Rule, value: float) -> bool:
    return COMPARISONS[rule.comparison](value, rule.threshold)


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "?"


_RULE_FIELDS = ("rule", "metric", "threshold", "comparison", "severity", "value", "labels")


def summary_renderer(rule: Rule) -> Callable[[Mapping[str, str], float | None], str]:
    """``render_summary`` for one rule, its template parsed once (it runs for every group written).
    Same text as :func:`render_summary`; a template it cannot take apart is rendered by that."""
    try:
        parts = list(string.Formatter().parse(rule.summary))
    except ValueError:
        parts = None
    if parts is None or any(f is not None and (spec or conv or not LABEL_RE.match(f)) for _, f, spec, conv in parts):
        return lambda labels, value: render_summary(rule, labels, value)
    fixed = {"rule": rule.name, "metric": rule.metric, "threshold": f"{rule.threshold:g}",
             "comparison": rule.comparison, "severity": rule.severity}
    # each part: (literal, kind, what): kind 0 none, 1 fixed text, 2 value, 3 all labels, 4 one label
    plan = []
    for literal, f, _spec, _conv in parts:
        if f is None:
            plan.append((literal, 0, ""))
        elif f in fixed:
            plan.append((literal + fixed[f], 0, ""))
        elif f == "value":
            plan.append((literal, 2, ""))
        elif f == "labels":
            plan.append((literal, 3, ""))
        else:
            plan.append((literal, 4, f))
    values = [i for i, (_, kind, _) in enumerate(plan) if kind == 2]
    if len(values) == 1 and all(kind in (0, 2) for _, kind, _ in plan):  # e.g. the default: text, value, text
        pre = "".join(literal for literal, _, _ in plan[:values[0] + 1])
        post = "".join(literal for literal, _, _ in plan[values[0] + 1:])

        def render_value(labels: Mapping[str, str], value: float | None) -> str:
            return pre + ("no data" if value is None else f"{value:g}") + post

        return render_value

    def render(labels: Mapping[str, str], value: float | None) -> str:
        out = []
        for literal, kind, what in plan:
            out.append(literal)
            if kind == 2:
                out.append("no data" if value is None else f"{value:g}")
            elif kind == 3:
                out.append(", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
            elif kind == 4:
                out.append(str(labels.get(what, "?")))
        return "".join(out)

    return render


def render_summary(rule: Rule, labels: Mapping[str, str], value: float | None) -> str:
    """The rule's summary template filled with the value, threshold and labels (unknown names → ``?``)."""
    fields = _Missing(labels)
    fields.update(rule=rule.name, metric=rule.metric, threshold=f"{rule.threshold:g}", comparison=rule.comparison,
                  severity=rule.severity, value="no data" if value is None else f"{value:g}",
                  labels=", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    try:
        return rule.summary.format_map(fields)
    except (KeyError, IndexError, AttributeError, ValueError):
        return rule.summary
