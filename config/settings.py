"""Eventdeck settings: a YAML file plus ``EVENTDECK_*`` environment overrides, validated by pydantic.

Overrides use ``__`` between levels: ``EVENTDECK_STORE__PATH=/var/lib/eventdeck.db``,
``EVENTDECK_DASHBOARD__PORT=8600``. A value is parsed as YAML, so ``true``, ``15`` and
``["a","b"]`` become a bool, a number and a list. Any error names the key it is about.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import ValidationError, model_validator

from config.alerts import AlertsConfig
from config.base import Section
from config.dashboard import DashboardConfig
from config.demo import DemoConfig
from config.dlq import DlqConfig
from config.kafka import KafkaConfig
from config.prometheus import PrometheusConfig
from config.rabbitmq import RabbitConfig
from config.store import StoreConfig
from config.telemetry import TelemetryConfig

ENV_PREFIX = "EVENTDECK_"
CONFIG_ENV = "EVENTDECK_CONFIG"


class Settings(Section):
    store: StoreConfig = StoreConfig()
    kafka: KafkaConfig = KafkaConfig()
    rabbitmq: RabbitConfig = RabbitConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    alerts: AlertsConfig = AlertsConfig()
    dlq: DlqConfig = DlqConfig()
    dashboard: DashboardConfig = DashboardConfig()
    demo: DemoConfig = DemoConfig()
    prometheus: PrometheusConfig = PrometheusConfig()

    @property
    def has_brokers(self) -> bool:
        return bool(self.kafka.clusters or self.rabbitmq.clusters)

    @model_validator(mode="after")
    def _allowed_targets_name_clusters(self) -> "Settings":
        known = {c.name for c in self.kafka.clusters} | {c.name for c in self.rabbitmq.clusters}
        unknown = sorted(set(self.dlq.allowed_targets) - known)
        if unknown:  # a typo would silently allow nothing
            raise ValueError(f"dlq.allowed_targets: {unknown[0]!r} is not a configured cluster "
                             f"(kafka.clusters, rabbitmq.clusters)")
        return self


class ConfigError(ValueError):
    """A configuration problem; the message names the key (``kafka.clusters[0].interval_s``).
    ``problems`` lists every problem found, one ``key: what`` line each."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


def _key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


_SECRET_KEY = re.compile(r"password|passwd|secret|token|hash|credential|api_?key", re.IGNORECASE)
# In an echoed value: the password of a URL's user info (also in a URL too malformed to parse), and a
# secret-looking query parameter.
_URL_PASSWORD = re.compile(r"(?i)(//[^/@\s:]*:)[^@\s]*@")
_SECRET_PARAM = re.compile(r"(?i)((?:password|passwd|secret|token|api_?key|sslpassword)=)[^&\s'\"]*")


def redact_value(text: str) -> str:
    """``text`` with URL passwords and secret query parameters replaced by ``***``."""
    return _SECRET_PARAM.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def problem_lines(err: ValidationError) -> list[str]:
    """One ``key: what`` line per validation error; a secret-looking key's value is never echoed."""
    lines = []
    for e in err.errors():
        key = _key(e["loc"])[:300]
        if e["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            got = e.get("input")
            if _SECRET_KEY.search(key):
                shown = " (value not shown)"  # a hash, password, token or secret is never echoed
            elif isinstance(got, (dict, list)):
                shown = ""
            elif isinstance(got, int) and not isinstance(got, bool) and abs(got) >= 10 ** 30:
                shown = " (got a very large integer)"  # repr() of a 5,000-digit int raises
            else:
                shown = f" (got {redact_value(repr(got))[:200]})"
            lines.append(f"{key}: {e['msg']}{shown}")
    return lines


def _describe(err: ValidationError, origin: str) -> str:
    return f"invalid configuration in {origin}:\n  " + "\n  ".join(problem_lines(err))


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict built from ``EVENTDECK_A__B=value`` variables (keys lower-cased).

    A variable is an override when its name has ``__`` or is a whole section (``EVENTDECK_STORE``);
    other ``EVENTDECK_*`` variables (``EVENTDECK_CONFIG``, secrets such as ``EVENTDECK_SLACK_URL``
    named by ``*_env`` keys) are not settings and are left alone.
    """
    tree: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        rest = name[len(ENV_PREFIX):]
        if not name.startswith(ENV_PREFIX) or ("__" not in rest and rest.lower() not in Settings.model_fields):
            continue
        path = [p.lower() for p in rest.split("__")]
        if not all(path):
            raise ConfigError(f"{name}: empty key part in environment override")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            raise ConfigError(f"{name}: value is not valid YAML: {str(exc)[:500]}") from None
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another override")
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file (``path``, else ``$EVENTDECK_CONFIG``, else defaults) and the overrides."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    origin = "defaults"
    if path:
        p = Path(path)
        origin = str(p)
        if not p.is_file():
            raise ConfigError(f"configuration file {p} does not exist (set {CONFIG_ENV} or pass --config)")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {str(exc)[:500]}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except (ValueError, RecursionError) as exc:  # a number too long to convert, nesting too deep
            raise ConfigError(f"{p}: cannot be read as YAML: {type(exc).__name__}: {str(exc)[:200]}") from None
        except OSError as exc:
            raise ConfigError(f"{p}: cannot be read: {exc.strerror}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded
    over = env_overrides(environ)
    if over:
        data = _merge(data, over)
        origin += " + environment overrides"
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin), problem_lines(exc)) from None


def secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A secret from the environment, else from the secrets file (``KEY=value`` lines) named by
    ``$EVENTDECK_SECRETS_FILE``. Never logged by this module."""
    environ = os.environ if environ is None else environ
    if name in environ:
        return environ[name]
    sf = environ.get("EVENTDECK_SECRETS_FILE")
    if sf and Path(sf).is_file():
        for line in Path(sf).read_text(encoding="utf-8").splitlines():
            k, sep, v = line.partition("=")
            if sep and k.strip() == name:
                return v.strip()
    return None
