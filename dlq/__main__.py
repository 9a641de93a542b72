"""``python -m dlq``: list DLQs, show messages, dry-run and run replays from a shell.

  python -m dlq list
  python -m dlq show kafka local orders.DLT --page 0
  python -m dlq replay --dry-run kafka local orders.DLT --exception-class SerializationException
  python -m dlq replay rabbitmq local orders.dlq --rate 50
  python -m dlq replay --resume 12          # take over a job whose runner died
  python -m dlq jobs                        # recent jobs and their progress
  python -m dlq search|export ...           # search a whole DLQ, export the matches (dlq.search_cli)
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from config import ConfigError, load_settings
from core.clock import now_ms
from dlq import api
from dlq.context import ReplayError
from dlq.plan import RequestError
from store.db import NotMigrated
from store.handle import StoreUnreachable


def _request(a: argparse.Namespace) -> dict[str, Any]:
    sel: dict[str, Any] = {"mode": "all"}
    if a.pick:
        sel = {"mode": "picked", "coords": a.pick}
    elif any(v is not None for v in (a.from_ms, a.to_ms, a.key, a.reason, a.exception_class)):
        sel = {"mode": "filter", "from_ms": a.from_ms, "to_ms": a.to_ms, "key": a.key, "reason": a.reason,
               "exception_class": a.exception_class}
    target: dict[str, Any] | None = None
    if a.target_topic:
        target = {"topic": a.target_topic, "partition": a.target_partition}
    elif a.target_queue:
        target = {"queue": a.target_queue}
    elif a.target_exchange is not None:
        target = {"exchange": a.target_exchange, "routing_key": a.routing_key or ""}
    req = {"broker": a.broker, "cluster": a.cluster, "dlq": a.dlq, "vhost": a.vhost, "selection": sel,
           "target": target, "force": a.force}
    if a.unthrottled or a.rate is not None:
        req["rate_per_s"] = None if a.unthrottled else a.rate
    if a.rabbit_mode:
        req["rabbit_mode"] = a.rabbit_mode
    if a.window is not None:
        req["window"] = a.window
    return req


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m dlq", description="Eventdeck DLQ browse and replay")
    ap.add_argument("--config", help="settings YAML (default $EVENTDECK_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="DLQs known to the store, largest first")
    sub.add_parser("jobs", help="recent replay jobs")
    for name in ("show", "replay"):
        p = sub.add_parser(name)
        p.add_argument("broker", nargs="?", choices=["kafka", "rabbitmq"])
        p.add_argument("cluster", nargs="?")
        p.add_argument("dlq", nargs="?")
        p.add_argument("--vhost", default="/")
        p.add_argument("--from-ms", type=int)
        p.add_argument("--to-ms", type=int)
        p.add_argument("--key")
        p.add_argument("--reason")
        p.add_argument("--exception-class")
        p.add_argument("--rabbit-mode", choices=["queue", "exchange"],
                       help="RabbitMQ target: original queue (default) or original exchange + routing key")
        p.add_argument("--json", action="store_true", help="print JSON lines")
    show = sub.choices["show"]
    show.add_argument("--page", type=int, default=0)
    show.add_argument("--page-size", type=int, default=20)
    show.add_argument("--field", help="decoded-field filter (schema'd Kafka messages): dotted path, e.g. total.currency")
    show.add_argument("--field-op", choices=["equals", "contains"], default="equals")
    show.add_argument("--field-value", default="")
    rp = sub.choices["replay"]
    rp.add_argument("--dry-run", action="store_true")
    rp.add_argument("--pick", nargs="+", metavar="COORD", help="replay only these messages")
    rp.add_argument("--target-topic")
    rp.add_argument("--target-partition", type=int)
    rp.add_argument("--target-queue")
    rp.add_argument("--target-exchange")
    rp.add_argument("--routing-key")
    rp.add_argument("--rate", type=float, help="messages/s (default dlq.default_rate_per_s)")
    rp.add_argument("--unthrottled", action="store_true")
    rp.add_argument("--force", action="store_true", help="replay messages the ledger says were replayed")
    rp.add_argument("--window", type=int, help="RabbitMQ: unconfirmed publishes at most (default "
                    "dlq.default_window); a crash duplicates at most this many; 1 is the strict mode")
    rp.add_argument("--actor", default=None, help="who runs it (default: $USER@cli)")
    rp.add_argument("--resume", type=int, metavar="JOB", help="resume a job whose runner died")
    return ap


def _print(rows: list[dict[str, Any]], as_json: bool, cols: tuple[str, ...]) -> None:
    for r in rows:
        if as_json:
            print(json.dumps(r, default=str))
        else:
            print("  ".join(f"{c}={r.get(c)}" for c in cols))


def main(argv: list[str] | None = None) -> int:
    from dlq import search_cli  # search | export live in their own module

    if search_cli.wants(sys.argv[1:] if argv is None else argv):
        return search_cli.main(argv)
    a = _parser().parse_args(argv)
    try:
        settings = load_settings(a.config)
        store = settings.store.handle  # SQLite or PostgreSQL, as configured
        if a.cmd == "list":
            with store.reading() as conn:
                _print(api.list_dlqs(conn), False, ("broker", "cluster", "dlq", "messages"))
            return 0
        if a.cmd == "jobs":
            with store.reading() as conn:
                _print(api.list_jobs(conn), False,
                       ("id", "state", "broker", "cluster", "dlq", "total", "replayed", "parked", "skipped",
                        "failed", "error"))
            return 0
        if a.cmd == "replay":  # replays write to the store: it must exist and be migrated
            with store.reading() as conn:
                store.require_migrated(conn)
        if a.cmd == "replay" and a.resume is not None:
            return _run(settings, a.resume)
        if not (a.broker and a.cluster and a.dlq):
            print("error: broker, cluster and dlq are required", file=sys.stderr)
            return 2
        if a.cmd == "show":
            rows = api.browse(settings, a.broker, a.cluster, a.dlq, a.page, a.page_size, vhost=a.vhost,
                              from_ms=a.from_ms, to_ms=a.to_ms, key=a.key, reason=a.reason,
                              exception_class=a.exception_class,
                              rabbit_mode=a.rabbit_mode or settings.dlq.default_rabbit_mode,
                              **({"field": a.field, "field_op": a.field_op, "field_value": a.field_value}
                                 if a.field else {}))
            from dlq.schema_view import cli_columns

            _print([cli_columns(r) for r in rows], a.json,
                   ("coord", "key", "timestamp_ms", "size", "reason", "target", "schema", "decoded", "payload"))
            return 0
        req = _request(a)
        from dlq.guards import read_only_refusal

        if not a.dry_run and (refused := read_only_refusal(settings, a.broker, a.cluster, "replay")):
            print(f"refused: {refused}", file=sys.stderr)
            return 1
        if a.dry_run:
            _print(api.dry_run(settings, req), a.json, ("coord", "action", "target", "reason"))
            return 0
        import getpass

        with store.writing() as conn:
            job_id = api.enqueue_replay(conn, req, a.actor or f"{getpass.getuser()}@cli", now_ms())
        print(f"job {job_id} queued", flush=True)
        return _run(settings, job_id)
    except (ConfigError, ReplayError, RequestError, ValueError, FileNotFoundError, NotMigrated, StoreUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(settings, job_id: int) -> int:
    from dlq.jobs import run_pending

    store = settings.store.handle
    if run_pending(settings, store, job_id) is None:
        print(f"error: job {job_id} is not claimable (finished, or its runner is alive)", file=sys.stderr)
        return 1
    with store.reading() as conn:
        job = api.job(conn, job_id) or {}
    print(f"job {job_id} {job.get('state')}: replayed={job.get('replayed')} parked={job.get('parked')} "
          f"skipped={job.get('skipped')} failed={job.get('failed')}" + (f" error: {job['error']}" if job.get("error") else ""))
    return 0 if job.get("state") == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
