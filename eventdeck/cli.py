"""``eventdeck COMMAND [ARGS]``: each command hands its arguments to the ``main(argv)`` of the module that
does the work, so ``python -m <module>`` and ``eventdeck <command>`` are the same thing. The modules are
imported by ordinary import statements inside the small functions below (not at start-up, so
``eventdeck --help`` stays quick, and not by name, so the import graph sees every command)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable


def _run(argv: list[str]) -> int | None:
    from eventdeck.run import main
    return main(argv)


def _collect(argv: list[str]) -> int | None:
    from eventdeck.collect import main
    return main(argv)


def _dlq(argv: list[str]) -> int | None:
    from dlq.__main__ import main
    return main(argv)


def _group(argv: list[str]) -> int | None:
    from dlq.group_cli import main
    return main(argv)


def _queue(argv: list[str]) -> int | None:
    from dlq.queue_cli import main
    return main(argv)


def _config(argv: list[str]) -> int | None:
    from config.__main__ import main
    return main(argv)


def _brokers(argv: list[str]) -> int | None:
    from demo.brokers import main
    return main(argv)


def _store(argv: list[str]) -> int | None:
    from store.__main__ import main
    return main(argv)


# command -> (function that runs it with its arguments, one-line help)
COMMANDS: dict[str, tuple[Callable[[list[str]], int | None], str]] = {
    "run": (_run, "collector service + dashboard; the demo (local brokers + traffic) when nothing is configured"),
    "collect": (_collect, "the collector service (collect, store, alerts, replay jobs)"),
    "dashboard": (lambda argv: dashboard(argv), "the dashboard (Streamlit) on dashboard.address:dashboard.port"),
    "dlq": (_dlq, "DLQs from a shell: list, show, replay, jobs, search, export"),
    "group": (_group, "a stuck Kafka group: skip (poison record to the DLQ) | reset (offsets)"),
    "queue": (_queue, "a stuck RabbitMQ queue: move-head (the rejected head message to the DLQ)"),
    "config": (_config, "check FILE [--connect [CLUSTER]] (every problem, with its key; the failing connection step) | hash-password"),
    "brokers": (_brokers, "local test brokers: up | up-rabbitmq | status | down"),
    "store": (_store, "migrate [--store PATH|URL]: create or migrate the store (SQLite or PostgreSQL)"),
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
    return int(COMMANDS[name][0](rest) or 0)
