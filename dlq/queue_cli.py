"""``eventdeck queue move-head`` (``python -m dlq.queue_cli``): move the head message of a RabbitMQ queue whose
consumers keep rejecting it to the queue's DLQ.

  eventdeck queue move-head local orders --dry-run
  eventdeck queue move-head local orders --reason "bad schema v3"

Without --dry-run it first dry-runs, prints what it found, then moves exactly that message (by its move id).
Audited (``--actor``, default ``$USER@cli``); refused on a ``read_only`` cluster. Exit 0 done, 1 refused/failed.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from config import load_settings
from dlq import cli_io
from dlq import skip_plan as sp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="eventdeck queue", description="RabbitMQ queue actions")
    ap.add_argument("--config", help="settings YAML (default $EVENTDECK_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("move-head", help="move the rejected head message to the queue's DLQ")
    p.add_argument("cluster")
    p.add_argument("queue")
    p.add_argument("--vhost", default="/")
    p.add_argument("--dlq", help="DLQ queue (default: from dlq_map or the DLQ patterns)")
    p.add_argument("--reason", help="why (required unless --dry-run); travels with the copy")
    p.add_argument("--force", action="store_true", help="move the head even if it was never redelivered")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--actor", help="who acts (default $USER@cli)")
    a = ap.parse_args(argv)
    return cli_io.exit_code(lambda: _run(a), refused=(sp.Refused,))


def _run(a: argparse.Namespace) -> int:
    from dlq import rabbit_move

    settings = load_settings(a.config)
    actor = a.actor or f"{getpass.getuser()}@cli"
    kw = dict(vhost=a.vhost, dlq=a.dlq, actor=actor, role="operator", force=a.force)
    dry = rabbit_move.move_head(settings, None, a.cluster, a.queue, dry_run=True, **kw)
    print(json.dumps(dry, default=str) if a.json else f"dry run: {dry['plan']}")
    if a.dry_run:
        return 0
    with cli_io.audited_store(settings) as conn:
        rep = rabbit_move.move_head(settings, conn, a.cluster, a.queue, reason=a.reason,
                                    expect_id=dry["head"]["move_id"], **kw)
    print(json.dumps(rep, default=str) if a.json else f"{rep['outcome']}: {rep['plan']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
