"""``eventdeck group skip|reset`` (also ``python -m dlq.group_cli``): operator actions on a stuck Kafka group.

  eventdeck group skip local orders-svc --topic orders --partition 0 --reason "NPE on null customer" --dry-run
  eventdeck group skip local orders-svc --topic orders --partition 0 --reason "NPE on null customer"
  eventdeck group reset local orders-svc --topic orders --to-datetime 1767225600000 --dry-run
  eventdeck group reset local orders-svc --topic orders --partition 0 --shift-by -10

A shell user who can read the configuration acts as an operator (``--actor`` names them in the audit,
default ``$USER@cli``); a ``read_only`` cluster refuses every change. Exit 0 done, 1 refused or failed.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
import contextlib
from typing import Any

from config import load_settings
from dlq import cli_io
from dlq import skip_plan as sp


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="eventdeck group", description="skip a poison record to the DLQ, reset offsets")
    ap.add_argument("--config", help="settings YAML (default $EVENTDECK_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("skip", "reset"):
        p = sub.add_parser(name)
        p.add_argument("cluster")
        p.add_argument("group")
        p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
        p.add_argument("--json", action="store_true")
        p.add_argument("--actor", help="who acts (default $USER@cli)")
    s = sub.choices["skip"]
    s.add_argument("--topic", required=True)
    s.add_argument("--partition", type=int, required=True)
    s.add_argument("--offset", type=int, help="default: the group's committed offset")
    s.add_argument("--count", type=int, default=1, help="records to skip from the offset (default 1)")
    s.add_argument("--dlq", help="DLQ topic (default: from dlq_map or the DLQ patterns)")
    s.add_argument("--reason", help="why (required unless --dry-run); travels with the copy")
    r = sub.choices["reset"]
    r.add_argument("--topic", help="default: every partition the group has committed")
    r.add_argument("--partition", type=int, action="append", help="only these partitions (repeat)")
    to = r.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true")
    to.add_argument("--to-latest", action="store_true")
    to.add_argument("--to-datetime", type=int, metavar="EPOCH_MS", help="the first record at or after this time")
    to.add_argument("--to-offset", type=int)
    to.add_argument("--shift-by", type=int, metavar="N", help="move by N (negative: back)")
    return ap


def spec_of(a: argparse.Namespace) -> sp.ResetSpec:
    if a.to_earliest:
        return sp.ResetSpec("earliest")
    if a.to_latest:
        return sp.ResetSpec("latest")
    if a.to_datetime is not None:
        return sp.ResetSpec("timestamp", a.to_datetime)
    if a.to_offset is not None:
        return sp.ResetSpec("offset", a.to_offset)
    return sp.ResetSpec("shift", a.shift_by)


def _show(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, default=str))
        return
    for key in ("plan", "spec", "outcome"):
        if key in report:
            print(f"{key}: {report[key]}")
    for row in report.get("rows", []):
        print(f"  {row['topic']}[{row['partition']}]: {row['current']} -> {row['new']}  "
              f"skipped={row['skipped']} reread={row['reread']}" + (f"  ({row['note']})" if row["note"] else ""))
    for c in report.get("copies", []):
        print(f"  offset {c['offset']} -> {c['copy']}" + (" (found from an earlier run)" if c["found"] else ""))


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    return cli_io.exit_code(lambda: _run(a), refused=(sp.Refused,))


def _run(a: argparse.Namespace) -> int:
    from dlq import group_actions

    settings = load_settings(a.config)
    actor = a.actor or f"{getpass.getuser()}@cli"
    # a dry run changes nothing and needs no store; a change is audited, so the store must exist and be migrated
    with contextlib.nullcontext(None) if a.dry_run else cli_io.audited_store(settings) as conn:
        if a.cmd == "skip":
            report = group_actions.skip(settings, conn, a.cluster, a.group, a.topic, a.partition,
                                        offset=a.offset, count=a.count, dlq=a.dlq, reason=a.reason,
                                        actor=actor, role="operator", dry_run=a.dry_run)
        else:
            report = group_actions.reset(settings, conn, a.cluster, a.group, spec_of(a), topic=a.topic,
                                         partitions=a.partition, actor=actor, role="operator",
                                         dry_run=a.dry_run)
    _show(report, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
