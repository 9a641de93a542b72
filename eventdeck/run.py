"""What ``make run`` does: the collector service and the dashboard on live data.

With brokers configured (``$EVENTDECK_CONFIG`` or ``./eventdeck.yaml``), it runs the collector
service and the dashboard against them. With none, it runs the demo: local brokers (RabbitMQ plus
noida-db as the Kafka cluster), the shop traffic simulator, the collector service and
the dashboard, all on 127.0.0.1. Ctrl-C stops everything it started (never the machine's RabbitMQ).
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from config import ConfigError, load_settings
from demo import brokers
from eventdeck.launch import streamlit_command

DEMO_DIR = Path(".eventdeck")
LOCAL_CONFIG = Path("eventdeck.yaml")


def demo_settings(state: dict, interval_s: float = 5.0) -> dict:
    """Settings for the demo, pointing at the local brokers in ``state`` (from demo.brokers.up)."""
    kafka = [{"name": f"demo-{kind}", "bootstrap_servers": [b["bootstrap"]], "interval_s": interval_s,
              "status_window_s": 120.0}
             for kind, b in sorted(state["kafka"].items()) if kind == "noida"]
    rabbit = state["rabbitmq"]
    return {
        "store": {"path": str(DEMO_DIR / "demo.db")},
        "kafka": {"clusters": kafka},
        "rabbitmq": {"clusters": [{"name": "demo-rabbit", "management_url": rabbit["mgmt_url"],
                                   "amqp_url": f"amqp://{rabbit['host']}:{rabbit['amqp_port']}/%2F",
                                   "interval_s": interval_s}]},
        "telemetry": {"interval_s": interval_s},
        "alerts": {"evaluation_interval_s": interval_s},
        # the local demo (loopback only, its own brokers) lets its one user replay; the product default is viewer
        "dashboard": {"anonymous_role": "operator"},
    }


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        # Own session: a Ctrl-C in the terminal reaches only us, and we stop the children in order.
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop_all(procs: list[tuple[str, subprocess.Popen]]) -> None:
    for _name, p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for _name, p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def _wait_for_store(store, service: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Wait until the collector service has migrated the store (a store handle), so the dashboard opens on it."""
    from store.db import pending_migrations
    from store.handle import unreachable_errors

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and service.poll() is None:
        try:
            if store.is_postgres or store.exists():
                with store.reading() as conn:
                    if not pending_migrations(conn):
                        return
        except (sqlite3.Error, *unreachable_errors()):  # the service is creating it right now: look again
            pass
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="eventdeck run", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=None, help="dashboard port (default: dashboard.port, 8501)")
    ap.add_argument("--demo", action="store_true", help="run the demo even if brokers are configured")
    args = ap.parse_args(argv)

    env = dict(os.environ)
    config_path = env.get("EVENTDECK_CONFIG") or (str(LOCAL_CONFIG) if LOCAL_CONFIG.exists() else None)
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    procs: list[tuple[str, subprocess.Popen]] = []
    started_kafka = False
    logs = DEMO_DIR / "logs"
    py = sys.executable
    try:
        if args.demo or not settings.has_brokers:
            print("No brokers configured: starting the demo (local RabbitMQ + noida-db + simulator)...")
            started_kafka = True  # before up(): a broker it starts is stopped even if up() fails midway
            state = brokers.up(DEMO_DIR / "brokers.json", kinds=("noida",))
            config_path = str(DEMO_DIR / "demo.yaml")
            Path(config_path).write_text(yaml.safe_dump(demo_settings(state), sort_keys=False))
            settings = load_settings(config_path)
            d = settings.demo
            sim = [py, "-m", "demo.simulator", "--kafka", state["kafka"]["noida"]["bootstrap"],
                   "--rabbitmq", state["rabbitmq"]["amqp_url"], "--rate", str(d.orders_per_s), "--failure", str(d.failure_probability),
                   "--latency-ms", str(d.latency_ms)]
            procs.append(("simulator", _spawn(sim, env, logs / "simulator.log")))
        env["EVENTDECK_CONFIG"] = str(Path(config_path).resolve()) if config_path else ""
        procs.append(("collectors", _spawn([py, "-m", "collectors"], env, logs / "collectors.log")))
        _wait_for_store(settings.store.handle, procs[-1][1])  # the service creates and migrates it
        port = args.port or settings.dashboard.port
        procs.append(("dashboard", _spawn(streamlit_command(port, settings.dashboard.address, py), env,
                                          logs / "dashboard.log")))
        print(f"\nEventdeck dashboard: http://{settings.dashboard.address}:{port}\n"
              f"logs in {logs}/ — Ctrl-C stops everything this command started.")
        stop = {"now": False}
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.update(now=True))
        while not stop["now"]:
            for name, p in procs:
                if p.poll() is not None:
                    print(f"error: {name} exited with code {p.returncode}; see {logs}/{name}.log", file=sys.stderr)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:  # Ctrl-C while the brokers were still starting
        pass
    except brokers.BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...")
        _stop_all(procs)
        if started_kafka:
            brokers.down(DEMO_DIR / "brokers.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
