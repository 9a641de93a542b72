"""``eventdeck collect`` (``python -m collectors``): run the collector service until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from config import ConfigError, load_settings
from runner.prometheus import serve_settings
from eventdeck.service import build_service


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collectors", description=__doc__)
    ap.add_argument("--config", help="YAML settings file (default: $EVENTDECK_CONFIG or built-in defaults)")
    ap.add_argument("--store", help="SQLite store path or postgresql:// URL (default: store.url or store.path from the settings)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every refused connection at ERROR; our status rows already say it.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    logging.getLogger("pika").setLevel(logging.WARNING)  # every connection open/close at INFO is noise
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from brokers.kafka import crc32c_status
    crc_ok, crc_text = crc32c_status()
    if settings.kafka.clusters and not crc_ok:
        logging.getLogger("eventdeck").warning("%s", crc_text)
    if not settings.has_brokers:
        logging.getLogger("eventdeck").warning(
            "no Kafka or RabbitMQ cluster configured: only housekeeping runs (see config/eventdeck.example.yaml)")
    service = build_service(settings, args.store).start()
    exporter = serve_settings(settings, service.store)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    if exporter is not None:
        exporter.close()
    service.stop()
    return 0
