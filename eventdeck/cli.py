"""``eventdeck COMMAND [ARGS]``: each command hands its arguments to the module that does the work,
so ``python -m <module>`` and ``eventdeck <command>`` are the same thing."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# command -> (module whose main(argv) runs it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("demo.run", "collector service + dashboard; the demo (local brokers + traffic) when nothing is configured"),
    "collect": ("collectors.__main__", "the collector service (collect, store, alerts, replay jobs)"),
    "dashboard": ("eventdeck.cli", "the dashboard (Streamlit) on dashboard.address:dashboard.port"),
    "dlq": ("dlq.__main__", "DLQs from a shell: list, show, replay, jobs, search, export"),
    "group": ("dlq.group_cli", "a stuck Kafka group: skip (poison record to the DLQ) | reset (offsets)"),
    "queue": ("dlq.queue_cli", "a stuck RabbitMQ queue: move-head (the rejected head message to the DLQ)"),
    "config": ("config.__main__", "check FILE [--connect [CLUSTER]] (every problem, with its key; the failing connection step) | hash-password"),
    "brokers": ("demo.brokers", "local test brokers: up | up-rabbitmq | status | down"),
    "store": ("store.__main__", "migrate [--store PATH|URL]: create or migrate the store (SQLite or PostgreSQL)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: eventdeck COMMAND [ARGS]  (eventdeck COMMAND --help for its arguments)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_m, text) in COMMANDS.items()]
    return "\n".join(lines)


def dashboard(argv: list[str]) -> int:
    """Serve the dashboard (replaces this process with Streamlit)."""
    from config import ConfigError, load_settings
    from eventdeck.launch import streamlit_command

    ap = argparse.ArgumentParser(prog="eventdeck dashboard", description=dashboard.__doc__)
    ap.add_argument("--config", help="YAML settings file (default: $EVENTDECK_CONFIG or built-in defaults)")
    ap.add_argument("--port", type=int, help="default: dashboard.port")
    ap.add_argument("--address", help="default: dashboard.address")
    args = ap.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.config:
        os.environ["EVENTDECK_CONFIG"] = str(Path(args.config).resolve())
    cmd = streamlit_command(args.port or settings.dashboard.port, args.address or settings.dashboard.address)
    sys.stdout.flush()
    os.execv(cmd[0], cmd)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"eventdeck: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if name == "dashboard":
        return dashboard(rest)
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)
