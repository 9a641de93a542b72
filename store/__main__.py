"""``python -m store migrate --store PATH``: create the store if needed and apply pending migrations
(the collector service does the same at start; the dashboard only reads a migrated store)."""
from __future__ import annotations

import argparse
import sys

from store.db import MigrationError, open_migrated


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m store", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mig = sub.add_parser("migrate", help="apply pending migrations")
    mig.add_argument("--store", default=".eventdeck/eventdeck.db", help="SQLite store path")
    args = ap.parse_args(argv)
    try:
        conn = open_migrated(args.store)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    conn.close()
    print(f"store {args.store} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
