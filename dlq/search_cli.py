"""``eventdeck dlq search|export`` (``python -m dlq search|export``): search a whole DLQ, export the matches.

  eventdeck dlq search kafka local orders.DLT --payload order-4711 --exception Timeout
  eventdeck dlq export kafka local orders.DLT --header trace-id=abc --format csv --out matches.csv

Progress goes to stderr; search prints one line per match (``--json``: JSON lines of the export records).
Export is audited (``--actor``, default ``$USER@cli``) and refused where the cluster sets ``dlq_export: false``.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from config import load_settings
from dlq import cli_io
from dlq import search as se
from dlq import search_api

COMMANDS = ("search", "export")


def wants(argv: list[str]) -> bool:
    """Is this ``python -m dlq`` command line one of ours (the first word after ``--config X``)?"""
    words = list(argv)
    while words and words[0].startswith("--config"):
        words = words[1:] if "=" in words[0] else words[2:]
    return bool(words) and words[0] in COMMANDS


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="eventdeck dlq", description="search a whole DLQ, export the matches")
    ap.add_argument("--config", help="settings YAML (default $EVENTDECK_CONFIG)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        p = sub.add_parser(name)
        p.add_argument("broker", choices=["kafka", "rabbitmq"])
        p.add_argument("cluster")
        p.add_argument("dlq")
        p.add_argument("--vhost", default="/")
        for f in se.FIELDS:
            p.add_argument(f"--{f}", help=f"{f} contains this text" + (" (name or name=text)" if f == "header" else ""))
        p.add_argument("--pick", nargs="+", metavar="COORD", help="only these messages")
    sub.choices["search"].add_argument("--json", action="store_true", help="print the export records as JSON lines")
    ex = sub.choices["export"]
    ex.add_argument("--format", choices=search_api.FORMATS, default="jsonl")
    ex.add_argument("--out", help="file to write (default: stdout)")
    ex.add_argument("--actor", help="who exports (default $USER@cli)")
    return ap


def _progress(looked: int, total: int) -> None:
    print(f"\rread {looked:,} of {total:,}", end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    query = {f: getattr(a, f) for f in se.FIELDS}
    return cli_io.exit_code(lambda: _run(a, query), refused=(search_api.ExportRefused,))


def _run(a: argparse.Namespace, query: dict) -> int:
    settings = load_settings(a.config)
    if a.cmd == "search":
        res = search_api.search(settings, a.broker, a.cluster, a.dlq, query, vhost=a.vhost,
                                progress=_progress, coords=a.pick)
        print(file=sys.stderr)
        for m in res["matches"]:
            if a.json:
                print(json.dumps(se.export_record(m), ensure_ascii=False, sort_keys=True))
            else:
                print(f"coord={m.coord} timestamp_ms={m.ts_ms} key={(m.key or b'').decode('utf-8', 'replace')!r} "
                      f"reason={m.decoded.reason!r}")
        print(search_api.describe(res), file=sys.stderr)
        return 0
    with cli_io.audited_store(settings) as conn:
        data, summary = search_api.export(settings, conn, a.broker, a.cluster, a.dlq, query, a.format,
                                          actor=a.actor or f"{getpass.getuser()}@cli", role="operator",
                                          vhost=a.vhost, coords=a.pick, progress=_progress)
    print(file=sys.stderr)
    if a.out:
        Path(a.out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    print(f"exported {summary['exported']:,} of {summary['looked']:,} read ({summary['total']:,} in the DLQ)"
          + (f", stopped at dlq.scan_max_{summary['stopped']}" if summary["stopped"] else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
